"""The classical linear models, scikit-learn's estimator API and scaling of each objective.

linear               LinearRegression, Ridge (cholesky, svd, gd), ridge_path, effective_df
lasso                Lasso, ElasticNet, AdaptiveLasso, and the article's literal lasso
lasso_problem        the prepared problem each Lasso solver gets (naive, Gram, working set)
lasso_solvers        coordinate descent (loops and Gram) and proximal gradient (ISTA/FISTA)
lasso_working_set    coordinate descent on a working set of features (p > 64)
proximal             soft thresholding, proximal gradient and the duality gap, shared by all solvers
regularization_path  alpha_grid, lasso_path, enet_path
model_selection      KFold, cross_val_score, RidgeCV, LassoCV, information criteria (AIC/BIC)
compressed_sensing   sparse recovery: Gaussian measurements, OMP, ISTA, the phase transition
base                 the estimator base and the checks every classical model shares
"""

from minidl.linear_model.base import (
    Estimator,
    LinearModel,
    mean_squared_error,
    r2_score,
)
from minidl.linear_model.compressed_sensing import (
    gaussian_measurement_matrix,
    ista,
    omp,
    phase_transition,
    recovery_success,
    sparse_signal,
)
from minidl.linear_model.lasso import (
    AdaptiveLasso,
    ElasticNet,
    Lasso,
)
from minidl.linear_model.linear import (
    LinearRegression,
    Ridge,
    effective_df,
    ridge_path,
)
from minidl.linear_model.model_selection import (
    KFold,
    LassoCV,
    LassoIC,
    RidgeCV,
    cross_val_score,
    information_criterion,
)
from minidl.linear_model.proximal import (
    duality_gap,
    proximal_gradient,
    soft_threshold,
)
from minidl.linear_model.regularization_path import (
    alpha_grid,
    enet_path,
    lasso_path,
)

__all__ = [
    "AdaptiveLasso",
    "ElasticNet",
    "Estimator",
    "KFold",
    "Lasso",
    "LassoCV",
    "LassoIC",
    "LinearModel",
    "LinearRegression",
    "Ridge",
    "RidgeCV",
    "alpha_grid",
    "cross_val_score",
    "duality_gap",
    "effective_df",
    "enet_path",
    "gaussian_measurement_matrix",
    "information_criterion",
    "ista",
    "lasso_path",
    "mean_squared_error",
    "omp",
    "phase_transition",
    "proximal_gradient",
    "r2_score",
    "recovery_success",
    "ridge_path",
    "soft_threshold",
    "sparse_signal",
]
