"""Folding eval-mode BatchNorm into the Conv/Dense before it: same outputs, fewer layers."""

import numpy as np
import pytest

from minidl.compression.fold import fold_batchnorm, fold_model
from minidl.layers.activations import ReLU
from minidl.layers.batchnorm import BatchNorm1D, BatchNorm2D
from minidl.layers.conv import Conv2D
from minidl.layers.dense import Dense
from minidl.layers.pool import MaxPool2D
from minidl.layers.reshape import Flatten
from minidl.nn.model import Sequential


def _stats(bn, rng):
    c = bn.num_features
    bn.buffers["running_mean"][...] = rng.normal(size=c)
    bn.buffers["running_var"][...] = rng.uniform(0.1, 3, size=c)
    bn.params["weight"][...] = rng.normal(size=c)
    bn.params["bias"][...] = rng.normal(size=c)
    return bn.eval()


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_fold_model_equals_original_in_eval(rng, dtype, tol):
    kw = dict(dtype=dtype, rng=rng)
    model = Sequential(
        [
            Conv2D(2, 4, 3, padding=1, bias=False, **kw),
            _stats(BatchNorm2D(4, dtype=dtype), rng),
            ReLU(),
            MaxPool2D(2),
            Flatten(),
            Dense(4 * 9, 5, **kw),
            _stats(BatchNorm1D(5, dtype=dtype), rng),
            ReLU(),
            Dense(5, 3, **kw),
        ]
    ).eval()
    x = rng.normal(size=(6, 2, 6, 6)).astype(dtype)
    folded = fold_model(model)
    assert len(folded.layers) == 7
    assert not any(isinstance(layer, (BatchNorm1D, BatchNorm2D)) for layer in folded.layers)
    ref = model.predict(x)
    np.testing.assert_allclose(folded.predict(x), ref, rtol=tol, atol=tol * np.abs(ref).max())
    assert folded.layers[0].params["weight"].dtype == dtype


def test_fold_dense_hand_case():
    d = Dense(1, 1, dtype=np.float64, rng=0)
    d.params["weight"][...] = 2.0
    d.params["bias"][...] = 1.0
    bn = BatchNorm1D(1, eps=0.0, dtype=np.float64)
    bn.buffers["running_mean"][...] = 3.0
    bn.buffers["running_var"][...] = 4.0
    bn.params["weight"][...] = 6.0
    bn.params["bias"][...] = 0.5
    f = fold_batchnorm(d, bn)  # k = 6 / 2 = 3: w' = 6, b' = 3 (1 - 3) + 0.5 = -5.5
    assert f.params["weight"][0, 0] == 6.0 and f.params["bias"][0] == -5.5


def test_fold_bad_inputs(rng):
    with pytest.raises(TypeError, match="layer"):
        fold_batchnorm(ReLU(), BatchNorm1D(3))
    with pytest.raises(TypeError, match="bn"):
        fold_batchnorm(Dense(2, 3, rng=rng), ReLU())
    with pytest.raises(ValueError, match="num_features"):
        fold_batchnorm(Dense(2, 3, rng=rng), BatchNorm1D(4))
    with pytest.raises(ValueError, match="track_running_stats"):
        fold_batchnorm(Dense(2, 3, rng=rng), BatchNorm1D(3, track_running_stats=False))
