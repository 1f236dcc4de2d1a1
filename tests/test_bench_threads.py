"""bench_threads.py's report code and its halving of the sweep's cases (no timing here: the
benchmark runs by hand, see the README)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import bench_sweep  # noqa: E402
import bench_threads  # noqa: E402


def _ms(minidl1, minidl2, halves, torch1, torch2):
    return {"minidl 1": minidl1, "minidl 2": minidl2, "halves": halves, "torch 1": torch1,
            "torch 2": torch2}  # fmt: skip


def test_only_cases_with_a_batch_to_halve_and_each_on_half_its_images():
    cases = bench_threads.halves(bench_sweep.CASES)
    names = {c.name for c in cases}
    assert "conv2d N1 64->64 56" not in names and "conv2d N1 3->16 32" not in names
    assert len(cases) == len(bench_sweep.CASES) - 2
    odd = bench_sweep.conv("odd", 5, 4, 8, 10)
    assert bench_threads.half(odd).shape == (2, 4, 10, 10)
    assert bench_threads.half(odd).args == odd.args  # the layer itself unchanged


def test_a_row_gives_the_ratios_to_two_torch_threads_and_each_sides_speed_up():
    r = bench_threads.row("a", _ms(12.0, 8.0, 6.0, 9.0, 5.0))
    assert r["ratio"] == 8.0 / 5.0
    assert r["halves_ratio"] == 6.0 / 5.0
    assert r["minidl_speedup"] == 12.0 / 8.0
    assert r["halves_speedup"] == 12.0 / 6.0
    assert r["torch_speedup"] == 9.0 / 5.0


def test_the_table_gives_ranges_over_runs_and_names_the_cases_sharing_cannot_bring_under():
    run1 = {"load": [0.3] * 3, "machine": "CPU one, 2 cores",
            "rows": [bench_threads.row("a", _ms(12.0, 8.0, 6.0, 9.0, 5.0)),
                     bench_threads.row("b", _ms(4.0, 4.0, 2.5, 2.0, 1.0))]}  # fmt: skip
    run2 = {"load": [1.1] * 3, "machine": "CPU one, 2 cores",
            "rows": [bench_threads.row("a", _ms(12.0, 9.0, 7.0, 9.0, 5.0)),
                     bench_threads.row("b", _ms(4.0, 3.0, 2.0, 2.0, 1.0))]}  # fmt: skip
    text = bench_threads.table([run1, run2])
    # a: minidl 8 or 9 / 5; halves 6 or 7 / 5; speed-ups 12/8-12/9, 12/6-12/7, 9/5
    assert "| a | 1.60–1.80× | 1.20–1.40× | 1.33–1.50× | 1.71–2.00× | 1.80× |" in text
    assert "| b | 3.00–4.00× | 2.00–2.50× | 1.00–1.33× | 1.60–2.00× | 2.00× |" in text
    # b's halves are above 1.5x PyTorch in both runs, a's in neither
    assert "above 1.5× PyTorch's two threads in every run: 1 (b)" in text
    # ratios: medians of (1.6, 4.0) and (1.8, 3.0); halves' of (1.2, 2.5) and (1.4, 2.0)
    assert "minidl 2.40–2.80×, halves side by side 1.70–1.85×" in text
    # medians of (1.5, 1.0) and (1.33, 1.33); halves (2.0, 1.6), (1.71, 2.0); torch 1.8-2.0
    assert "minidl 1.25–1.33×, halves side by side 1.80–1.86×, PyTorch 1.90×" in text
    assert "2 run(s) on CPU one, 2 cores; load average at their starts: 0.30, 1.10" in text


def test_the_readmes_rows_are_the_merge_of_the_saved_runs():
    """The two-thread rows the README shows, as ``--merge`` prints them from the runs it names
    (the README's rows are indented in a list)."""
    import glob
    import json

    root = os.path.join(os.path.dirname(__file__), "..")
    folder = "benchmarks/results/2026-12-05-amd-threads"
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert f"`{folder}/`" in readme
    runs = []
    for path in sorted(glob.glob(os.path.join(root, folder, "threads-*.json"))):
        with open(path) as f:
            runs.append(json.load(f))
    assert len(runs) == 3
    merged = {line.split("|")[1].strip(): line for line in bench_threads.table(runs).splitlines()
              if line.startswith("| ") and not line.startswith("| case")}  # fmt: skip
    shown = [line.strip() for line in readme.splitlines()
             if line.strip().startswith("| ") and line.strip().split("|")[1].strip() in merged
             and line.strip().count("|") == 7]  # fmt: skip
    assert len(shown) >= 16  # the README's table of the shapes above 1.5x
    for line in shown:
        assert line == merged[line.split("|")[1].strip()]
    text = " ".join(readme.split())
    summary = bench_threads.table(runs).splitlines()
    ratio = next(s for s in summary if s.startswith("median ratio"))
    assert "1.31–1.35× for minidl's two threads and 1.05–1.14× for the halves" in text
    assert "minidl 1.31–1.35×, halves side by side 1.05–1.14×" in ratio
