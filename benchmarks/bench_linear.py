"""Time minidl's linear models against scikit-learn in the same run; print the ratios.

    python benchmarks/bench_linear.py

Best of ``REPEATS`` wall-clock runs each, minidl and scikit-learn alternating (the machines are
shared: expect noise of 10-30 %). Targets (issue 5): Ridge fit on 5000 x 500 <= 1.0x
scikit-learn; Lasso CD on 5000 x 500 with ~10 % nonzeros and a 100-alpha lasso_path on diabetes
<= 2x.

When the machine is oversubscribed (load average above the core count), multi-threaded OpenBLAS
level-3 calls stall (measured here at load 13 on 2 cores: a 5000 x 100 Gram product took 500 ms
instead of 2 ms). minidl's solvers use such products and scikit-learn's Cython lasso does not,
so the Lasso ratio then measures the contention, not the code. Run with
``OPENBLAS_NUM_THREADS=1`` for a comparison that does not depend on the other processes.
"""

import os
import warnings

import numpy as np
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes
from timing import interleaved

from minidl.linear_model import Lasso, Ridge, lasso_path

REPEATS = 7


def report(name, times):
    t_minidl, t_sklearn = times
    print(
        f"{name:<44s} minidl {t_minidl * 1e3:8.2f} ms   sklearn {t_sklearn * 1e3:8.2f} ms   "
        f"ratio {t_minidl / t_sklearn:5.2f}x"
    )


def main():
    load = os.getloadavg()[0]
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"load average {load:.1f} on {os.cpu_count()} cores, OPENBLAS_NUM_THREADS={threads}")
    rng = np.random.default_rng(0)
    n, p = 5000, 500
    X = rng.normal(size=(n, p))
    w_true = np.zeros(p)
    w_true[:50] = 3.0 * rng.normal(size=50)
    y = X @ w_true + rng.normal(size=n)

    report(
        "Ridge(alpha=1) fit 5000x500",
        interleaved(
            [lambda: Ridge(alpha=1.0).fit(X, y), lambda: sk.Ridge(alpha=1.0).fit(X, y)], REPEATS
        ),
    )

    alpha = 0.1
    ours, theirs = Lasso(alpha=alpha).fit(X, y), sk.Lasso(alpha=alpha).fit(X, y)
    print(
        f"  lasso nonzeros: minidl {np.count_nonzero(ours.coef_)}, sklearn "
        f"{np.count_nonzero(theirs.coef_)} of {p}; max |coef diff| "
        f"{np.max(np.abs(ours.coef_ - theirs.coef_)):.2e}"
    )
    report(
        "Lasso(alpha=0.1) CD fit 5000x500",
        interleaved(
            [lambda: Lasso(alpha=alpha).fit(X, y), lambda: sk.Lasso(alpha=alpha).fit(X, y)], REPEATS
        ),
    )

    Xd, yd = load_diabetes(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's n_alphas/alphas deprecation notices
        report(
            "lasso_path diabetes, 100 alphas",
            interleaved(
                [
                    lambda: lasso_path(Xd, yd, n_alphas=100),
                    lambda: sk.lasso_path(Xd, yd, alphas=100),
                ],
                REPEATS,
            ),
        )


if __name__ == "__main__":
    main()
