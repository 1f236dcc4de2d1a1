"""Conformance: grade another implementation (your NumPy code, a course assignment, a port to
another framework) against minidl's golden cases.

- :mod:`~minidl.conformance.cases`: the families (``conv2d``, ``batch_norm_train``, ``pca``,
  ...), the signature each expects from a candidate, and their seeded cases;
- :mod:`~minidl.conformance.check`: ``check(fn, family)`` runs ``fn`` on every stored case and
  returns a :class:`~minidl.conformance.report.Report`: per case and per output (``y``, running
  buffers, each gradient) the error, the tested ratio and pass/fail;
- :mod:`~minidl.conformance.layer`: ``check_layer(make, family, grads=...)`` for class-based
  layers (forward/backward methods, gradients left in attributes);
- :mod:`~minidl.conformance.diagnose`: for each failed output, which convention it most likely
  breaks (flipped kernel, NHWC, unbiased variance, eps, padding ignored, ...);
- :mod:`~minidl.conformance.adapters` and :mod:`~minidl.conformance.wrappers`: PyTorch
  functions, plain NumPy functions, channels-last layouts, integer-only padding;
- :mod:`~minidl.conformance.testing`: ``conformance_test(...)``, one line of a pytest file per
  function, one test per case;
- :mod:`~minidl.conformance.generate`: ``python -m minidl.conformance.generate`` rewrites the
  golden ``.npz`` files in ``golden/`` from minidl (:mod:`~minidl.conformance.reference`).

The command line is ``python -m minidl.check MODULE:FUNCTION --case FAMILY``.
"""

from minidl.conformance.cases import FAMILIES
from minidl.conformance.check import check
from minidl.conformance.layer import check_layer, from_update

__all__ = ["FAMILIES", "check", "check_layer", "from_update"]
