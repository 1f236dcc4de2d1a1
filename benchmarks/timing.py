"""The timing loop every benchmark uses (imported by name: running ``python benchmarks/x.py``
puts this folder on ``sys.path``).

The machines are shared, so the functions compared are run round-robin, one call each per
round, and the best time of each is kept: a burst of load then slows all of them alike, and the
minimum is the least disturbed run.
"""

import os
import platform
import time


def interleaved(fns, repeats, clock=time.perf_counter):
    """Best time (seconds, by ``clock``) of each function over ``repeats`` round-robin rounds."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = clock()
            fn()
            best[i] = min(best[i], clock() - start)
    return best


def best_time(fn, repeats):
    """Best time of one function over ``repeats`` calls."""
    return interleaved([fn], repeats)[0]


def alternating_processes(run, names, rounds):
    """Best time per case for each name: ``run(name)`` times every case in a fresh process
    (a list of seconds); the names take turns ``rounds`` times, so a burst of load slows each
    alike, and the minimum over rounds is kept case by case."""
    best = {}
    for _ in range(rounds):
        for name in names:
            times = run(name)
            best[name] = [min(pair) for pair in zip(best.get(name, times), times, strict=True)]
    return best


def machine():
    """What the ratios depend on, for a result file and its header: the CPU's model name, the
    cores this process may use, and the kernels OpenBLAS picked for it (SkylakeX, Haswell, ...;
    read through threadpoolctl, a test extra, when it is installed). Ratios against PyTorch
    differ from one CPU to another by more than the noise (PyTorch's oneDNN and OpenBLAS do not
    gain alike from AVX-512), so runs on different machines are never merged."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    kernels = "unknown"
    try:
        import numpy  # noqa: F401  (loads OpenBLAS, so that threadpoolctl sees it)
        from threadpoolctl import threadpool_info

        kernels = next((i.get("architecture") or "unknown" for i in threadpool_info()
                        if i.get("internal_api") == "openblas"), "unknown")  # fmt: skip
    except ImportError:
        pass
    return f"{model}, {cores} cores, OpenBLAS {kernels}"
