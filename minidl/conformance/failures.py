"""What went wrong in a candidate's call, said where it happened.

- :class:`Raised`: an exception of the candidate, with the file and line in the candidate's own
  code (a bare ``AssertionError:`` says nothing; ``layers.py:88 in backward: assert
  self.trainable`` does);
- :class:`NotCompared`: gradients that were not compared, and why (the forward had the wrong
  shape, so there is no upstream gradient of the right shape to give the backward);
- :func:`option`: how a message names an option: ``backward=`` from Python, ``--backward``
  on the command line (the CLI sets :data:`SPELLING` while it runs).
"""

import contextvars
import os
import pathlib
import sysconfig
import traceback
from dataclasses import dataclass

import numpy as np

SPELLING = contextvars.ContextVar("minidl_conformance_spelling", default="python")

# keyword of check() -> the command line's flag
_FLAGS = {"backward": "--backward", "grad": "--grad", "adapter": "--adapter", "dtype": "--dtype"}


def option(name, value=None):
    """``backward=`` (or ``adapter='torch'``) from Python, ``--backward`` (``--adapter torch``)
    from the command line."""
    if SPELLING.get() == "cli":
        flag = _FLAGS.get(name, f"--{name.replace('_', '-')}")
        return flag if value is None else f"{flag} {value}"
    return f"{name}=" if value is None else f"{name}={value!r}"


# frames in these folders are library code, not the candidate's: the location reported is the
# innermost frame outside them (the line of the candidate that called numpy, say)
_LIBRARY_DIRS = tuple(
    str(pathlib.Path(p).resolve())
    for p in (
        pathlib.Path(np.__file__).parent,
        pathlib.Path(__file__).parent,  # the kit itself (the adapters call the candidate)
        sysconfig.get_paths()["stdlib"],
    )
)


def _is_library(filename):
    # NumPy < 1.25 dispatches through frames named "<__array_function__ internals>": generated
    # code, not the candidate's, like any frame whose file name is in angle brackets.
    if filename.startswith("<") and filename.endswith(">"):
        return True
    path = str(pathlib.Path(filename).resolve())
    return path.startswith(_LIBRARY_DIRS) or f"{os.sep}torch{os.sep}" in path


def _short(filename):
    """The path relative to the working directory if it lies below it, else its last two parts."""
    path = pathlib.Path(filename).resolve()
    try:
        return str(path.relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(pathlib.Path(*path.parts[-2:]))


@dataclass(frozen=True)
class Raised:
    """An exception the candidate raised: its type, message and where (``file:line in f``)."""

    type: str
    message: str
    where: str = ""
    source: str = ""

    @classmethod
    def from_exception(cls, err):
        frames = traceback.extract_tb(err.__traceback__)
        own = [f for f in frames if not _is_library(f.filename)]
        frame = own[-1] if own else None  # none: raised inside a compiled function we called
        where = source = ""
        if frame is not None:
            where = f"{_short(frame.filename)}:{frame.lineno} in {frame.name}"
            source = (frame.line or "").strip()
        message = " ".join(str(err).split())  # one line, whatever the exception put in it
        return cls(type(err).__name__, message, where, source)

    def __str__(self):
        text = f"{self.type}: {self.message}" if self.message else self.type
        if len(text) > 200:
            text = text[:197] + "..."
        if self.where:
            text += f" ({self.where}" + (f": {self.source[:100]}" if self.source else "") + ")"
        return text

    def as_dict(self):
        return {"type": self.type, "message": self.message, "where": self.where}


@dataclass(frozen=True)
class NotCompared:
    """Gradients that could not be compared, with the reason."""

    reason: str

    def __str__(self):
        return f"gradients not compared: {self.reason}"
