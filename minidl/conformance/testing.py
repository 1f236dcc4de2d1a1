"""pytest in one line per function: a course's (or a port's) test file.

.. code-block:: python

    # test_layers.py, beside layers.py
    from minidl.conformance.testing import conformance_test, layer_conformance_test

    test_conv = conformance_test("layers.py:conv_forward", "conv2d",
                                 backward="layers.py:conv_backward", skip="groups2,depthwise")
    test_relu = conformance_test("layers.py:relu", "relu")
    test_affine = layer_conformance_test(make_affine, "dense",
                                         grads={"weight": "dW", "bias": "db"})

Each call returns a pytest test function parametrized over the family's golden cases, so
pytest lists one test per case (``test_conv[stride2_pad1]``) and a failing case shows its rows
of the kit's table, diagnosis included. Cases left out with ``skip``/``only`` are reported as
skipped ("unsupported"). A function may be given itself or as ``'file.py:name'`` /
``'module:name'`` (a relative file path is taken from the test file's folder), resolved when
the test runs, so a missing function fails its tests instead of the collection. pytest is
imported here only: minidl does not depend on it.
"""

import inspect
import pathlib

from minidl.conformance.cases import get_family
from minidl.conformance.check import check, select
from minidl.conformance.layer import check_layer

__all__ = ["conformance_test", "layer_conformance_test"]


def _resolver(spec, folder):
    if not isinstance(spec, str):
        return lambda: spec
    from minidl.conformance.resolve import resolve  # modules and .py paths, as the CLI

    module, sep, name = spec.rpartition(":")
    if module.endswith(".py") and not pathlib.Path(module).is_absolute():
        spec = f"{folder / module}{sep}{name}"
    return lambda: resolve(spec)


def _parametrized(family, only, skip, run_case):
    import pytest

    family = get_family(family)
    names = [c.name for c in family.cases]
    chosen = select(family, names, only, skip)
    reason = "unsupported: left out with skip/only"
    params = [
        pytest.param(n, id=n, marks=() if n in chosen else pytest.mark.skip(reason=reason))
        for n in names
    ]

    @pytest.mark.parametrize("case", params)
    def test(case):
        run_case(case).assert_passed()

    return test


def _caller_folder():
    frame = inspect.stack()[2]
    return pathlib.Path(frame.filename).resolve().parent


def conformance_test(fn, family, only=None, skip=None, **check_kwargs):
    """A pytest test of ``fn`` on each case of ``family``; ``backward`` may be a function or
    a spec string too, the other keywords are :func:`~minidl.conformance.check.check`'s."""
    folder = _caller_folder()
    get_fn = _resolver(fn, folder)
    get_backward = _resolver(check_kwargs.pop("backward", None), folder)

    def run_case(case):
        return check(get_fn(), family, backward=get_backward(), only=case, **check_kwargs)

    return _parametrized(family, only, skip, run_case)


def layer_conformance_test(make, family, only=None, skip=None, **layer_kwargs):
    """A pytest test of the layer ``make`` builds, on each case of ``family``; the keywords
    are :func:`~minidl.conformance.layer.check_layer`'s."""
    get_make = _resolver(make, _caller_folder())

    def run_case(case):
        return check_layer(get_make(), family, only=case, **layer_kwargs)

    return _parametrized(family, only, skip, run_case)
