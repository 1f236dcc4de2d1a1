"""Time and memory the loaders spend on crafted files (issue 17's red-team cases).

``python benchmarks/bench_bad_files.py [--small]``

Each case is a small file that claims something huge: metadata saying ``Dense(20000, 20000)``
over a 2x3 layer's arrays, a member header claiming 10^12 values, an extra deflated member of
1 GB of zeros, a gzipped IDX whose 1 GB of zeros follows a 10-byte header, JSON nested 100,000
deep. Each runs in a fresh Python process; the table gives the file size, what the loader
raised, its wall time and its peak extra resident memory (Linux ``VmHWM`` after the call minus
``VmRSS`` before it). The promise (README, "What minidl promises about files and bad input"):
a ``ValueError`` naming the file, well under a second and a few MB. ``--small`` uses 1/16 of the
sizes. The builders are the tests' own (``tests/crafted_files.py``).
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import crafted_files as cf  # noqa: E402

LOADERS = {  # (imports, call) run in the child process
    "load": ("from minidl import Sequential", "Sequential.load(PATH)"),
    "load_weights": (
        "from minidl import Sequential\nfrom minidl.layers.dense import Dense",
        "Sequential([Dense(3, 2)]).load_weights(PATH)",
    ),
    "load_compressed": (
        "from minidl.compression.storage import load_compressed",
        "load_compressed(PATH)",
    ),
    "read_idx": ("from minidl.datasets.mnist import read_idx", "read_idx(PATH)"),
}

CHILD = textwrap.dedent(
    """
    import sys, time
    PATH = sys.argv[1]
    {imports}
    def status(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    before = status("VmRSS:")
    start = time.perf_counter()
    try:
        {call}
        outcome = "loaded"
    except BaseException as err:
        outcome = f"{{type(err).__name__}}: {{str(err)[:70]}}"
    seconds = time.perf_counter() - start
    print(f"{{seconds:.3f}}\\t{{status('VmHWM:') - before:.1f}}\\t{{outcome}}")
    """
)


def cases(scale):
    gb = int(2**30 * scale)
    n = int(20000 * scale**0.5)
    return [
        ("Dense(n, n) in the metadata", f"n={n}", "load", lambda p: cf.huge_config_model(p, n)),
        ("Dense(10^6, 10^6) in the metadata", "", "load",
         lambda p: cf.huge_config_model(p, 10**6)),
        ("member header claims (10^12,)", "", "load", cf.huge_header_model),
        ("extra member: zeros deflated", f"{gb >> 20} MiB", "load",
         lambda p: cf.extra_bomb_model(p, gb)),
        ("extra member: zeros deflated", f"{gb >> 20} MiB", "load_compressed",
         lambda p: cf.extra_bomb_compressed(p, gb)),
        ("JSON nested 100,000 deep", "", "load", cf.deep_json_model),
        ("JSON nested 100,000 deep", "", "load_weights", cf.deep_json_model),
        ("JSON nested 100,000 deep", "", "load_compressed", cf.deep_json_compressed),
        ("IDX gzip: 10-byte header, then zeros", f"{gb >> 20} MiB", "read_idx",
         lambda p: cf.idx_gzip_bomb(p, gb)),
        ("IDX dims overflow int64", "", "read_idx", cf.idx_overflow),
    ]  # fmt: skip


def run(loader, path):
    imports, call = LOADERS[loader]
    code = CHILD.format(imports=imports, call=call)
    try:
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return "> 120", "?", "timeout"
    if out.returncode != 0 or not out.stdout:
        return "?", "?", f"exit {out.returncode}: {out.stderr.strip()[-70:]}"
    return out.stdout.strip().split("\t")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="1/16 of the red-team sizes")
    args = parser.parse_args()
    scale = 1 / 16 if args.small else 1.0
    print("| case | size | loader | file bytes | seconds | peak extra MiB | outcome |")
    print("|---|---|---|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, size, loader, build) in enumerate(cases(scale)):
            path = pathlib.Path(tmp) / f"case{i}.bin"
            build(path)
            seconds, mib, outcome = run(loader, path)
            nbytes = path.stat().st_size
            print(f"| {name} | {size} | {loader} | {nbytes:,} | {seconds} | {mib} | {outcome} |")
            path.unlink()


if __name__ == "__main__":
    main()
