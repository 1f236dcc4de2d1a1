import numpy as np
import pytest

from minidl import plot


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
