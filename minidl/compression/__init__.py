"""Model compression, technique by technique, each with its formula in the docstring.

pruning / importance / structured / schedule   remove weights or whole units
quantization / observers / qat / int_model     fewer bits: fixed point, affine int8, QAT, int-only
weight_quantization                            weight-only b-bit copy of a model (activations float)
clipping                                       the articles' clipping rules and max-norm
distillation                                   Hinton et al.'s teacher -> student loss
lowrank / fold                                 truncated-SVD Dense, BatchNorm folding
storage / pipeline                             real bytes on disk; article 004's pipeline
weight_sharing / huffman / relative_index      Deep Compression's stages 2-3 (Han et al. 2016),
deep_compression / deep_compression_format     the three-stage pipeline and its counted file
"""

from minidl.compression.clipping import (
    clip_article003_code,
    clip_article003_text,
    clip_article004,
    clip_by_value,
    max_norm,
)
from minidl.compression.distillation import DistillationLoss, distillation_targets
from minidl.compression.fold import fold_batchnorm, fold_model
from minidl.compression.hessian import hessian_diag_backprop
from minidl.compression.importance import obd_scores, taylor_scores
from minidl.compression.int_model import QuantizedConv2D, QuantizedDense, quantize_model
from minidl.compression.lowrank import factorize_dense, lowrank_model
from minidl.compression.observers import MinMaxObserver, PercentileObserver
from minidl.compression.pipeline import article004_pipeline, compression_pipeline
from minidl.compression.pruning import (
    apply_masks,
    global_magnitude_masks,
    magnitude_mask,
    model_masks,
    sensitivity_scan,
    threshold_prune,
    threshold_prune_literal,
)
from minidl.compression.qat import FakeQuantize, FakeQuantWeight, fake_quantize, prepare_qat
from minidl.compression.quantization import (
    binarize_weights,
    choose_qparams,
    dequantize,
    quantize,
    quantize_fixed_point,
    quantize_fixed_point_literal,
    sqnr_db,
    ternarize_weights,
)
from minidl.compression.schedule import MaskedOptimizer, gradual_sparsity, prune_and_finetune
from minidl.compression.storage import load_compressed, model_bytes, save_compressed
from minidl.compression.structured import prune_units, structured_masks
from minidl.compression.weight_quantization import quantize_weights

__all__ = [
    "DistillationLoss",
    "FakeQuantWeight",
    "FakeQuantize",
    "MaskedOptimizer",
    "MinMaxObserver",
    "PercentileObserver",
    "QuantizedConv2D",
    "QuantizedDense",
    "apply_masks",
    "article004_pipeline",
    "binarize_weights",
    "choose_qparams",
    "clip_article003_code",
    "clip_article003_text",
    "clip_article004",
    "clip_by_value",
    "compression_pipeline",
    "dequantize",
    "distillation_targets",
    "factorize_dense",
    "fake_quantize",
    "fold_batchnorm",
    "fold_model",
    "global_magnitude_masks",
    "hessian_diag_backprop",
    "gradual_sparsity",
    "load_compressed",
    "lowrank_model",
    "magnitude_mask",
    "max_norm",
    "model_bytes",
    "model_masks",
    "obd_scores",
    "prepare_qat",
    "prune_and_finetune",
    "prune_units",
    "quantize",
    "quantize_fixed_point",
    "quantize_fixed_point_literal",
    "quantize_model",
    "quantize_weights",
    "save_compressed",
    "sensitivity_scan",
    "sqnr_db",
    "structured_masks",
    "taylor_scores",
    "ternarize_weights",
    "threshold_prune",
    "threshold_prune_literal",
]
