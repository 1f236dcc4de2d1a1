"""Stateful layers: params/grads dicts in PyTorch layouts, a cache, train()/eval()."""

from minidl.layers.base import LAYERS, Layer

__all__ = ["LAYERS", "Layer"]
