"""The machine profile that picks among the fast paths' measured rules (``_machine``), and the
rules it changes."""

import pytest

from minidl.functional import _conv_winograd as winograd
from minidl.functional import _conv_winograd_1d as winograd_1d
from minidl.functional import _machine, _threads
from minidl.functional.windows import window_geometry

INTEL = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu vme sse sse2 avx avx2 fma avx512f avx512dq avx512bw

processor\t: 1
vendor_id\t: GenuineIntel
flags\t\t: fpu
"""


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (INTEL, _machine.INTEL_AVX512),
        (INTEL.replace(" avx512f avx512dq avx512bw", ""), _machine.DEFAULT),  # no AVX-512
        (INTEL.replace("GenuineIntel", "AuthenticAMD"), _machine.DEFAULT),
        ("\n\n" + INTEL, _machine.INTEL_AVX512),  # blank lines before the first processor
        ("processor : 0\nflags : avx512f\n", _machine.DEFAULT),  # no vendor
        ("garbage without fields\n\x00\xff", _machine.DEFAULT),
        ("", _machine.DEFAULT),
    ],
    ids=["intel-avx512", "intel-avx2", "amd", "leading-blank", "no-vendor", "garbage", "empty"],
)
def test_profile_of_a_cpuinfo(text, want, tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(text, encoding="utf-8")
    assert _machine.profile_of(_machine._first_processor(str(path))) == want


def test_only_the_first_processor_is_read(tmp_path):
    """The second processor's flags (no AVX-512 there) do not count: one CPU, listed per core."""
    path = tmp_path / "cpuinfo"
    path.write_text(INTEL, encoding="utf-8")
    fields = _machine._first_processor(str(path))
    assert fields["processor"] == "0" and "avx512f" in fields["flags"]


def test_no_cpuinfo_gives_the_default_rules(tmp_path):
    assert _machine._first_processor(str(tmp_path / "missing")) == {}
    assert _machine.profile_of({}) == _machine.DEFAULT


@pytest.mark.parametrize(
    ("x_shape", "c_out", "k", "default", "intel"),
    [
        ((32, 16, 28, 28), 32, 3, True, False),  # the one-thread rules: not on the Intel Xeon
        ((32, 32, 28, 28), 64, 3, True, False),
        ((32, 24, 12, 12), 48, 3, True, False),
        ((32, 32, 28, 28), 64, 5, True, False),
        ((32, 64, 28, 28), 64, 3, True, True),  # from 64 channels on both
        ((8, 256, 14, 14), 256, 3, True, True),
        ((32, 64, 28, 28), 64, 5, True, True),
        ((32, 8, 28, 28), 16, 3, False, False),
        ((1, 256, 14, 14), 256, 3, True, False),  # one image: im2col on the Intel Xeon
        ((2, 256, 14, 14), 256, 3, True, True),
    ],
    ids=["16-28", "32-64-28", "24-12", "5x5-32", "64-28", "256-14", "5x5-64", "8-in", "1-image",
         "2-images"],  # fmt: skip
)
def test_one_thread_rules_by_profile(x_shape, c_out, k, default, intel, monkeypatch):
    """On one thread the default profile runs Winograd from 16 channels (12 for 5x5; 24 on 12 x 12
    and 14 x 14); the Intel Xeon's from 64 and two images."""
    _check_profiles(winograd, 1, x_shape, c_out, k, default, intel, monkeypatch)


def _check_profiles(module, workers, x_shape, c_out, k, default, intel, monkeypatch):
    """``module.applies`` to a 'same' stride-1 conv of k taps a side on ``workers`` threads is
    ``default`` under the default profile and ``intel`` under the Intel Xeon's."""
    monkeypatch.setattr(_threads, "WORKERS", workers)
    nd = len(x_shape) - 2
    win = window_geometry(x_shape[2:], (k,) * nd, 1, k // 2, 1)
    w_shape = (c_out, x_shape[1]) + (k,) * nd
    for profile, want in ((_machine.DEFAULT, default), (_machine.INTEL_AVX512, intel)):
        monkeypatch.setattr(_machine, "profile", lambda p=profile: p)
        assert module.applies(x_shape, w_shape, 1, win) is want, profile


def test_3d_convs_keep_their_rule_on_every_profile(monkeypatch):
    """k x 3 x 3 convs run here from 4 channels on both profiles (im2col's windows are 27 times
    the input), one image on one thread included."""
    monkeypatch.setattr(_threads, "WORKERS", 1)
    win = window_geometry((8, 28, 28), (3, 3, 3), 1, 1, 1)
    for profile in (_machine.DEFAULT, _machine.INTEL_AVX512):
        monkeypatch.setattr(_machine, "profile", lambda p=profile: p)
        for n in (1, 4):
            assert winograd.applies((n, 32, 8, 28, 28), (32, 32, 3, 3, 3), 1, win)


@pytest.mark.parametrize(
    ("x_shape", "c_out", "k", "default", "intel"),
    [
        ((32, 64, 28, 28), 64, 3, True, False),  # two threads on the Intel Xeon: from 96
        ((32, 64, 28, 28), 64, 5, True, False),
        ((32, 96, 28, 28), 96, 3, True, True),
        ((16, 128, 28, 28), 128, 5, True, True),
        ((32, 32, 28, 28), 64, 3, False, False),  # below 64: neither
        ((1, 128, 28, 28), 128, 3, False, False),  # one image: im2col's slabs on both
    ],
    ids=["64", "5x5-64", "96", "5x5-128", "32-64", "one-image"],
)
def test_two_thread_rules_by_profile(x_shape, c_out, k, default, intel, monkeypatch):
    """On two threads the default profile runs Winograd from 64 channels, the Intel Xeon's
    from 96."""
    _check_profiles(winograd, 2, x_shape, c_out, k, default, intel, monkeypatch)


@pytest.mark.parametrize(
    ("workers", "x_shape", "c_out", "k", "default", "intel"),
    [
        (1, (32, 16, 1000), 32, 3, True, False),  # one thread: from 16 / from 128
        (1, (8, 64, 256), 64, 3, True, False),
        (1, (32, 128, 256), 128, 3, True, True),
        (1, (8, 64, 256), 64, 5, True, False),  # 5 taps: from 64 / from 128
        (1, (16, 128, 512), 128, 5, True, True),
        (1, (8, 32, 256), 32, 5, False, False),
        (2, (8, 64, 256), 64, 3, True, False),  # two threads: from 64 / never
        (2, (8, 512, 128), 512, 3, True, False),
        (2, (8, 128, 256), 128, 5, False, False),
    ],
    ids=["1t-16", "1t-64", "1t-128", "1t-5-64", "1t-5-128", "1t-5-32", "2t-64", "2t-512",
         "2t-5"],  # fmt: skip
)
def test_1d_rules_by_profile(workers, x_shape, c_out, k, default, intel, monkeypatch):
    """The 1-D F(2, 3) and F(2, 5): the default profile's rules, and the Intel Xeon's (one thread
    from 128 channels, two threads never)."""
    _check_profiles(winograd_1d, workers, x_shape, c_out, k, default, intel, monkeypatch)
