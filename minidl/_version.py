"""minidl's version: written into every saved model file (``minidl_version``)."""

__version__ = "0.1.0"
