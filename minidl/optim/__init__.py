"""Optimizers, each update the formula in its docstring, and learning-rate schedules.

optimizers     gradient_descent (the formula), SGD (momentum, Nesterov, weight decay), Adam, AdamW,
               StepLR, CosineAnnealingLR
steps          one update of one array, as a function with a loop twin (sgd_step, adam_step)
"""

from minidl.optim.optimizers import (
    SGD,
    Adam,
    AdamW,
    CosineAnnealingLR,
    Optimizer,
    StepLR,
    gradient_descent,
)
from minidl.optim.steps import (
    adam_step,
    adamw_step,
    sgd_step,
)

__all__ = [
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "Optimizer",
    "SGD",
    "StepLR",
    "adam_step",
    "adamw_step",
    "gradient_descent",
    "sgd_step",
]
