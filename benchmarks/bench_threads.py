"""What a second thread buys minidl, shape by shape, and what it could buy at best.

    python benchmarks/bench_threads.py                     # the sweep's cases with a batch to halve
    python benchmarks/bench_threads.py --only conv2d --json threads.json
    python benchmarks/bench_threads.py --merge run1.json run2.json   # ranges over saved runs
    python benchmarks/bench_threads.py --calls             # NumPy calls on two Python threads

minidl shares an op out among plain Python threads (``minidl.functional._threads``): NumPy lets
go of Python's lock inside each call, and a thread must take it back between two calls. Three
timings per case of ``bench_sweep.py`` (the same steps, float32 forward + backward) tell apart
what that sharing costs from what the machine costs:

- **minidl, 1 and 2 threads**: the op on the whole batch, as the sweep times it.
- **halves side by side**: two processes of one thread each, each running the op on half the
  batch, started together at every repeat (a barrier), the slower of the two taken: no Python
  lock and no hand-off between them, only the caches and the memory the two cores share. That
  is what any sharing of minidl's one-thread code among two cores could reach at best.
- **PyTorch, 1 and 2 threads**.

A case whose halves side by side are still above 1.5x PyTorch's two-thread time cannot reach
that target by sharing out its one-thread code, however it shares; the gap between minidl's two
threads and the halves is what the sharing costs (the lock, the hand-offs, the chunks' balance).
Cases of one image have no halves and are left out.

``--calls`` times the hand-off itself: two streams of NumPy calls (a multiply and an add over
float32 arrays of one size) one after the other on one thread, then on two Python threads at
once, by the calls' size. Below a size NumPy's calls are shorter than the wait for the lock.

Each configuration runs in its own fresh process (``OPENBLAS_NUM_THREADS`` set before NumPy
loads), best of ``--repeats`` per case, the configurations taking turns ``--rounds`` times and
the best of all kept (see ``timing.py``). Times are noisy on a shared machine: compare ranges.
"""

import argparse
import json
import os
import sys
import time
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_sweep  # noqa: E402

REPEATS = 7
# the configurations: (name, framework, threads, halves)
CONFIGS = [
    ("minidl 1", "minidl", 1, False),
    ("minidl 2", "minidl", 2, False),
    ("halves", "minidl", 1, True),
    ("torch 1", "torch", 1, False),
    ("torch 2", "torch", 2, False),
]


def halves(cases):
    """The cases with a batch to halve (two images or more; :func:`half` gives the half)."""
    return [c for c in cases if c.shape[0] >= 2]


