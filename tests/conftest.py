import sys

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A fresh seeded generator per test, so tests do not depend on their order."""
    return np.random.default_rng(20261125)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run PyTorch on one thread in tests: on a shared 2-core machine its second thread waits
    for a busy core (a 20-step cross-check took 15 s with two threads, 0.3 s with one)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def fresh_path_choices():
    """The wide grid's and the images-innermost layout's choices are cached per shape
    (``applies``): a test that patches their thresholds must have them applied, not an earlier
    test's answer for the same shapes, and must not leave its own answer to the next test."""
    from minidl.functional import _conv_images_inner, _conv_wide

    for applies in (_conv_wide.applies, _conv_images_inner.applies):
        applies.cache_clear()
    yield
    for applies in (_conv_wide.applies, _conv_images_inner.applies):
        applies.cache_clear()


@pytest.fixture(autouse=True)
def _default_machine_rules():
    """Every test takes the default machine's rules for the fast paths (``_machine.profile``):
    which path a shape runs by, and so what a test covers, is then the same on every CI machine.
    The other profiles' rules have their own tests (``tests/functional/test_machine.py``).
    Set and put back by hand, not by ``monkeypatch``: an autouse fixture's ``monkeypatch``
    would be undone after the tests' own fixtures' teardowns, which expect theirs undone."""
    from minidl.functional import _machine

    profile = _machine.profile
    _machine.profile = lambda: _machine.DEFAULT
    yield
    _machine.profile = profile


@pytest.fixture(autouse=True)
def _chunk_loops_for_small_convs():
    """Small convs run as one chunk (``conv.SMALL_COLUMNS_BYTES``), and most tests'
    inputs are small: they would no longer reach the chunk loops they are written for. So the
    tests run with the rule off; ``tests/functional/test_conv_small.py`` turns it on. Set and
    put back by hand, for the reason given in ``_default_machine_rules``."""
    from minidl.functional import conv

    limit = conv.SMALL_COLUMNS_BYTES
    conv.SMALL_COLUMNS_BYTES = -1
    yield
    conv.SMALL_COLUMNS_BYTES = limit
