"""Warnings and errors of minidl's classical estimators.

``ConvergenceWarning`` is a ``UserWarning`` (as scikit-learn's), so it can be filtered on its own
class without silencing NumPy's ``RuntimeWarning``. ``NotFittedError`` subclasses both
``ValueError`` and ``AttributeError``, as scikit-learn's does, so either ``except`` catches it.
"""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at ``max_iter`` before its stopping rule held.

    The message gives the quantity the rule watches (the duality gap for coordinate descent,
    the gradient norm for gradient descent) and the tolerance it had to reach.
    """


class NotFittedError(ValueError, AttributeError):
    """``predict``/``score``/``transform`` was called on an estimator before ``fit``."""
