"""Real-task resources: peak memory of one MobileNetV3 training query, and the Ray speed-up of parallel queries.

Two markdown tables (issue 12, targets "Memory" and "Ray"):

(a) memory: one `bo.oracles.TrainingOracle` query (Lightning training, 1 epoch, batch ``--batch-size``, 1 thread,
    Fashion-MNIST) per row, each in a fresh Python process, whose peak resident memory (``ru_maxrss``) is read at
    its end; the same process's resident memory after the imports and the data load, before training, is the
    baseline. Rows: the largest MobileNetV3 network of the space (every stage depth 4, kernel 7, expand 6) and the
    median-size one of 20 random networks, at ``--sizes`` pixels. Target: <= 2 GB at batch 128.
(b) Ray: ``--queries`` training queries (the same 4 random networks for every executor) evaluated serially in this
    process, then with `bo.executors.RayExecutor` on a local instance of ``--workers`` CPUs (one task per query,
    1 torch thread each), then with `bo.executors.ProcessExecutor`. Wall seconds per executor; the ratio to the
    serial time. Ray's start-up (``ray.init``) is timed separately and counted in the "with start-up" column.
    Target: <= 0.65 x serial with 2 workers.

The machine's load average is printed with each table: a parallel speed-up needs the cores to be free.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python experiments/bench/bench_real_task.py [--space mbv3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(1)
from bo.oracles import TrainingOracle
from nag.spaces import get_space
cfg = json.loads(sys.argv[1])
sp = get_space(cfg["space"])
oracle = TrainingOracle(space=cfg["space"], epochs=1, n_train=cfg["n_train"], n_val=256, n_test=256,
                        batch_size=cfg["batch_size"], size=cfg["size"], module_kwargs=cfg["module"], seed=0)
arch = sp.parse(cfg["arch"])
def rss_now():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
base = rss_now()
t = time.perf_counter()
ev = oracle.evaluate([arch])[0]
print(json.dumps({"base_mb": base, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - t, "val": ev.signal}))
"""


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def memory_table(args) -> None:
    import numpy as np
    import torch

    from nag.spaces import get_space

    sp = get_space("mbv3")
    largest = sp.parse(json.dumps({"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5}))
    rnd = sp.sample(20, seed=0)
    params = [sum(p.numel() for p in sp.to_module(a, num_classes=10).parameters()) for a in rnd]
    median = rnd[int(np.argsort(params)[len(params) // 2])]
    del torch
    print(f"\n(a) peak resident memory of one MobileNetV3 training query (batch {args.batch_size}, 1 epoch on "
          f"{args.n_train} Fashion-MNIST images, 1 thread; load average {_load()})\n")  # fmt: skip
    print("| network | px | baseline MB (imports + data) | peak MB | training s | <= 2 GB |")
    print("|---|---|---|---|---|---|")
    for name, arch in (("largest (d4 k7 e6)", largest), ("median of 20 random", median)):
        for size in args.sizes:
            cfg = dict(space="mbv3", arch=sp.format(arch), size=size, batch_size=args.batch_size,
                       n_train=args.n_train, module={})  # fmt: skip
            out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(cfg)], capture_output=True, text=True,
                                 cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})  # fmt: skip
            if out.returncode:
                print(f"| {name} | {size} | failed: {out.stderr.strip().splitlines()[-1]} | | | |")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            ok = "yes" if r["peak_mb"] <= 2048 else "**no**"
            print(f"| {name} | {size} | {r['base_mb']:.0f} | {r['peak_mb']:.0f} | {r['seconds']:.1f} | {ok} |",
                  flush=True)  # fmt: skip


def ray_table(args) -> None:
    import torch

    torch.set_num_threads(1)
    from bo.executors import ProcessExecutor, RayExecutor, SerialExecutor
    from bo.oracles import TrainingOracle
    from nag.spaces import get_space

    module = json.loads(args.module)
    sp = get_space(args.space)
    oracle = TrainingOracle(space=args.space, epochs=args.epochs, n_train=args.n_train, n_val=500, n_test=500,
                            batch_size=args.batch_size, size=args.ray_size, module_kwargs=module, seed=0)  # fmt: skip
    archs = sp.sample(args.queries, seed=1)
    rows = []
    from bo.executors import WARM_UP_MODULES, warm_up_imports

    warm_up_imports(WARM_UP_MODULES)  # the serial baseline is a warm process too
    t = time.perf_counter()
    serial = SerialExecutor().map(oracle, archs)
    t_serial = time.perf_counter() - t
    rows.append(("serial (this process)", t_serial, t_serial))
    t = time.perf_counter()
    ray_ex = RayExecutor(num_cpus=args.workers, warm_up=False)
    t_init = time.perf_counter() - t
    try:
        t = time.perf_counter()
        par = ray_ex.map(oracle, archs)
        t_ray = time.perf_counter() - t
    finally:
        ray_ex.close()
    rows.append((f"ray, {args.workers} cold workers (warm_up=False)", t_ray, t_ray + t_init))
    t = time.perf_counter()
    ray_ex = RayExecutor(num_cpus=args.workers)  # the default: workers import what a query needs at start
    t_init_w = time.perf_counter() - t
    try:
        t = time.perf_counter()
        ray_ex.wait_warm()  # in a search this overlaps the driver's own start (generator, first proposal)
        t_warm = time.perf_counter() - t
        t = time.perf_counter()
        par_w = ray_ex.map(oracle, archs)
        t_ray_w = time.perf_counter() - t
    finally:
        ray_ex.close()
    rows.append((f"ray, {args.workers} warmed workers (default)", t_ray_w, t_ray_w + t_init_w + t_warm))
    same_w = all(abs(a.signal - b.signal) < 1e-9 for a, b in zip(serial, par_w, strict=True))
    same = all(abs(a.signal - b.signal) < 1e-9 for a, b in zip(serial, par, strict=True))
    with ProcessExecutor(args.workers) as pex:
        t = time.perf_counter()
        pex.map(oracle, archs)
        t_proc = time.perf_counter() - t
    rows.append((f"process pool, {args.workers} workers", t_proc, t_proc))
    print(f"\n(b) {args.queries} training queries ({args.space} {module}, {args.epochs} epoch(s), {args.n_train} "
          f"images, {args.ray_size} px, batch {args.batch_size}, 1 torch thread per worker; load average "
          f"{_load()}; ray.init {t_init:.1f} s)\n")  # fmt: skip
    print("| executor | wall s | ratio to serial | with start-up | ratio with start-up |")
    print("|---|---|---|---|---|")
    for name, w, w0 in rows:
        print(f"| {name} | {w:.1f} | {w / t_serial:.2f} | {w0:.1f} | {w0 / t_serial:.2f} |")
    print(f"\nsame validation accuracies serial and on Ray: {same} (cold), {same_w} (warmed; warm-up "
          f"{t_warm:.1f} s after ray.init {t_init_w:.1f} s)")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=("memory", "ray", "all"), default="all")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument(
        "--n-train", type=int, default=1280, help="training images (memory: 10 steps at batch 128)"
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 64], help="input pixels for the memory table")
    p.add_argument("--space", default="mbv3", help="space of the Ray table")
    p.add_argument("--module", default='{"width_mult": 0.5}', help="JSON module options of the Ray table")
    p.add_argument("--ray-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--queries", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    if args.part in ("memory", "all"):
        memory_table(args)
    if args.part in ("ray", "all"):
        ray_table(args)


if __name__ == "__main__":
    main()
