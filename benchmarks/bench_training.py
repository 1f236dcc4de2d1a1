"""One training step (forward + loss + backward + optimizer step): minidl against PyTorch.

Run by hand: ``python benchmarks/bench_training.py [--repeats 15] [--profile]``.

For LeNet-5 and source article 003's CNN (``minidl.nn.zoo``) at batch 32, 64 and 128 (issue 14's
target; ``--batches 1 8 16`` times a student's small batches instead), float32, the
same architecture is built in PyTorch and both take Adam steps on the same random batch. Each
framework runs in its own process (in one process, each one's speed depended on the other's
allocations: see bench_sweep.py); the two processes alternate ``--rounds`` times (so a busy
machine slows both alike) and the best of ``--repeats`` steps of all rounds is kept. Printed:
both times, their ratio (issue 14's target: <= 1.2) and one epoch over 60,000 28x28 images
extrapolated from the step time (60,000 / batch steps). PyTorch gets as many threads as the
machine has cores (``torch.set_num_threads(os.cpu_count())``) and so does NumPy's BLAS
(threadpoolctl); ``--threads 1`` compares single-threaded, which a busy machine disturbs less.

With two threads or more a third process times minidl's step with the model wrapped in
``minidl.nn.DataParallel`` (each batch cut into one part per thread where a part has the work,
the parts side by side): the columns ``DP ms`` and ``DP ratio``; a fourth, in
``minidl.nn.ProcessDataParallel`` (the same parts, each beyond the first in a worker process):
``PDP ms`` and ``PDP ratio``.

``--profile`` adds (on stderr) the forward and backward time of each minidl layer (best of the
repeats) for every case, to show which layer is the bottleneck.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from timing import alternating_processes, interleaved, machine
from torch import nn

from minidl.nn import DataParallel, ProcessDataParallel, zoo
from minidl.nn.losses import CrossEntropyLoss
from minidl.optim import Adam

EPOCH = 60_000


def torch_net(name):
    if name == "lenet5":
        layers = [
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
        ]  # fmt: skip
    else:
        layers = [
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10),
        ]  # fmt: skip
    return nn.Sequential(*layers)


WRAPPERS = {"minidl": None, "minidl-dp": DataParallel, "minidl-pdp": ProcessDataParallel}


def make_steps(name, batch, rng, wrapper=None):
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(10, size=batch)
    net = getattr(zoo, name)(rng=rng)
    model = wrapper(net) if wrapper else net
    crit, opt = CrossEntropyLoss(), Adam(1e-3)

    def minidl_step():
        crit(model(x), y)
        model.backward(crit.backward(), input_grad=False)  # torch: x needs no grad either
        opt.step(model.params, model.grads)

    tnet = torch_net(name)
    tnet.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in net.state_dict().items()})
    topt = torch.optim.Adam(tnet.parameters(), 1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def torch_step():
        topt.zero_grad()
        nn.functional.cross_entropy(tnet(tx), ty).backward()
        topt.step()

    return model, x, y, minidl_step, torch_step


def profile_layers(model, x, y, repeats):
    crit = CrossEntropyLoss()
    fwd = [float("inf")] * len(model.layers)
    bwd = list(fwd)
    for _ in range(repeats):
        h = x
        for i, layer in enumerate(model.layers):
            t = time.perf_counter()
            h = layer(h)
            fwd[i] = min(fwd[i], time.perf_counter() - t)
        crit(h, y)
        d = crit.backward()
        for i in reversed(range(len(model.layers))):
            layer = model.layers[i]
            t = time.perf_counter()
            d = layer.backward(d) if i else layer.backward_params(d)
            bwd[i] = min(bwd[i], time.perf_counter() - t)
    for i, layer in enumerate(model.layers):
        print(f"      {i:>2} {type(layer).__name__:<10} fwd {fwd[i] * 1e3:7.2f} ms"
              f"   bwd {bwd[i] * 1e3:7.2f} ms", file=sys.stderr)  # fmt: skip


BATCHES = (32, 64, 128)


def cases(batches=BATCHES):
    """``(model, batch)`` of every step timed, in the order of the table."""
    return [(name, batch) for name in ("lenet5", "article003_cnn") for batch in batches]


def time_framework(framework, repeats, profile, batches=BATCHES):
    """In this process: the best step time (seconds) of every case, for one framework."""
    rng = np.random.default_rng(0)
    times = []
    for name, batch in cases(batches):
        model, x, y, ours, theirs = make_steps(name, batch, rng, WRAPPERS.get(framework))
        step = theirs if framework == "torch" else ours
        for _ in range(2):  # warm-up: allocations, BLAS threads, Adam state, worker processes
            step()
        times.append(interleaved([step], repeats)[0])
        if framework == "minidl-pdp":
            model.close()
        if profile and framework == "minidl":
            print(f"{name} batch {batch}:", file=sys.stderr)
            profile_layers(model, x, y, repeats)
    return times


def run_child(framework, args):
    # both variables, as bench_sweep.py: minidl's worker threads follow them too
    threads = str(args.threads)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
    cmd = [sys.executable, __file__, "--child", framework, "--threads", str(args.threads)]
    cmd += ["--repeats", str(args.repeats)] + (["--profile"] if args.profile else [])
    cmd += ["--batches", *map(str, args.batches)]
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the processes")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES),
                        help="batch sizes (default: 32 64 128, issue 14's target)")  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(), help="threads for both (default: cores)"
    )
    parser.add_argument("--child", choices=["torch", *WRAPPERS], help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = args.threads
    torch.set_num_threads(threads)
    threadpool_limits(threads)  # NumPy's BLAS, the same number
    if args.child:
        print(json.dumps(time_framework(args.child, args.repeats, args.profile, args.batches)))
        return
    frameworks = ["minidl", "torch"] + (["minidl-dp", "minidl-pdp"] if threads > 1 else [])
    best = alternating_processes(lambda f: run_child(f, args), frameworks, args.rounds)
    load = os.getloadavg()
    print(f"torch {torch.__version__}, {threads} threads; numpy {np.__version__}; float32, Adam; "
          f"{machine()}")
    print(
        f"best of {args.repeats} steps x {args.rounds} alternating processes per framework; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; epoch = {EPOCH:,} images\n"
    )
    header = f"{'model':<15}{'batch':>6}{'minidl ms':>11}{'torch ms':>10}{'ratio':>7}"
    header += f"{'minidl epoch s':>16}{'torch epoch s':>15}"
    wrapped = [("DP", "minidl-dp"), ("PDP", "minidl-pdp")]
    wrapped = [(label, f) for label, f in wrapped if f in best]
    print(header + "".join(f"{label + ' ms':>8}{label + ' ratio':>11}" for label, _ in wrapped))
    for k, case in enumerate(cases(args.batches)):
        (name, batch), steps = case, EPOCH / case[1]
        t_ours, t_torch = best["minidl"][k], best["torch"][k]
        row = f"{name:<15}{batch:>6}{t_ours * 1e3:>11.1f}{t_torch * 1e3:>10.1f}"
        row += f"{t_ours / t_torch:>7.2f}{t_ours * steps:>16.1f}{t_torch * steps:>15.1f}"
        for _, framework in wrapped:
            t = best[framework][k]
            row += f"{t * 1e3:>8.1f}{t / t_torch:>11.2f}"
        print(row)


if __name__ == "__main__":
    main()
