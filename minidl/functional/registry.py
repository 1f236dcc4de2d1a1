"""``OPS``: every op of :mod:`minidl.functional` by name, as a ``contract.Op`` record.

Each record holds the op's five functions (plain call, forward, backward and the two loop
twins), the vectorized tier where the public functions run a faster one, and the name of the
matching ``torch.nn.functional`` function. ``tests/functional/test_ops.py`` walks it: loops
equal the vectorized code in float64, a float64 gradcheck with a random upstream gradient,
the same inputs through PyTorch, and the bad-input checks.
"""

import importlib

from minidl.functional.contract import Op


def _op(module, naive_module, name, torch=None, vectorized=None):
    """The record of op ``name`` from the functions the modules ``minidl.functional.<module>``
    and ``<naive_module>`` define under the contract's names; ``vectorized`` names the N-d op
    whose ``*_vectorized`` tier it has (in ``conv`` or ``pool``)."""
    module, naive_module = _module(module), _module(naive_module)
    tier = {}
    if vectorized is not None:
        core = _module("conv" if vectorized == "conv_nd" else "pool")
        tier = {
            "forward_vectorized": getattr(core, f"{vectorized}_forward_vectorized"),
            "backward_vectorized": getattr(core, f"{vectorized}_backward_vectorized"),
        }
    return Op(
        name=name,
        plain=getattr(module, name),
        forward=getattr(module, f"{name}_forward"),
        backward=getattr(module, f"{name}_backward"),
        forward_naive=getattr(naive_module, f"{name}_forward_naive"),
        backward_naive=getattr(naive_module, f"{name}_backward_naive"),
        torch=torch,
        **tier,
    )


def _module(name):
    # by its full name: `minidl.functional.dense` the attribute is the function dense()
    return importlib.import_module(f"minidl.functional.{name}")


_RECORDS = [
    _op("conv", "conv", "conv_nd", vectorized="conv_nd"),
    *(_op("conv_ranks", "conv_ranks", f"conv{d}d", f"conv{d}d", "conv_nd") for d in (1, 2, 3)),
    _op("pool", "pool_naive", "max_pool", vectorized="max_pool"),
    _op("pool", "pool_naive", "avg_pool", vectorized="avg_pool"),
    *(_op("pool_ranks", "pool_ranks", f"{k}_pool{d}d", f"{k}_pool{d}d", f"{k}_pool")
      for k in ("max", "avg") for d in (1, 2, 3)),
    _op("pool", "pool_naive", "global_avg_pool"),
    _op("dense", "dense", "dense", "linear"),
    _op("activations", "activations_naive", "relu", "relu"),
    _op("activations", "activations_naive", "leaky_relu", "leaky_relu"),
    _op("activations", "activations_naive", "sigmoid", "sigmoid"),
    _op("activations", "activations_naive", "tanh", "tanh"),
    _op("activations", "activations_naive", "softmax", "softmax"),
    _op("activations", "activations_naive", "log_softmax", "log_softmax"),
    _op("dropout", "dropout", "dropout", "dropout"),
    _op("batchnorm", "batchnorm_naive", "batch_norm", "batch_norm"),
    _op("dropout", "dropout", "dropout_masked"),
    _op("dense", "dense", "dense_flatten", "linear"),
    _op("im2col", "im2col", "im2col", "unfold"),
    _op("im2col", "im2col", "col2im", "fold"),
    _op("activations_smooth", "activations_smooth_naive", "elu", "elu"),
    _op("activations_smooth", "activations_smooth_naive", "gelu", "gelu"),
    _op("activations_smooth", "activations_smooth_naive", "softplus", "softplus"),
    _op("normalization", "normalization_naive", "layer_norm", "layer_norm"),
    _op("normalization", "normalization_naive", "group_norm", "group_norm"),
    _op("losses", "losses_naive", "multi_margin_loss", "multi_margin_loss"),
    _op("losses", "losses_naive", "binary_cross_entropy", "binary_cross_entropy"),
    _op("losses", "losses_naive", "binary_cross_entropy_with_logits",
        "binary_cross_entropy_with_logits"),
    _op("losses", "losses_naive", "cross_entropy_probs", "nll_loss"),
    _op("losses", "losses_naive", "cross_entropy_onehot", "cross_entropy"),
    _op("conv_transpose", "conv_transpose", "conv_transpose_nd"),
    *(_op("conv_transpose_ranks", "conv_transpose_ranks", f"conv_transpose{d}d",
          f"conv_transpose{d}d") for d in (1, 2, 3)),
]  # fmt: skip
OPS = {op.name: op for op in _RECORDS}
