"""Model compression: pruning, quantization, clipping, distillation, low rank, folding, storage."""