def half(case):
    """``case`` on half its batch (N // 2 images: an odd batch's two halves would differ by one
    image; here both take the smaller)."""
    return replace(case, shape=(case.shape[0] // 2,) + tuple(case.shape[1:]))


# ---------------------------------------------------------------- the timing processes
def _step(case, framework):
    """The case's step (a callable) in this process, warmed up."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=case.shape).astype(np.float32)
    layer, _ = bench_sweep.minidl_step(case, x, None)
    dy = rng.normal(size=layer.output_shape(x.shape)).astype(np.float32)
    if framework == "minidl":
        step = bench_sweep.minidl_step(case, x, dy)[1]
    else:
        step = bench_sweep.torch_step(case, x, dy)
    step()  # warm-up: caches, code paths, allocator
    return step


def _child(cases, framework, threads, repeats, barrier, queue):
    """Each case's step time, ``repeats`` times (seconds): put on ``queue`` as a list per case.
    The cases one at a time, built, warmed up and timed, as the sweep does (the steps of
    several cases built at once ran 10-40% slower: each case's arrays and scratch on pages
    the others had left). With a ``barrier``, every repeat starts when the twin process's
    does."""
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
    times = []
    for case in cases:
        step = _step(case, framework)
        per_repeat = []
        for _ in range(repeats):
            if barrier is not None:
                barrier.wait()
            start = time.perf_counter()
            step()
            per_repeat.append(time.perf_counter() - start)
        times.append(per_repeat)
        del step
    queue.put(times)


def run_config(config, cases, repeats):
    """Best seconds per case of one configuration, in fresh processes (two for the halves,
    the slower per repeat)."""
    import multiprocessing as mp

    _, framework, threads, split = config
    ctx = mp.get_context("spawn")
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(threads)
    twins = 2 if split else 1
    barrier = ctx.Barrier(2) if split else None
    queue = ctx.Queue()
    todo = [half(c) for c in cases] if split else cases
    procs = [ctx.Process(target=_child, args=(todo, framework, threads, repeats, barrier, queue))
             for _ in range(twins)]  # fmt: skip
    for p in procs:
        p.start()
    got = [queue.get() for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"{config[0]}: a timing process failed ({p.exitcode})")
    # per case and repeat the slower process (one process: itself), then the best repeat
    return [min(max(rep) for rep in zip(*per_proc, strict=True))
            for per_proc in zip(*got, strict=True)]  # fmt: skip


def measure(cases, repeats, rounds):
    """Rows: each case's best time per configuration over ``rounds`` turns of them."""
    best = {}
    for _ in range(rounds):
        for config in CONFIGS:
            times = run_config(config, cases, repeats)
            old = best.get(config[0], times)
            best[config[0]] = [min(a, b) for a, b in zip(old, times, strict=True)]
            print(f"  {config[0]}: done", file=sys.stderr, flush=True)
    rows = []
    for i, case in enumerate(cases):
        ms = {name: best[name][i] * 1e3 for name, *_ in CONFIGS}
        rows.append(row(case.name, ms))
    return rows


def row(name, ms):
    """A case's figures from its times (ms) per configuration: the ratios to PyTorch's two
    threads, and each side's speed-up from one thread to two."""
    return dict(
        name=name,
        ms=ms,
        ratio=ms["minidl 2"] / ms["torch 2"],
        halves_ratio=ms["halves"] / ms["torch 2"],
        minidl_speedup=ms["minidl 1"] / ms["minidl 2"],
        halves_speedup=ms["minidl 1"] / ms["halves"],
        torch_speedup=ms["torch 1"] / ms["torch 2"],
    )


# ---------------------------------------------------------------- report
HEAD = ("| case (float32, forward + backward) | minidl ÷ PyTorch, 2 threads | halves side by "
        "side ÷ PyTorch, 2 threads | minidl 1 → 2 threads | halves side by side | PyTorch 1 → 2 "
        "threads |")  # fmt: skip


def table(runs):
    """One markdown table over runs (``--json`` files): each cell the range over the runs (the
    speed-ups as how many times faster than the same side's one thread), then a summary."""
    import numpy as np

    per_case = {}
    for run in runs:
        for r in run["rows"]:
            per_case.setdefault(r["name"], []).append(r)
    out = [HEAD, "|---|---|---|---|---|---|"]
    for name, rows in per_case.items():
        cells = [
            bench_sweep._span([r[k] for r in rows])
            for k in ("ratio", "halves_ratio", "minidl_speedup", "halves_speedup", "torch_speedup")
        ]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    lines = ["\n".join(out), ""]
    keys = ("ratio", "halves_ratio", "minidl_speedup", "halves_speedup", "torch_speedup")
    med = {k: bench_sweep._span([float(np.median([r[k] for r in run["rows"]])) for run in runs])
           for k in keys}  # fmt: skip
    lines.append(f"median ratio to PyTorch's two threads: minidl {med['ratio']}, halves side "
                 f"by side {med['halves_ratio']}")  # fmt: skip
    lines.append(f"median speed-up from one thread to two: minidl {med['minidl_speedup']}, "
                 f"halves side by side {med['halves_speedup']}, "
                 f"PyTorch {med['torch_speedup']}")  # fmt: skip
    above = [{r["name"] for r in run["rows"] if r["halves_ratio"] > 1.5} for run in runs]
    always = [n for n in per_case if all(n in a for a in above)]
    lines.append(f"halves side by side above 1.5× PyTorch's two threads in every run: "
                 f"{len(always)}" + (f" ({', '.join(always)})" if always else ""))  # fmt: skip
    loads = ", ".join(f"{run['load'][0]:.2f}" for run in runs)
    lines.append(f"{len(runs)} run(s) on {runs[0].get('machine', 'machine not recorded')}; "
                 f"load average at their starts: {loads}")  # fmt: skip
    return "\n".join(lines)


# ---------------------------------------------------------------- --calls
CALL_SIZES = [1_000, 4_000, 16_000, 64_000, 256_000, 1_000_000]


def calls(repeats):
    """Rows ``(size, per-call us, speed-up)``: two streams of calls on two Python threads
    against one after the other, by the arrays' size (elements of float32)."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits
    from timing import best_time

    threadpool_limits(1)
    pool = ThreadPoolExecutor(1)
    rows = []
    for size in CALL_SIZES:
        count = max(20, 2_000_000 // size)  # about 2 M elements a stream
        first, second = _stream(size, count, 0), _stream(size, count, 1)
        serial = best_time(lambda a=first, b=second: (a(), b()), repeats)
        both = best_time(lambda a=first, b=second: _together(pool, a, b), repeats)
        rows.append((size, serial / (4 * count) * 1e6, serial / both))
    return rows


def _stream(size, count, seed):
    """``count`` times a multiply and an add over float32 arrays of ``size`` elements."""
    import numpy as np

    a = np.random.default_rng(seed).normal(size=size).astype(np.float32)
    b, c = a.copy(), np.empty_like(a)

    def run():
        for _ in range(count):
            np.multiply(a, b, out=c)
            np.add(c, a, out=c)

    return run


def _together(pool, first, second):
    """``second`` on the pool's thread while ``first`` runs on this one."""
    other = pool.submit(second)
    first()
    other.result()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="the cases whose name contains this")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--rounds", type=int, default=2, help="turns of the configurations")
    parser.add_argument("--json", help="write the rows to this JSON file")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="print a table of ranges over runs saved by --json; exit")  # fmt: skip
    parser.add_argument("--calls", action="store_true",
                        help="NumPy calls on two Python threads by their size; exit")  # fmt: skip
    args = parser.parse_args()
    from timing import machine

    if args.merge:
        runs = []
        for path in args.merge:
            with open(path) as f:
                runs.append(json.load(f))
        bench_sweep.check_one_machine(runs, args.merge)
        print(table(runs))
        return
    if args.calls:
        print(f"two streams of np.multiply + np.add on float32, {machine()}")
        print("| elements a call | one call (us) | two threads ÷ one, speed-up |\n|---|---|---|")
        for size, us, speedup in calls(args.repeats):
            print(f"| {size:,} | {us:.1f} | {speedup:.2f}× |")
        return
    cases = halves([c for c in bench_sweep.CASES if args.only in c.name])
    load, where = os.getloadavg(), machine()
    run = {"load": load, "machine": where, "rows": measure(cases, args.repeats, args.rounds)}
    print(f"best of {args.repeats} x {args.rounds} turns; load average {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f} at the start; {where}")  # fmt: skip
    print(table([run]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(run, f, indent=1)


if __name__ == "__main__":
    main()
