"""Published figures reproduced on their own data.

Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*, 2nd ed. (2009), §3.2.1:
the least-squares fit to the prostate cancer data (Stamey et al. 1989), Table 3.2 (coefficient
and Z score per term) and Table 3.3's "LS" column (coefficients to three decimals, test error
0.521 with standard error 0.179 on the 30 test cases). Only the LS column is exactly
reproducible: the other columns of Table 3.3 picked their penalty by 10-fold CV with the
one-standard-error rule on random folds.
"""

import numpy as np
import pytest

from minidl.datasets import PROSTATE_FEATURES, load_prostate
from minidl.linear_model.linear import LinearRegression

# ESL Table 3.3, column "LS": intercept then the eight features, printed to three decimals.
TABLE_3_3_LS = [2.465, 0.680, 0.263, -0.141, 0.210, 0.305, -0.288, -0.021, 0.267]
# ESL Table 3.2, column "Z Score", printed to two decimals.
TABLE_3_2_Z = [27.60, 5.37, 2.75, -1.40, 2.06, 2.47, -1.87, -0.15, 1.74]
TABLE_3_3_TEST_ERROR, TABLE_3_3_STD_ERROR = 0.521, 0.179


@pytest.fixture(scope="module")
def prostate_fit():
    X, y, train = load_prostate()
    model = LinearRegression().fit(X[train], y[train])
    return X, y, train, model


def test_data_shape_and_split():
    X, y, train = load_prostate()
    assert X.shape == (97, len(PROSTATE_FEATURES)) and y.shape == (97,)
    assert train.sum() == 67  # ESL p. 49: 67 training and 30 test cases


def test_esl_table_3_3_least_squares_coefficients(prostate_fit):
    *_, model = prostate_fit
    coef = np.concatenate([[model.intercept_], model.coef_])
    # Printed to three decimals: agreement within half a unit in the last place.
    assert np.max(np.abs(coef - TABLE_3_3_LS)) <= 0.0005 + 1e-12


def test_esl_table_3_2_z_scores(prostate_fit):
    X, y, train, model = prostate_fit
    # z_j = beta_j / (sigma_hat sqrt(v_j)), v_j the j-th diagonal of (X1^T X1)^-1 with X1 the
    # design with a ones column, sigma_hat^2 = RSS / (N - p - 1)  (ESL eqs. 3.8 and 3.12).
    X1 = np.column_stack([np.ones(train.sum()), X[train]])
    resid = y[train] - model.predict(X[train])
    sigma2 = resid @ resid / (train.sum() - X.shape[1] - 1)
    v = np.diag(np.linalg.inv(X1.T @ X1))
    z = np.concatenate([[model.intercept_], model.coef_]) / np.sqrt(sigma2 * v)
    assert np.max(np.abs(z - TABLE_3_2_Z)) <= 0.005 + 1e-12


def test_esl_table_3_3_test_error(prostate_fit):
    X, y, train, model = prostate_fit
    sq = (y[~train] - model.predict(X[~train])) ** 2
    assert abs(sq.mean() - TABLE_3_3_TEST_ERROR) <= 0.0005
    assert abs(sq.std(ddof=1) / np.sqrt(sq.size) - TABLE_3_3_STD_ERROR) <= 0.0005


def test_corrupt_prostate_file_is_named(tmp_path):
    (tmp_path / "prostate.data").write_text("not the table\n")
    with pytest.raises(ValueError, match="prostate.data"):
        load_prostate(data_dir=tmp_path)
