"""Which of the measured machines' rules a fast path follows (private).

A few thresholds of the conv paths weigh NumPy's matrix products against its elementwise passes,
and the balance of the two is the machine's. Winograd's transforms (:mod:`minidl.functional.
_conv_winograd`) trade 2.25 times fewer multiply-adds for a dozen passes over the chunk; on the
AMD EPYC of the benchmark pool (NumPy's float32 GEMM at 105 GFLOP/s, a 2048^3 product) that
trade won on one thread from 16 channels; on the Intel Xeon of the pool (162-181 GFLOP/s) the
same convs ran up to 20% slower than by im2col (``benchmarks/ROUNDS.md``), and so did, there,
the 2-D ones of 64 channels on two threads, one image on one thread and the 1-D ones below 128
channels (each module's ``PROFILE_RULES``). The CPU is read once, from ``/proc/cpuinfo``, as
OpenBLAS picks its kernels by the CPU it finds (``cpuid``), not by a timing: the choice, and
with it the float32 result's last bits, is the same on every run on one machine.

:func:`profile` is ``INTEL_AVX512`` on an Intel CPU with AVX-512, else ``DEFAULT`` (the AMD
EPYC's rules, the README's machine; no other CPU was measured).
"""

import functools

DEFAULT = "default"
INTEL_AVX512 = "intel-avx512"
CPUINFO = "/proc/cpuinfo"


@functools.cache
def profile():
    """The rules this machine follows: ``INTEL_AVX512`` or ``DEFAULT`` (read once)."""
    return profile_of(_first_processor(CPUINFO))


def profile_of(fields):
    """The profile of a processor's ``/proc/cpuinfo`` fields (``{}`` when unknown)."""
    flags = fields.get("flags", "").split()
    if fields.get("vendor_id") == "GenuineIntel" and "avx512f" in flags:
        return INTEL_AVX512
    return DEFAULT


def _first_processor(path):
    """The ``key: value`` fields of the first processor listed in ``path``; ``{}`` where the
    file is missing or unreadable (not Linux): the default rules then."""
    fields = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    if fields:
                        break  # one processor is enough: the others are the same CPU
                    continue
                key, sep, value = line.partition(":")
                if sep:
                    fields[key.strip()] = value.strip()
    except OSError:
        return {}
    return fields
