"""Plots for the main job and the chapters (matplotlib; works headless).

Each function returns the matplotlib Figure; pass ``path=`` to also write it to disk (the figure
is then closed, so scripts do not accumulate open figures). Without a display matplotlib falls
back to its Agg backend, so these run in CI and over ssh.
"""

import os

import matplotlib

if not os.environ.get("DISPLAY") and "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")  # headless: never try to open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def _finish(fig, path, layout=True):
    if layout:
        fig.tight_layout()
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def _smooth(values, window):
    """Moving average over ``window`` consecutive values (shorter at the start)."""
    values = np.asarray(values, dtype=np.float64)
    sums = np.cumsum(np.concatenate([[0.0], values]))
    lo = np.maximum(np.arange(1, len(values) + 1) - window, 0)
    return (sums[1:] - sums[lo]) / (np.arange(1, len(values) + 1) - lo)


def _batch_curve(ax, batch_loss):
    """Per-batch losses against fractional epochs (batch b of epoch e at e - 1 + (b+1)/n_e)."""
    x = np.concatenate([e + np.arange(1, len(b) + 1) / len(b) for e, b in enumerate(batch_loss)])
    y = np.concatenate([np.asarray(b, dtype=np.float64) for b in batch_loss])
    ax.plot(x, y, color="0.75", lw=0.6, label="train, each batch")
    window = int(np.clip(len(y) // 20, 1, 100))
    ax.plot(x, _smooth(y, window), color="C0", lw=1.4, label=f"train, mean of {window} batches")


def plot_history(history, path=None):
    """Loss and accuracy from ``Sequential.fit``'s history, against epochs.

    The training numbers of an epoch are running means over its batches, taken while the
    weights change (as Keras reports them), drawn at the epoch's end; validation is measured
    once, at the epoch's end. With ``history['batch_loss']`` the loss panel also shows every
    batch's loss and a moving average of it, so a single epoch is a curve, not a dot.
    """
    keys = [("loss", "val_loss"), ("accuracy", "val_accuracy")]
    keys = [(k, v) for k, v in keys if history.get(k)]
    if not keys:
        raise ValueError("history has no 'loss' or 'accuracy' entries to plot")
    fig, axes = plt.subplots(1, len(keys), figsize=(5.2 * len(keys), 3.8), squeeze=False)
    for ax, (train_key, val_key) in zip(axes[0], keys, strict=True):
        epochs = np.arange(1, len(history[train_key]) + 1)
        if train_key == "loss" and history.get("batch_loss"):
            _batch_curve(ax, history["batch_loss"])
        ax.plot(epochs, history[train_key], "o", color="C0", ms=6,
                label="train, running mean over the epoch")  # fmt: skip
        if history.get(val_key):
            ax.plot(epochs, history[val_key], "s--", color="C1", label="validation, at epoch end")
        ax.set_xlim(0, len(epochs) + 0.1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(train_key)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _finish(fig, path)


def _grid(images, titles, cmap, path, suptitle, vmin, vmax, label, lead=None):
    """Images on one shared colour scale [vmin, vmax], with one colour bar labelled ``label``.

    ``lead`` = (image, title), if given, is drawn first in grey on its own scale (the input).
    """
    n = len(images) + (lead is not None)
    cols = min(n, 8)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols + 1.2, 1.5 * rows + 0.4),
                             squeeze=False)  # fmt: skip
    for ax in axes.ravel():
        ax.axis("off")
    slots = iter(axes.ravel())
    if lead is not None:
        ax = next(slots)
        ax.imshow(lead[0], cmap="gray")
        ax.set_title(lead[1], fontsize=8, fontweight="bold")
    for ax, img, title in zip(slots, images, titles, strict=False):
        shown = ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(title, fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, label=label)
    return _finish(fig, path, layout=False)


def plot_filters(weight, path=None, max_filters=32, title="conv filters"):
    """First input channel of each filter of a conv weight ``(C_out, C_in, kh, kw)``.

    One colour scale symmetric about 0 for all filters (red positive, blue negative), so signs
    and sizes compare across filters; the colour bar gives the weight values.
    """
    weight = np.asarray(weight)
    if weight.ndim != 4:
        raise ValueError(
            f"weight must be a 2-D conv weight (C_out, C_in, kh, kw), got shape {weight.shape}"
        )
    images = [w[0] for w in weight[:max_filters]]
    bound = float(np.max(np.abs(images))) or 1.0
    return _grid(images, [str(i) for i in range(len(images))], "RdBu_r", path, title,
                 -bound, bound, "weight")  # fmt: skip


def plot_feature_maps(maps, path=None, max_maps=32, title="feature maps", image=None):
    """Channels of one sample's activation ``(C, H, W)``, all on one colour scale.

    ``image`` (H, W), if given, is the input the maps were computed from, drawn first in grey
    on its own scale.
    Maps that are all >= 0 (after a ReLU) are drawn from 0 in one colour map; maps with both
    signs on a scale symmetric about 0. Say in ``title`` where the maps were taken.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"maps must be one sample's activation (C, H, W), got shape {maps.shape}")
    images = list(maps[:max_maps])
    titles = [str(i) for i in range(len(images))]
    if maps.min() >= 0:
        cmap, vmin, vmax = "viridis", 0.0, float(maps.max()) or 1.0
    else:
        bound = float(np.max(np.abs(maps))) or 1.0
        cmap, vmin, vmax = "RdBu_r", -bound, bound
    lead = None
    if image is not None:
        image = np.asarray(image)
        if image.ndim != 2:
            raise ValueError(f"image must be the input as (H, W), got shape {image.shape}")
        lead = (image, "input")
    return _grid(images, titles, cmap, path, title, vmin, vmax, "activation", lead)


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
