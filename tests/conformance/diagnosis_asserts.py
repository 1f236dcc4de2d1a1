"""The assertion the wrong-implementation tests share (a helper module, not a test file: pytest
puts this folder on sys.path, so the test files import it by name)."""


def assert_diagnosed(report, phrase, cases=None):
    """Every case in ``cases`` (default: all) fails, and its diagnosis contains ``phrase``;
    every other case passes."""
    for row in report.rows:
        if cases is None or row.case in cases:
            assert not row.passed, (row.case, report.table())
            assert phrase in row.diagnosis, (row.case, row.diagnosis)
        else:
            assert row.passed, (row.case, row.diagnosis)
