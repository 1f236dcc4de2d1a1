"""The sweep's report code (no timing here: the sweep itself runs by hand, see the README)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import bench_sweep  # noqa: E402
import timing  # noqa: E402


def _run(machine, ratios, load=0.5):
    """A saved run of two conv cases at one thread, as ``--json`` writes it."""
    rows = [
        dict(name=name, kind="conv2d", threads=1, ratio=ratio, macs=1000, col_bytes=2**20,
             gflops=50.0, peak_gflops=100.0, floor_ratio=1.2)  # fmt: skip
        for name, ratio in zip(["a", "b"], ratios, strict=True)
    ]
    run = {"load": [load, load, load], "rows": rows}
    if machine is not None:
        run["machine"] = machine
    return run


def test_merge_refuses_runs_from_two_machines():
    runs = [_run("CPU one, 2 cores, OpenBLAS SkylakeX", [1.0, 2.0]),
            _run("CPU two, 2 cores, OpenBLAS SkylakeX", [1.1, 2.1])]  # fmt: skip
    with pytest.raises(SystemExit, match="different machines.*CPU one.*CPU two"):
        bench_sweep.check_one_machine(runs, ["r1.json", "r2.json"])


def test_merge_takes_runs_of_one_machine_and_names_it():
    runs = [_run("CPU one, 2 cores", [1.0, 2.0], 0.2), _run("CPU one, 2 cores", [1.4, 1.5], 0.9),
            _run(None, [1.2, 1.7])]  # an old file, saved before the field existed
    bench_sweep.check_one_machine(runs, ["r1.json", "r2.json", "r3.json"])
    table = bench_sweep.merged_markdown(runs)
    assert "| a | 1,000 | 1 | 1.00–1.40× |" in table  # the range over the three runs
    assert "| b | 1,000 | 1 | 1.50–2.00× |" in table
    assert "| 1.20× |  | 50 (50%) / 50–70 |" in table  # the floor at 1 thread, none at 2
    # medians per run: 1.5, 1.45, 1.45; worst of each run; cases <= 1.5x: 1, 2, 1
    assert "1 thread: median 1.45–1.50×" in table
    assert "1–2 of 2 cases <= 1.5×" in table
    assert "worst 1.50–2.00× (b, in every run)" in table  # one shape's: said once, as a range
    assert "above 1.5× in every run: 0" in table  # b is 1.5 in the second run
    assert "above 1.2× in every run" not in table
    assert "3 runs on CPU one, 2 cores; load average at their starts: 0.20, 0.90, 0.50" in table


def test_merge_names_each_runs_worst_when_they_differ_and_the_shapes_always_above():
    runs = [_run("CPU one, 2 cores", [1.6, 2.0]), _run("CPU one, 2 cores", [1.7, 1.6])]
    table = bench_sweep.merged_markdown(runs)
    assert "worst 2.00× (b, run 1), 1.70× (a, run 2)" in table
    assert "above 1.5× in every run: 2 (a, b)" in table


def test_machine_names_the_cpu_and_cores():
    where = timing.machine()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert f", {cores} cores, OpenBLAS " in where
    assert where.split(",")[0].strip()  # a model name, not empty


def _readme():
    with open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize(
    ("folders", "count"),
    [(["benchmarks/results/2026-12-04-amd-midnight", "benchmarks/results/2026-12-05-amd"], 6),
     (["benchmarks/results/2026-12-05-intel-s22", "benchmarks/results/2026-12-05-intel-s23",
       "benchmarks/results/2026-12-05-intel-s25"], 20)],
    ids=["amd-epyc", "intel-xeon"])  # fmt: skip
def test_the_readmes_sweep_table_is_the_merge_of_the_runs_it_names(folders, count):
    """Every row of the AMD EPYC table and of the Intel Xeon one, as ``--merge`` prints it from
    the saved runs: a figure edited by hand, or a run added without regenerating the table,
    fails here."""
    import glob
    import json

    root = os.path.join(os.path.dirname(__file__), "..")
    readme = _readme()
    paths = []
    for folder in folders:
        assert f"{folder}/sweep-*.json" in readme.replace("\n", " ")  # the README names them
        paths += sorted(glob.glob(os.path.join(root, folder, "sweep-*.json")))
    assert len(paths) == count
    runs = []
    for path in paths:
        with open(path) as f:
            runs.append(json.load(f))
    rows = [line for line in bench_sweep.merged_markdown(runs).splitlines()
            if line.startswith("| ") and not line.startswith("| case")]  # fmt: skip
    assert len(rows) == len(bench_sweep.CASES)
    missing = [row for row in rows if row not in readme]
    assert not missing
