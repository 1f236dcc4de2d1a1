r"""Principal component analysis, as in source article 001 (section "PCA"), with scikit-learn's API.

Article 001 states PCA as trace maximization over orthonormal projections ((2.3) in
chapter 02, ``chapters/02_complexity_gradient_descent_regularization.ipynb``; (2.12) below is the
same chapter's):

.. math:: \max_{W \in \mathbb{R}^{p \times k}} \operatorname{tr}(W^\top C W)
          \quad \text{s.t.} \quad W^\top W = I_k,
          \qquad C = \frac{1}{n - 1} X_c^\top X_c                                    (2.3)

where :math:`X_c` is the centred data. The maximum is :math:`\lambda_1 + \dots + \lambda_k`,
the sum of the ``k`` largest eigenvalues of ``C`` (Ky Fan's theorem, (2.12) in chapter 02),
reached by its leading eigenvectors.
``PCA`` finds them two ways: ``solver='eigh'`` diagonalizes ``C`` with the symmetric solver, and
``solver='svd'`` takes the thin SVD :math:`X_c = U S V^\top`, whose right singular vectors are
the same eigenvectors with :math:`\lambda_j = s_j^2 / (n - 1)`.

``pca_literal`` keeps the article's own code (``np.linalg.eig`` on the covariance) and says
what is wrong with it.
"""

import numbers

import numpy as np

from minidl._validation import check_float_array
from minidl.linear_model.base import Estimator, as_float64, shortcut_is_safe

__all__ = ["PCA", "covariance", "covariance_naive", "pca_objective", "pca_literal"]


_BLOCK_BYTES = 16 << 20  # centring buffer for the covariance (see _centred_gram)


