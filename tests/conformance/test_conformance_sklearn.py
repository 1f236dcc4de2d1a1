"""scikit-learn's estimators pass the classical families as they are: an independent check
that the golden ridge/lasso/PCA results (and their objective scaling) are scikit-learn's."""

import pytest

from minidl.conformance.check import check

sklearn = pytest.importorskip("sklearn")
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.linear_model import Lasso, Ridge  # noqa: E402


@pytest.mark.parametrize(("name", "cls"), [("ridge", Ridge), ("lasso", Lasso), ("pca", PCA)])
def test_sklearn_estimators_pass(name, cls):
    report = check(cls, name)
    assert report.passed, report.table()
    # far inside the tolerance: the same minimizer, not just a close one
    assert max(r.max_abs for r in report.rows) < 1e-10
