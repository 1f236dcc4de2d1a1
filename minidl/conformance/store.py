"""Golden files: one ``.npz`` per family in ``minidl/conformance/golden/``, read and written here.

Layout of ``<family>.npz`` (loaded with ``allow_pickle=False``):

- ``meta``: a one-element string array holding JSON: the family name, its signature, minidl's
  version, a format number and the list of cases with their keyword values;
- ``<case>/in/<name>``: the input arrays; ``<case>/out/<name>``: the expected outputs;
- ``<case>/dy``: the upstream gradient and ``<case>/grad/<name>``: the expected gradients of
  ``sum(y * dy)`` (families with gradients only).

Writes go to a temporary file in the same directory and are renamed into place, so an
interrupted regeneration never leaves half a file.
"""

import json
import pathlib
from dataclasses import dataclass

import numpy as np

from minidl.archive import NpzArchive, parse_json
from minidl.atomic import atomic_write

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"
FORMAT = 1


@dataclass
class GoldenCase:
    """A stored case: inputs, keyword values, upstream gradient and expected results."""

    name: str
    inputs: dict
    kwargs: dict
    outputs: dict
    dy: np.ndarray | None = None
    grads: dict | None = None


def save_family(path, meta, cases):
    """Write ``cases`` (list of :class:`GoldenCase`) and ``meta`` (dict) to ``path`` atomically."""
    arrays = {"meta": np.array([json.dumps(meta, sort_keys=True)])}
    for case in cases:
        for part, values in (("in", case.inputs), ("out", case.outputs), ("grad", case.grads)):
            for key, value in (values or {}).items():
                arrays[f"{case.name}/{part}/{key}"] = np.asarray(value)
        if case.dy is not None:
            arrays[f"{case.name}/dy"] = np.asarray(case.dy)
    for key, value in arrays.items():
        if value.dtype.hasobject:  # would need a pickle, which loading refuses
            raise TypeError(f"golden array {key!r} has dtype object; use numbers")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # 0o644 whatever the umask: package data must be readable by all
    atomic_write(path, lambda f: np.savez(f, **arrays), mode=0o644)


def load_family(name, golden_dir=None):
    """Return ``(meta, [GoldenCase, ...])`` for family ``name`` from ``golden_dir``.

    Raises ``FileNotFoundError`` naming the file (regenerate with
    ``python -m minidl.conformance.generate``) and ``ValueError`` for a file of another
    family or format.
    """
    path = pathlib.Path(golden_dir or GOLDEN_DIR) / f"{name}.npz"
    if not path.is_file():
        raise FileNotFoundError(
            f"golden file {path} not found; regenerate with python -m minidl.conformance.generate"
        )
    with NpzArchive(path, "golden file") as archive:
        arrays = {k: archive.read(k) for k in archive.keys()}
    try:
        meta = parse_json(str(arrays.pop("meta")[0]), f"golden file {path}")
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"golden file {path} has no readable 'meta' JSON entry ({err})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"golden file {path} has no readable 'meta' JSON entry (not an object)")
    if meta.get("family") != name or meta.get("format") != FORMAT:
        raise ValueError(
            f"golden file {path} holds family {str(meta.get('family'))[:50]!r} format "
            f"{str(meta.get('format'))[:20]}, expected family {name!r} format {FORMAT}"
        )
    if not isinstance(meta.get("cases"), list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("kwargs"), dict)
        for c in meta["cases"]
    ):
        raise ValueError(f"golden file {path} has a corrupt list of cases")
    cases = []
    for entry in meta["cases"]:
        prefix = entry["name"] + "/"
        parts = {"in": {}, "out": {}, "grad": {}}
        for key, value in arrays.items():
            if key.startswith(prefix) and key.count("/") == 2:
                _, part, field = key.split("/")
                parts[part][field] = value
        cases.append(
            GoldenCase(
                entry["name"],
                parts["in"],
                entry["kwargs"],
                parts["out"],
                arrays.get(prefix + "dy"),
                parts["grad"] or None,
            )
        )
    return meta, cases