def _centred_gram(X, mean):
    r""":math:`X_c^\top X_c` with :math:`X_c = X - \bar x`, accumulated over row blocks.

    First the shortcut :math:`X^\top X - n\bar x\bar x^\top` (one ``syrk``, no copy, as
    scikit-learn's covariance solver), kept only when no column's mean is large against its
    spread (``_linear_base.shortcut_is_safe``: at most 4 of 16 digits lost; the linear models
    use the same rule). Otherwise each block (equal blocks of at most 16 MB) is centred into
    one reused buffer and added with one ``xc.T @ xc``: no full copy of ``X`` and no
    cancellation (a test shows the shortcut would lose ~8 digits at mean 1e4, std 1).
    """
    n, p = X.shape
    G = np.dot(X.T, X)
    if shortcut_is_safe(np.diag(G), mean, n):
        G -= n * np.outer(mean, mean)
        return G
    n_blocks = -(-n * p * X.itemsize // _BLOCK_BYTES)  # ceiling division
    rows = -(-n // n_blocks)
    buf = np.empty((rows, p), dtype=X.dtype)
    G[...] = 0.0
    for start in range(0, n, rows):
        block = X[start : start + rows]
        xc = np.subtract(block, mean, out=buf[: block.shape[0]])
        G += xc.T @ xc
    return G


def covariance(X):
    r"""Sample covariance :math:`C = X_c^\top X_c / (n - 1)`, :math:`X_c = X - \bar x`.

    Computed by ``_centred_gram`` (blocked GEMMs); ``covariance_naive`` is the same sum
    written as loops, and tests hold the two equal.
    """
    X = as_float64(X, "X", 2)
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"X must have at least 2 samples for a covariance, got {n}")
    return _centred_gram(X, X.mean(axis=0)) / (n - 1)


def covariance_naive(X):
    r"""The loop twin of ``covariance``: :math:`C_{ab} = \frac{1}{n-1}\sum_i (x_{ia}-\bar x_a)
    (x_{ib}-\bar x_b)`."""
    X = as_float64(X, "X", 2)
    n, p = X.shape
    if n < 2:
        raise ValueError(f"X must have at least 2 samples for a covariance, got {n}")
    mean = [sum(X[i, a] for i in range(n)) / n for a in range(p)]
    C = np.zeros((p, p), dtype=X.dtype)
    for a in range(p):
        for b in range(p):
            C[a, b] = sum((X[i, a] - mean[a]) * (X[i, b] - mean[b]) for i in range(n)) / (n - 1)
    return C


def pca_objective(W, C):
    r"""The objective (2.3) :math:`\operatorname{tr}(W^\top C W)` for a (p, k) ``W``; max (2.12)."""
    W = check_float_array(W, "W", ndim=2)
    C = check_float_array(C, "C", ndim=2)
    if C.shape[0] != C.shape[1] or C.shape[0] != W.shape[0]:
        raise ValueError(f"C must be square ({W.shape[0]}, {W.shape[0]}) to match W, got {C.shape}")
    return float(np.trace(W.T @ C @ W))


def _eigh_solver(X, mean, r):
    """``(evals, Vt, total_var)`` from ``eigh`` of C = Xc^T Xc / (n-1), largest first."""
    C = _centred_gram(X, mean)
    C /= X.shape[0] - 1
    evals, evecs = np.linalg.eigh(C)  # ascending: reversed below
    # Rounding can make a zero eigenvalue slightly negative; variance is >= 0.
    return np.maximum(evals[::-1][:r], 0.0), evecs[:, ::-1][:, :r].T, float(np.trace(C))


def _svd_solver(X, mean, n, p):
    """``(evals, Vt, total_var)`` from the SVD of the centred data: full relative accuracy."""
    Xc = X - mean
    if n >= p:
        # Tall data: Xc = QR and R = U' S V^T share S and V (R-SVD, Chan 1982); QR
        # without forming Q plus a p x p SVD costs ~60% of the thin SVD of Xc.
        S, Vt = np.linalg.svd(np.linalg.qr(Xc, mode="r"))[1:]
    else:
        S, Vt = np.linalg.svd(Xc, full_matrices=False)[1:]
    evals = S**2 / (n - 1)
    return evals, Vt, float(np.sum(evals))


def _kept(k, evals, total_var, r):
    """The number of components kept: ``k``, or for a float the fewest whose cumulative
    explained-variance ratio exceeds it (scikit-learn's side='right' rule)."""
    if not isinstance(k, float) or not total_var > 0:
        return k
    return min(int(np.searchsorted(np.cumsum(evals / total_var), k, side="right")) + 1, r)


def _whitening_is_exact(evals, k):
    r"""True when ``eigh``'s kept eigenvalues are accurate enough to whiten by.

    ``eigh`` is accurate to about :math:`\varepsilon\lambda_1` in absolute terms, so an
    eigenvalue :math:`\lambda_j` carries a relative error up to :math:`\varepsilon\lambda_1 /
    \lambda_j`: below :math:`\sqrt{\varepsilon}\lambda_1` more than half its digits are gone
    (at :math:`\lambda_5 = 10^{-16}\lambda_1` it is noise, and the whitened component's
    standard deviation came out 0.86-1.21). A kept eigenvalue of 0 is no exception: it is
    eigh's rounding noise clipped at 0 as often as a true zero (a variance of 1e-16
    :math:`\lambda_1` came out slightly negative under OpenBLAS's Sandybridge kernels and was
    then refused as "zero variance"), so the SVD decides, exactly, and the zero-variance check
    after it refuses only a true zero.
    """
    kept = evals[:k]
    return bool(kept[-1] >= np.sqrt(np.finfo(np.float64).eps) * kept[0])


def _flip_signs(V):
    """Make each row's largest-absolute entry positive (DESIGN.md's sign rule)."""
    idx = np.argmax(np.abs(V), axis=1)
    signs = np.sign(V[np.arange(V.shape[0]), idx])
    signs[signs == 0] = 1.0
    return V * signs[:, None]


class PCA(Estimator):
    r"""Principal component analysis (article 001, (2.3)/(2.12)), scikit-learn's estimator API.

    Parameters
    ----------
    n_components : int, float in (0, 1), or None
        Components to keep. ``None`` keeps ``min(n_samples, n_features)``; a float keeps the
        fewest components whose explained-variance ratios add up to more than it (as sklearn).
    solver : {'auto', 'eigh', 'svd'}
        ``'eigh'``: eigendecomposition of the covariance with the symmetric solver, eigenvalues
        sorted descending. ``'svd'``: thin SVD of the centred data, which keeps full relative
        accuracy on small variances. ``'auto'`` uses ``'eigh'`` when ``n_samples >= n_features``
        (one GEMM and a p x p eigenproblem: fast) and ``'svd'`` otherwise.
    whiten : bool
        Divide the projections by :math:`\sqrt{\lambda_j}` so each has unit sample variance
        (ddof = 1); ``inverse_transform`` multiplies it back.

    Attributes
    ----------
    components_ : (k, p) rows are the principal axes; each row's largest |loading| is positive.
    explained_variance_ : (k,) :math:`\lambda_j`, eigenvalues of the ddof = 1 covariance.
    explained_variance_ratio_ : (k,) :math:`\lambda_j / \operatorname{tr} C`.
    singular_values_ : (k,) :math:`s_j = \sqrt{(n - 1)\lambda_j}`.
    mean_, n_components_, n_features_in_, n_samples_
    noise_variance_ : mean of the discarded :math:`\lambda_j`, ``j < min(n, p)`` (probabilistic
        PCA's ML estimate, as sklearn's full solver); 0 when nothing is discarded.

    Notes
    -----
    Constant columns are allowed: they have zero variance, so every component with nonzero
    variance has a zero loading on them. Data whose columns are all constant raise
    ``ValueError`` (the ratio :math:`\lambda_j / \operatorname{tr} C` is 0/0). With
    ``whiten=True`` a kept component of numerically zero variance (singular value below
    ``s_1 \max(n, p)\,\varepsilon``, NumPy's ``matrix_rank`` rule) raises ``ValueError``
    instead of dividing by zero; and since ``eigh`` of the covariance loses the small
    variances' digits (relative error :math:`\varepsilon\lambda_1/\lambda_j`), whitening with
    a kept variance below :math:`\sqrt{\varepsilon}\lambda_1` falls back from ``'auto'``'s
    ``eigh`` to the SVD (exact there) and, with ``solver='eigh'`` asked for, raises.
    """

    def __init__(self, n_components=None, solver="auto", whiten=False):
        self.n_components = n_components
        self.solver = solver
        self.whiten = whiten

    def _check_params(self, n, p):
        if self.solver not in ("auto", "eigh", "svd"):
            raise ValueError(f"solver must be 'auto', 'eigh' or 'svd', got {self.solver!r}")
        if not isinstance(self.whiten, (bool, np.bool_)):
            raise TypeError(f"whiten must be a bool, got {self.whiten!r}")
        k = self.n_components
        if k is None:
            return min(n, p)
        if isinstance(k, bool) or not isinstance(k, numbers.Real):
            raise TypeError(f"n_components must be None, an int or a float in (0, 1), got {k!r}")
        if isinstance(k, numbers.Integral):
            if not 1 <= k <= min(n, p):
                raise ValueError(
                    f"n_components must be between 1 and min(n_samples, n_features)="
                    f"{min(n, p)}, got {k}"
                )
            return int(k)
        if not 0 < k < 1:
            raise ValueError(f"n_components as a float must be in (0, 1), got {k}")
        return float(k)

    def fit(self, X, y=None):
        """Fit on ``X`` (n_samples, n_features); ``y`` is ignored. Returns ``self``."""
        X = as_float64(X, "X", 2)
        n, p = X.shape
        if n < 2:
            raise ValueError(f"X must have at least 2 samples (n_samples >= 2), got {n}")
        k = self._check_params(n, p)
        solver = self.solver
        if solver == "auto":
            solver = "eigh" if n >= p else "svd"
        r = min(n, p)

        mean = X.mean(axis=0)
        if solver == "eigh":
            evals, Vt, total_var = _eigh_solver(X, mean, r)
            if self.whiten and not _whitening_is_exact(evals, _kept(k, evals, total_var, r)):
                if self.solver == "eigh":
                    raise ValueError(
                        "whiten=True with solver='eigh': the kept variances span more than "
                        f"1/sqrt(eps) = {1 / np.sqrt(np.finfo(X.dtype).eps):.1e}, below which "
                        "the covariance's eigenvalues lose over half their digits (whitening "
                        "by them gives components of standard deviation far from 1); use "
                        "solver='svd' (exact there) or fewer components"
                    )
                solver = "svd"  # 'auto': the SVD of the centred data is exact there
        if solver == "svd":
            evals, Vt, total_var = _svd_solver(X, mean, n, p)
        if not total_var > 0:
            raise ValueError("X has zero variance (every column is constant); PCA is undefined")

        Vt = _flip_signs(Vt)
        singular = np.sqrt(evals * (n - 1))
        ratio = evals / total_var
        k = _kept(k, evals, total_var, r)

        if self.whiten:
            tiny = singular[0] * max(n, p) * np.finfo(X.dtype).eps
            if np.any(singular[:k] <= tiny):
                raise ValueError(
                    f"whiten=True but n_components={k} keeps a component of zero variance "
                    f"(numerical rank {int(np.sum(singular > tiny))}); use fewer components"
                )

        self.mean_ = mean
        self.components_ = np.ascontiguousarray(Vt[:k])
        self.explained_variance_ = evals[:k].copy()
        self.explained_variance_ratio_ = ratio[:k].copy()
        self.singular_values_ = singular[:k].copy()
        self.noise_variance_ = float(np.mean(evals[k:r])) if k < r else 0.0
        self.n_components_ = k
        self.n_features_in_ = p
        self.n_samples_ = n
        return self

    def transform(self, X):
        r"""Project: :math:`Z = (X - \bar x) W`, divided by :math:`\sqrt{\lambda_j}` if whitened."""
        X = self._check_X(X, "transform")
        Z = (X - self.mean_) @ self.components_.T
        if self.whiten:
            Z /= np.sqrt(self.explained_variance_)
        return Z

    def fit_transform(self, X, y=None):
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z):
        r"""Back to feature space: :math:`\hat X = Z W^\top + \bar x` (times
        :math:`\sqrt{\lambda_j}` first if whitened). Exact when no component was dropped."""
        self._check_fitted("inverse_transform")
        Z = as_float64(Z, "Z", 2)
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"Z has {Z.shape[1]} columns, but this PCA has n_components_={self.n_components_}"
            )
        if self.whiten:
            Z = Z * np.sqrt(self.explained_variance_)
        return Z @ self.components_ + self.mean_


