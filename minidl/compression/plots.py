"""Plots for compression: per-layer pruning sensitivity and the pipeline table.

Each function returns the matplotlib Figure (written to ``path`` and closed when given), as
:mod:`minidl.plot` does.
"""

from minidl.plot import _finish, plt


def plot_sensitivity(scan, path=None, title="pruning sensitivity (one layer at a time)"):
    """Accuracy against sparsity, one curve per layer, from
    :func:`minidl.compression.pruning.sensitivity_scan`."""
    if not isinstance(scan, dict) or "sparsities" not in scan or "accuracy" not in scan:
        raise ValueError("scan must be the dict returned by sensitivity_scan")
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    s = [100 * v for v in scan["sparsities"]]
    for key, accs in scan["accuracy"].items():
        ax.plot(s, [100 * a for a in accs], "o-", label=key)
    ax.set_xlabel("sparsity of the layer (%)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _finish(fig, path)


def plot_pipeline(rows, path=None, title="compression pipeline"):
    """Accuracy and size (KB) after each step of a pipeline table."""
    if not rows or any("accuracy" not in r or "bytes" not in r for r in rows):
        raise ValueError("rows must be a non-empty list of dicts with 'accuracy' and 'bytes'")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = list(range(len(rows)))
    ax.bar(x, [r["bytes"] / 1024 for r in rows], color="tab:gray", alpha=0.6)
    ax.set_ylabel("size (KB)")
    ax.set_xticks(x, [r["step"] for r in rows], rotation=20, ha="right", fontsize=8)
    ax2 = ax.twinx()
    ax2.plot(x, [100 * r["accuracy"] for r in rows], "o-", color="tab:blue")
    ax2.set_ylabel("accuracy (%)", color="tab:blue")
    ax.set_title(title)
    return _finish(fig, path)
