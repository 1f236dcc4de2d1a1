"""Figures of Deep Compression's §3-§4 and the ratio-accuracy trade-off.

- :func:`plot_weight_distribution`: a layer's weights before and after pruning and sharing
  (the paper's Figure 5 histogram, with the centroids marked);
- :func:`plot_centroid_init`: the three initializations on the weights' PDF and CDF (Figure 4);
- :func:`plot_code_lengths`: symbol frequencies and Huffman code lengths (Figure 6);
- :func:`plot_pareto`: compression ratio against accuracy, one point per technique, with the
  Pareto front (:func:`pareto_front`) drawn.

Each returns the matplotlib Figure (written to ``path`` and closed when given).
"""

import numpy as np

from minidl.compression.huffman import HuffmanCode
from minidl.compression.weight_sharing import init_centroids
from minidl.nn.plot import _finish, plt


def plot_weight_distribution(before, after, codebook=None, path=None, title="weights"):
    """Histograms of ``before`` (e.g. the trained layer) and the nonzeros of ``after`` (pruned
    and shared); the ``codebook`` centroids as vertical lines."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharex=True)
    before, after = np.ravel(before), np.ravel(after)
    axes[0].hist(before, bins=100, color="tab:gray")
    axes[0].set_title(f"{title}: trained ({before.size:,})")
    axes[1].hist(after[after != 0], bins=100, color="tab:blue")
    nz = np.count_nonzero(after)
    axes[1].set_title(f"pruned + shared ({nz:,} nonzero)")
    if codebook is not None:
        for c in np.ravel(codebook)[1:]:
            axes[1].axvline(c, color="tab:red", lw=0.6, alpha=0.7)
    for ax in axes:
        ax.set_xlabel("weight value")
    axes[0].set_ylabel("count")
    return _finish(fig, path)


def plot_centroid_init(values, n_clusters, path=None, rng=0):
    """The weights' density and CDF with the linear, density-based and random initial
    centroids (Han et al.'s Figure 4)."""
    values = np.sort(np.ravel(values)[np.ravel(values) != 0])
    fig, (ax_pdf, ax_cdf) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax_pdf.hist(values, bins=100, density=True, color="tab:gray", alpha=0.6)
    ax_cdf.plot(values, np.arange(1, values.size + 1) / values.size, color="tab:gray")
    for y, (method, color) in enumerate(
        (("linear", "tab:red"), ("density", "tab:green"), ("random", "tab:blue"))
    ):
        c = init_centroids(values, n_clusters, method, rng)
        ax_pdf.plot(c, np.full(c.shape, -0.3 - 0.5 * y), "|", color=color, ms=10, label=method)
        ax_cdf.plot(c, np.searchsorted(values, c) / values.size, "o", color=color, ms=3)
    ax_pdf.set_title("density and initial centroids")
    ax_cdf.set_title("CDF")
    ax_pdf.legend(fontsize=8)
    for ax in (ax_pdf, ax_cdf):
        ax.set_xlabel("weight value")
    return _finish(fig, path)


def plot_code_lengths(symbols, n_symbols, path=None, title="weight indices"):
    """Frequency of each symbol (bars) and its Huffman code length in bits (dots)."""
    symbols = np.asarray(symbols)
    counts = np.bincount(symbols, minlength=n_symbols)
    code = HuffmanCode.from_freqs(counts)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.bar(np.arange(n_symbols), counts, color="tab:gray")
    ax.set_xlabel("symbol")
    ax.set_ylabel("count")
    ax2 = ax.twinx()
    present = counts > 0
    ax2.plot(np.flatnonzero(present), code.lengths[present], "o", color="tab:red", ms=3)
    ax2.set_ylabel("Huffman code length (bits)", color="tab:red")
    mean = code.coded_bits(symbols) / max(symbols.size, 1)
    ax.set_title(f"{title}: {mean:.2f} bits/symbol vs {np.log2(n_symbols):.0f} fixed")
    return _finish(fig, path)


def pareto_front(points):
    """Indices of the points no other point beats in both ratio and accuracy (sorted by ratio).

    ``points``: list of dicts with ``ratio`` and ``accuracy``. A point is dominated when
    another has ratio >= and accuracy >= with at least one strictly greater.
    """
    front = []
    for i, p in enumerate(points):
        dominated = any(
            q["ratio"] >= p["ratio"] and q["accuracy"] >= p["accuracy"]
            and (q["ratio"] > p["ratio"] or q["accuracy"] > p["accuracy"])
            for q in points
        )  # fmt: skip
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i]["ratio"])


def plot_pareto(points, path=None, title="compression ratio vs accuracy", zoom=3.0):
    """One marker per point (``label``, ``ratio``, ``accuracy`` in %, optional ``group``) and
    the Pareto front as a line, whose points are labelled; the right panel zooms on the points
    within ``zoom`` points of the best accuracy."""
    if not points or any("ratio" not in p or "accuracy" not in p for p in points):
        raise ValueError("points must be a non-empty list of dicts with 'ratio' and 'accuracy'")
    fig, axes = plt.subplots(1, 2, figsize=(14, 6.2))
    groups = list(dict.fromkeys(p.get("group", "") for p in points))
    colors, markers = plt.get_cmap("tab20").colors, "os^vD<>ph*Xd"
    front = pareto_front(points)
    best = max(p["accuracy"] for p in points)
    for ax, low in zip(axes, (None, best - zoom), strict=True):
        for g_i, group in enumerate(groups):
            sel = [p for p in points if p.get("group", "") == group]
            sel = [p for p in sel if low is None or p["accuracy"] >= low]
            ax.scatter([p["ratio"] for p in sel], [p["accuracy"] for p in sel], s=28,
                       color=colors[(2 * g_i) % 20 + (g_i >= 10)], marker=markers[g_i % 12],
                       label=group or None, zorder=3)  # fmt: skip
        shown = [i for i in front if low is None or points[i]["accuracy"] >= low]
        ax.step([points[i]["ratio"] for i in shown], [points[i]["accuracy"] for i in shown],
                where="post", color="black", lw=1, label="Pareto front", zorder=2)  # fmt: skip
        for i in shown:
            ax.annotate(points[i].get("label", ""), (points[i]["ratio"], points[i]["accuracy"]),
                        fontsize=7, xytext=(4, 3), textcoords="offset points")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("compression ratio (float32 bytes / file bytes, log scale)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].set_title(title, fontsize=10)
    axes[1].set_title(f"zoom: within {zoom:g} points of the best", fontsize=10)
    axes[0].legend(fontsize=7, loc="lower left")
    return _finish(fig, path)
