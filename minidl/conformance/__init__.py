"""Conformance: golden cases other implementations are checked against (see check.py)."""
