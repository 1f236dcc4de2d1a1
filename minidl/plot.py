"""Plots for the main job and the chapters (matplotlib; works headless).

Each function returns the matplotlib Figure; pass ``path=`` to also write it to disk (the figure
is then closed, so scripts do not accumulate open figures). Without a display matplotlib falls
back to its Agg backend, so these run in CI and over ssh.
"""

import os

import matplotlib
import matplotlib.ticker

if not os.environ.get("DISPLAY") and "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")  # headless: never try to open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def plot_history(history, path=None):
    """Loss and accuracy per epoch from ``Sequential.fit``'s history (train and validation)."""
    keys = [("loss", "val_loss"), ("accuracy", "val_accuracy")]
    keys = [(k, v) for k, v in keys if history.get(k)]
    if not keys:
        raise ValueError("history has no 'loss' or 'accuracy' entries to plot")
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for ax, (train_key, val_key) in zip(axes[0], keys, strict=True):
        epochs = np.arange(1, len(history[train_key]) + 1)
        ax.plot(epochs, history[train_key], "o-", label="train")
        if history.get(val_key):
            ax.plot(epochs, history[val_key], "s--", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # whole epochs
        ax.set_ylabel(train_key)
        ax.legend()
        ax.grid(alpha=0.3)
    return _finish(fig, path)


def _grid(images, titles, cmap, path, suptitle):
    n = len(images)
    cols = min(n, 8)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.5 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, title in zip(axes.ravel(), images, titles, strict=False):
        ax.imshow(img, cmap=cmap)
        if title is not None:
            ax.set_title(title, fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    return _finish(fig, path)


def plot_filters(weight, path=None, max_filters=32, title="conv filters"):
    """First input channel of each filter of a conv weight ``(C_out, C_in, kh, kw)``."""
    weight = np.asarray(weight)
    if weight.ndim != 4:
        raise ValueError(
            f"weight must be a 2-D conv weight (C_out, C_in, kh, kw), got shape {weight.shape}"
        )
    images = [w[0] for w in weight[:max_filters]]
    return _grid(images, [str(i) for i in range(len(images))], "RdBu_r", path, title)


def plot_feature_maps(maps, path=None, max_maps=32, title="feature maps"):
    """Channels of one sample's activation ``(C, H, W)``."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"maps must be one sample's activation (C, H, W), got shape {maps.shape}")
    images = list(maps[:max_maps])
    return _grid(images, [str(i) for i in range(len(images))], "viridis", path, title)


def plot_confusion_matrix(cm, class_names=None, path=None, title="confusion matrix"):
    """A confusion matrix (rows: true class, columns: predicted) with the counts written in."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square matrix, got shape {cm.shape}")
    k = cm.shape[0]
    names = class_names if class_names is not None else [str(i) for i in range(k)]
    fig, ax = plt.subplots(figsize=(0.5 * k + 2.5, 0.5 * k + 2))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            color = "white" if cm[i, j] > threshold else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7, color=color)
    return _finish(fig, path)
