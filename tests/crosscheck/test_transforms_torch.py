"""minidl.datasets.transforms.resize against PyTorch's F.interpolate (float32 and float64)."""

import numpy as np
import pytest

from minidl.datasets.transforms import resize

torch = pytest.importorskip("torch")
F = torch.nn.functional

SIZES = [((8, 8), (28, 28)), ((8, 8), (20, 20)), ((28, 28), (13, 9)), ((5, 7), (11, 3))]


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("shape,size", SIZES)
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_resize_matches_interpolate(rng, dtype, tol, shape, size, mode):
    x = rng.random((2, 3) + shape).astype(dtype)
    if mode == "bilinear":
        ref = F.interpolate(torch.from_numpy(x), size=size, mode="bilinear", align_corners=False)
    else:  # minidl's nearest is the pixel-centre rule, PyTorch's 'nearest-exact'
        ref = F.interpolate(torch.from_numpy(x), size=size, mode="nearest-exact")
    y = resize(x, size, mode)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ref.numpy(), rtol=0, atol=tol)
