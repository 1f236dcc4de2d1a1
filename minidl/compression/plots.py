"""Plots for compression: per-layer pruning sensitivity and the pipeline table.

Each function returns the matplotlib Figure (written to ``path`` and closed when given), as
:mod:`minidl.nn.plot` does.
"""

from minidl.nn.plot import _finish, plt


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
    """Size (KB) and accuracy (%) after each step of a pipeline table, side by side.

    Two panels on their own axes, each starting at 0 and labelled with its values: a twin axis
    scaled to the accuracy's own range would magnify a change of a tenth of a point into a
    drop that fills the plot.
    """
    if not rows or any("accuracy" not in r or "bytes" not in r for r in rows):
        raise ValueError("rows must be a non-empty list of dicts with 'accuracy' and 'bytes'")
    fig, (ax_size, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.6), sharex=True)
    x = list(range(len(rows)))
    sizes = [r["bytes"] / 1024 for r in rows]
    accs = [100 * r["accuracy"] for r in rows]
    ax_size.bar(x, sizes, color="tab:gray")
    ax_size.bar_label(ax_size.containers[0], fmt="%.1f", fontsize=8)
    ax_size.set_ylabel("size of the weights (KB)")
    ax_size.set_ylim(0, 1.15 * max(sizes))
    ax_acc.bar(x, accs, color="tab:blue")
    ax_acc.bar_label(ax_acc.containers[0], fmt="%.2f", fontsize=8)
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_ylim(0, 110)
    for ax in (ax_size, ax_acc):
        ax.set_xticks(x, [r["step"] for r in rows], rotation=20, ha="right", fontsize=8)
        ax.set_xlabel("pipeline step")
    fig.suptitle(title)
    return _finish(fig, path)
