import numpy as np
import pytest

from minidl.nn import plot


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plots_write_png_files(tmp_path, rng):
    history = {"loss": [1.0, 0.5], "accuracy": [0.6, 0.8], "val_loss": [1.1, 0.7]}
    calls = {
        "history": lambda p: plot.plot_history(history, path=p),
        "filters": lambda p: plot.plot_filters(rng.normal(size=(6, 1, 3, 3)), path=p),
        "maps": lambda p: plot.plot_feature_maps(rng.normal(size=(4, 5, 5)), path=p),
        "cm": lambda p: plot.plot_confusion_matrix(np.eye(3, dtype=int), path=p),
    }
    for name, call in calls.items():
        path = tmp_path / "sub" / f"{name}.png"
        call(path)
        assert _is_png(path), name


def test_plot_bad_inputs(rng):
    with pytest.raises(ValueError, match="weight"):
        plot.plot_filters(rng.normal(size=(3, 3)))
    with pytest.raises(ValueError, match="maps"):
        plot.plot_feature_maps(rng.normal(size=(3, 3)))
    with pytest.raises(ValueError, match="cm"):
        plot.plot_confusion_matrix(np.ones((2, 3)))
    with pytest.raises(ValueError, match="history"):
        plot.plot_history({})


def test_history_plot_draws_every_batch_and_integer_epoch_ticks():
    history = {"loss": [0.9], "accuracy": [0.7], "val_loss": [0.5], "val_accuracy": [0.85],
               "batch_loss": [[2.3, 1.9, 1.2, 0.8, 0.6, 0.5]]}  # fmt: skip
    fig = plot.plot_history(history)
    loss_ax = fig.axes[0]
    xs = np.concatenate([line.get_xdata() for line in loss_ax.get_lines()])
    assert len(loss_ax.get_lines()) == 4  # batches, their moving average, train, validation
    np.testing.assert_allclose(sorted(set(np.round(xs, 9))), np.arange(1, 7) / 6)  # in epochs
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert "train, running mean over the epoch" in labels and "validation, at epoch end" in labels


def test_smoothing_is_a_trailing_moving_average():
    np.testing.assert_allclose(plot._smooth([1.0, 3.0, 5.0, 7.0], 2), [1.0, 2.0, 4.0, 6.0])


def test_weight_and_feature_map_grids_have_a_labelled_colour_bar(rng):
    w = rng.normal(size=(6, 1, 3, 3))
    fig = plot.plot_filters(w)
    bar = fig.axes[-1]
    assert bar.get_ylabel() == "weight"
    assert bar.get_ylim() == pytest.approx((-np.abs(w[:, 0]).max(), np.abs(w[:, 0]).max()))
    maps = np.maximum(rng.normal(size=(4, 5, 5)), 0)
    fig = plot.plot_feature_maps(maps, image=rng.random((5, 5)), title="after ReLU")
    assert fig.axes[0].get_title() == "input"
    assert fig.axes[-1].get_ylabel() == "activation"
    assert fig.axes[-1].get_ylim()[0] == 0.0  # non-negative maps start at 0
    with pytest.raises(ValueError, match="image"):
        plot.plot_feature_maps(maps, image=rng.random((1, 5, 5)))
