"""Conformance: grade another implementation (your NumPy code, a course assignment, a port to
another framework) against minidl's golden cases.

- :mod:`~minidl.conformance.cases`: the families (``conv2d``, ``batch_norm_train``, ``pca``,
  ...), the signature each expects from a candidate, and their seeded cases;
- :mod:`~minidl.conformance.check`: ``check(fn, family)`` runs ``fn`` on every stored case and
  returns a report whose table gives the errors, the tolerance and pass/fail per case;
- :mod:`~minidl.conformance.diagnose`: for a failure, which convention it most likely breaks
  (flipped kernel, NHWC, unbiased variance, off-by-one padding, 0-based dilation, ...);
- :mod:`~minidl.conformance.adapters`: PyTorch functions, plain NumPy functions, channels-last
  layouts, integer-only padding;
- :mod:`~minidl.conformance.generate`: ``python -m minidl.conformance.generate`` rewrites the
  golden ``.npz`` files in ``golden/`` from minidl (:mod:`~minidl.conformance.reference`).

The command line is ``python -m minidl.check MODULE:FUNCTION --case FAMILY``.
"""

from minidl.conformance.cases import FAMILIES
from minidl.conformance.check import check

__all__ = ["FAMILIES", "check"]
