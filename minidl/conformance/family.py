"""The records of a conformance family and its cases (see :mod:`minidl.conformance.cases`)."""

import zlib
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Case:
    """One case: a name, its arrays (``inputs``) and its JSON-able keyword values."""

    name: str
    inputs: dict
    kwargs: dict


@dataclass(frozen=True)
class Family:
    """A calling convention, the compared outputs and the default tolerance (float64)."""

    name: str
    signature: str
    kind: str = "function"  # or "estimator"
    args: tuple = ("x",)
    keywords: tuple = ()
    outputs: tuple = ("y",)
    grad_wrt: tuple = ()
    mutated: tuple = ()  # input arrays updated in place, compared after the call
    up_to_sign: tuple = ()  # outputs whose rows are compared up to sign (PCA components)
    # arguments and outputs that are lists of arrays (one weight per layer): stored and
    # compared as ``name.0``, ``name.1``, ...; several returned outputs come back as a tuple
    sequences: tuple = ()
    layout: bool = False  # channels-first x -> y (NHWC adapter and hypothesis apply)
    rtol: float = 1e-7
    atol: float = 1e-9
    cases: list = field(default_factory=list, compare=False)


def case_rng(family, case):
    """The generator of one case's inputs, seeded by the family and case names."""
    return np.random.default_rng(zlib.crc32(f"{family}/{case}".encode()))
