"""Decompositions: principal component analysis.

pca   PCA (eigh / svd solvers, whitening, sign rule), the covariance, and the article's literal PCA
"""

from minidl.decomposition.pca import (
    PCA,
    covariance,
    covariance_naive,
    pca_literal,
    pca_objective,
)

__all__ = ["PCA", "covariance", "covariance_naive", "pca_literal", "pca_objective"]
