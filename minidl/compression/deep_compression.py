r"""Deep Compression's three stages on a minidl model (Han, Mao & Dally, ICLR 2016).

1. **Pruning with retraining** (their §2, from Han et al. 2015): per layer, the smallest
   weights are removed, rising to the final rate over a few steps of Zhu & Gupta's schedule
   (:func:`~minidl.compression.schedule.gradual_sparsity`), with retraining through a
   :class:`~minidl.compression.schedule.MaskedOptimizer` after each step.
2. **Trained quantization** (§3): per layer k-means weight sharing
   (:mod:`minidl.compression.weight_sharing`), then fine-tuning of the centroids only (eq. 3).
3. **Huffman coding** (§4) of the weight indices and the relative sparse indices, in a file
   (:mod:`minidl.compression.deep_compression_format`).

``PAPER_LAYERS`` holds the paper's per-layer figures for the two MNIST networks (Tables 2 and
3: the fraction of weights kept after pruning, the weight bits and the index bits) keyed by the
``state_dict`` names of :func:`minidl.zoo.lenet_300_100` and :func:`minidl.zoo.lenet5_caffe`;
``PAPER_TABLE1`` the rows of Table 1 (top-1 error %, size in KB, ratio).
"""

import numpy as np

from minidl._validation import check_positive_int
from minidl.compression.pruning import accuracy, apply_masks, check_sparsity, model_masks
from minidl.compression.schedule import MaskedOptimizer, gradual_sparsity
from minidl.compression.weight_sharing import CentroidOptimizer, share_model_weights
from minidl.losses import CrossEntropyLoss
from minidl.optim import Adam, CosineAnnealingLR

# key -> (fraction of weights kept, weight bits, index bits), Tables 2 and 3
PAPER_LAYERS = {
    "lenet_300_100": {"1.weight": (0.08, 6, 5), "3.weight": (0.09, 6, 5), "5.weight": (0.26, 6, 5)},
    "lenet5_caffe": {
        "0.weight": (0.66, 8, 5),
        "2.weight": (0.12, 8, 5),
        "5.weight": (0.08, 5, 5),
        "7.weight": (0.19, 5, 5),
    },
}
# Table 1: top-1 error (%) of the reference and the compressed net, size (KB), ratio
PAPER_TABLE1 = {
    "lenet_300_100": {"ref_error": 1.64, "error": 1.58, "ref_kb": 1070, "kb": 27, "ratio": 40},
    "lenet5_caffe": {"ref_error": 0.80, "error": 0.74, "ref_kb": 1720, "kb": 44, "ratio": 39},
}
# Tables 2-3, "Total" row: kept weights after pruning and the compression rate of each stage
PAPER_STAGES = {
    "lenet_300_100": {"P": (0.08, 12), "P+Q": (0.031, 32), "P+Q+H": (0.0249, 40)},
    "lenet5_caffe": {"P": (0.08, 12), "P+Q": (0.0305, 33), "P+Q+H": (0.0255, 39)},
}


def train(model, X, y, epochs, lr, batch_size=64, optimizer=None, rng=None, weight_decay=0.0):
    """``model.fit`` with Adam (L2 ``weight_decay``; ``optimizer`` wraps it) and a cosine decay."""
    base = Adam(lr, weight_decay=weight_decay)
    opt = base if optimizer is None else optimizer(base)
    model.fit(
        X, y, epochs, batch_size, opt, CrossEntropyLoss(),
        scheduler=CosineAnnealingLR(base, epochs), rng=rng, verbose=False,
    )  # fmt: skip
    return model


def prune_retrain(
    model, X, y, keep, n_steps=3, epochs_per_step=1, lr=1e-3, batch_size=64, rng=None,
    weight_decay=0.0,
):  # fmt: skip
    """Stage 1, in place: per-layer magnitude pruning to ``1 - keep[key]`` in ``n_steps`` steps
    (cubic schedule), each followed by ``epochs_per_step`` epochs of masked retraining.

    ``keep``: dict key -> fraction of the weights kept (the paper's "Weights%"). Returns masks.
    """
    n_steps = check_positive_int(n_steps, "n_steps")
    final = {k: check_sparsity(1 - v, f"1 - keep[{k!r}]") for k, v in keep.items()}
    masks = {}
    for t in range(1, n_steps + 1):
        target = {k: gradual_sparsity(t, s, n=n_steps) for k, s in final.items()}
        masks = model_masks(model, target, scope="layer")
        apply_masks(model, masks)
        wrap = lambda o, m=masks: MaskedOptimizer(o, m)
        train(model, X, y, epochs_per_step, lr, batch_size, wrap, rng, weight_decay)
    return masks


def quantize_retrain(model, X, y, bits, epochs=1, lr=1e-4, init="linear", batch_size=64, rng=None):
    """Stage 2, in place: weight sharing at ``bits`` (int or dict key -> int), then ``epochs``
    of centroid fine-tuning (eq. 3; biases train as usual). Returns the shared weights."""
    shared = share_model_weights(model, bits, init=init, rng=rng)
    if epochs:
        train(model, X, y, epochs, lr, batch_size, lambda o: CentroidOptimizer(o, shared), rng)
    return shared


def top1(model, X, y):
    """Accuracy in percent."""
    return 100.0 * accuracy(model, X, y)


def kept_fraction(model, keys):
    """Fraction of nonzero weights over the weights ``keys`` (the paper's "Weights%")."""
    params = model.params
    return sum(np.count_nonzero(params[k]) for k in keys) / sum(params[k].size for k in keys)
