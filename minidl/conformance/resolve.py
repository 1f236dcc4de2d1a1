"""``MODULE:NAME`` to the object it names: how the command line and ``testing`` find a candidate."""

import importlib
import importlib.util
import pathlib
import sys


def resolve(spec):
    """The object named by ``MODULE:NAME`` (module importable, or a ``.py`` file path)."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected MODULE:FUNCTION, got {spec!r}")
    if module_name.endswith(".py"):
        path = pathlib.Path(module_name)
        if not path.is_file():
            raise ValueError(f"file {module_name!r} (from {spec!r}) does not exist")
        spec_ = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec_)
        sys.path.insert(0, str(path.parent.resolve()))  # its own imports of sibling files
        try:
            spec_.loader.exec_module(module)
        finally:
            sys.path.pop(0)
    else:
        module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{module_name} has no attribute {attr!r} (from {spec!r})") from None
    return obj
