"""Pruning masks against torch.nn.utils.prune: l1_unstructured, global_unstructured and
ln_structured (n = 1, 2, dim = 0), float32 and float64."""

import numpy as np
import pytest

from minidl.compression.pruning import global_magnitude_masks, magnitude_mask
from minidl.compression.structured import ln_structured_mask

torch = pytest.importorskip("torch")
prune = pytest.importorskip("torch.nn.utils.prune")

DTYPES = [(np.float32, torch.float32), (np.float64, torch.float64)]


def _linear(w, tdt):
    m = torch.nn.Linear(w.shape[1], w.shape[0], dtype=tdt)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(w))
    return m


def _conv(w, tdt):
    m = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], dtype=tdt)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(w))
    return m


@pytest.mark.parametrize("dt, tdt", DTYPES)
@pytest.mark.parametrize("amount", [0.1, 0.35, 0.5, 0.9, 0.999])
def test_l1_unstructured(rng, dt, tdt, amount):
    w = rng.normal(size=(12, 30)).astype(dt)
    m = _linear(w, tdt)
    prune.l1_unstructured(m, "weight", amount=amount)
    np.testing.assert_array_equal(magnitude_mask(w, amount), m.weight_mask.numpy())


@pytest.mark.parametrize("dt, tdt", DTYPES)
@pytest.mark.parametrize("amount", [0.2, 0.6, 0.95])
def test_global_unstructured(rng, dt, tdt, amount):
    w1 = rng.normal(size=(8, 3, 3, 3)).astype(dt) * 0.5  # smaller weights: pruned more
    w2 = rng.normal(size=(10, 20)).astype(dt)
    m1, m2 = _conv(w1, tdt), _linear(w2, tdt)
    prune.global_unstructured(
        [(m1, "weight"), (m2, "weight")], pruning_method=prune.L1Unstructured, amount=amount
    )
    masks = global_magnitude_masks({"a": w1, "b": w2}, amount)
    np.testing.assert_array_equal(masks["a"], m1.weight_mask.numpy())
    np.testing.assert_array_equal(masks["b"], m2.weight_mask.numpy())


@pytest.mark.parametrize("dt, tdt", DTYPES)
@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("amount", [0.25, 0.5, 0.75])
def test_ln_structured(rng, dt, tdt, n, amount):
    w = rng.normal(size=(16, 4, 3, 3)).astype(dt)
    m = _conv(w, tdt)
    prune.ln_structured(m, "weight", amount=amount, n=n, dim=0)
    np.testing.assert_array_equal(ln_structured_mask(w, amount, p=n), m.weight_mask.numpy())