def pca_literal(X, n_components=2):
    r"""Article 001's ``pca`` exactly as printed (kept to show what goes wrong).

    ::

        cov_matrix = np.cov(X_centered.T)
        eigenvalues, eigenvectors = np.linalg.eig(cov_matrix)
        idx = np.argsort(eigenvalues)[::-1][:n_components]
        return X_centered.dot(eigenvectors[:, idx])

    What is wrong: ``np.linalg.eig`` is the *general* (non-symmetric) eigensolver. It does not
    know that ``C`` is symmetric, so (1) when eigenvalues are (nearly) repeated, e.g. the
    zero eigenvalues of a covariance with fewer samples than features, rounding turns them into
    complex-conjugate pairs and the whole result comes back with a **complex dtype**; (2) the
    eigenvalues come back **unsorted** (the article has to ``argsort`` them, and ``argsort`` of
    complex numbers orders by real part then imaginary part); (3) eigenvectors of a repeated
    eigenvalue are only unit-norm, **not orthogonal**, so :math:`W^\top W \ne I` and the
    projection breaks the article's own constraint; (4) signs are arbitrary. It also returns
    only the projections, no explained variance. ``np.linalg.eigh`` (``PCA(solver='eigh')``)
    fixes (1)-(3) and ``PCA``'s sign rule fixes (4).
    """
    X_mean = X.mean(axis=0)
    X_centered = X - X_mean
    cov_matrix = np.cov(X_centered.T)
    eigenvalues, eigenvectors = np.linalg.eig(cov_matrix)
    idx = np.argsort(eigenvalues)[::-1][:n_components]
    return X_centered.dot(eigenvectors[:, idx])
