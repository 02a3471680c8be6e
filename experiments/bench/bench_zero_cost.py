"""Training-free metrics: per-metric CPU time, agreement with the benchmark tables, and rank correlation with accuracy.

    .venv/bin/python experiments/bench/bench_zero_cost.py            # N = 100 random NB201 cells
    .venv/bin/python experiments/bench/bench_zero_cost.py --n 500    # the issue's agreement target

Prints three tables:

1. seconds per metric for one NB201 network (the best CIFAR-10 cell, C = 16, N = 5) on a real Fashion-MNIST batch,
   with 1 and 2 torch threads (median of ``--reps`` runs after one warm-up), the sum over RoBoT's six metrics
   computed one by one, and the six computed together (`gradient_metrics`: one shared forward pass for grad_norm,
   snip, grasp, fisher and jacob_cov, plus synflow) — the figure the runner achieves;
2. Spearman ρ between our synflow / params / FLOPs and the tables' precomputed values on N seeded random cells
   (``zc_*`` are NAS-Bench-Suite-Zero values keyed by the cell with unreachable ops removed, so params and FLOPs are
   compared on that reduced cell; synflow is compared on the cell itself);
3. Spearman ρ of every metric with CIFAR-10 test accuracy on the same N cells, next to the published value.

Metric values are cached in ``runs/bench_zero_cost/cache.jsonl`` (a rerun resumes).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from scipy.stats import spearmanr

from nag.benchmarks.nb201 import NB201Benchmark, reduce_unreachable
from nag.spaces.nb201 import NB201Space
from predictors.zero_cost import compute, list_metrics
from predictors.zero_cost.metrics import PUBLISHED_SPEARMAN, SHARED_GRADIENT_METRICS, gradient_metrics
from predictors.zero_cost.runner import ZCConfig, run_metrics

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ROBOT_METRICS = ("grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov")
#: Spearman ρ with NB201 CIFAR-10 test accuracy as published (issue 5; SWAP-reg on CIFAR-100).


def _rho(a, b) -> tuple[float, int]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    return float(spearmanr(a[ok], b[ok]).statistic), int(ok.sum())


def time_metrics(metrics: list[str], batch_size: int, threads: int, reps: int) -> dict[str, float]:
    torch.set_num_threads(threads)
    space = NB201Space()
    cfg = ZCConfig(batch_size=batch_size)
    batch = cfg.batch()
    torch.manual_seed(0)
    net = space.to_module(space.parse(BEST_C10))
    out = {}
    for m in metrics:
        compute(m, net, batch)  # warm-up
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            compute(m, net, batch)
            ts.append(time.perf_counter() - t0)
        out[m] = statistics.median(ts)
    shared = tuple(m for m in SHARED_GRADIENT_METRICS if m in metrics)
    if shared:
        gradient_metrics(net, batch, shared)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            gradient_metrics(net, batch, shared)
            if "synflow" in metrics:
                compute("synflow", net, batch)
            ts.append(time.perf_counter() - t0)
        out["_robot_shared"] = statistics.median(ts)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="random NB201 cells for the correlation tables")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=16, help="minibatch size (64 costs ~4x more CPU time)")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per metric")
    ap.add_argument("--metrics", default=",".join(list_metrics()))
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=Path("runs/bench_zero_cost/cache.jsonl"))
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--timing-only", action="store_true", help="print the timing table and stop")
    args = ap.parse_args()
    metrics = [m for m in args.metrics.split(",") if m]
    console = Console()

    if not args.skip_timing:
        t1 = time_metrics(metrics, args.batch, 1, args.reps)
        t2 = time_metrics(metrics, args.batch, 2, args.reps)
        tab = Table(title=f"seconds per metric, one NB201 network (C=16, N=5), batch {args.batch}, CPU")
        for c in ("metric", "1 thread", "2 threads"):
            tab.add_column(c, justify="right" if c != "metric" else "left")
        for m in metrics:
            tab.add_row(m, f"{t1[m]:.3f}", f"{t2[m]:.3f}")
        robot = [m for m in ROBOT_METRICS if m in metrics]
        tab.add_row(
            "RoBoT six, one by one (sum)",
            f"{sum(t1[m] for m in robot):.3f}",
            f"{sum(t2[m] for m in robot):.3f}",
        )
        if "_robot_shared" in t1:
            tab.add_row(
                "RoBoT six, shared pass (combined)",
                f"{t1['_robot_shared']:.3f}",
                f"{t2['_robot_shared']:.3f}",
            )
        tab.add_row(
            "all (sum, one by one)",
            f"{sum(t1[m] for m in metrics):.3f}",
            f"{sum(t2[m] for m in metrics):.3f}",
        )
        console.print(tab)
        if args.timing_only:
            return
    torch.set_num_threads(2)

    space, bench = NB201Space(), NB201Benchmark()
    archs = space.sample(args.n, seed=args.seed)
    t0 = time.perf_counter()
    res = run_metrics(
        archs, metrics, cache=args.cache, config=ZCConfig(batch_size=args.batch), workers=args.workers
    )
    console.print(
        f"{len(archs)} cells: {res.computed} values computed in {time.perf_counter() - t0:.1f} s, "
        f"{res.reused} read from {args.cache}"
    )
    vals = res.table

    def table_col(name: str) -> np.ndarray:
        return np.array([bench.query(a, "cifar10", name) for a in archs])

    reduced = [reduce_unreachable(a) for a in archs]
    agree = Table(title=f"agreement with the precomputed tables, Spearman ρ on {len(archs)} random cells")
    for c in ("ours", "table column", "ρ", "n"):
        agree.add_column(c)
    rows = []
    if "synflow" in metrics:
        rows += [("synflow", "zc_synflow", vals["synflow"], table_col("zc_synflow"))]
        rows += [("synflow", "synflow (FreeREA)", vals["synflow"], table_col("synflow"))]
    if "params" in metrics:
        rows += [("params", "params_mb", vals["params"], table_col("params_mb"))]
        red_params = [compute("params", space.to_module(a), None) for a in reduced]
        rows += [("params (reduced cell)", "zc_params", red_params, table_col("zc_params"))]
    if "flops" in metrics:
        red_flops = [compute("flops", space.to_module(a), None) for a in reduced]
        rows += [("flops (reduced cell)", "zc_flops", red_flops, table_col("zc_flops"))]
    if "naswot" in metrics:
        rows += [("naswot", "naswot (FreeREA)", vals["naswot"], table_col("naswot"))]
        rows += [("naswot", "zc_nwot", vals["naswot"], table_col("zc_nwot"))]
    for ours, col, a, b in rows:
        rho, n = _rho(a, b)
        agree.add_row(ours, col, f"{rho:.4f}", str(n))
    console.print(agree)

    acc = table_col("test_acc")
    corr = Table(
        title=f"Spearman ρ with CIFAR-10 test accuracy, {len(archs)} random cells (our batch: Fashion-MNIST)"
    )
    for c in ("metric", "ρ ours", "n", "published", "median s/cell"):
        corr.add_column(c)
    for m in metrics:
        rho, n = _rho(vals[m], acc)
        pub = PUBLISHED_SPEARMAN.get(m)
        corr.add_row(
            m, f"{rho:.3f}", str(n), "" if pub is None else f"{pub:.2f}", f"{res.times[m].median():.3f}"
        )
    console.print(corr)


if __name__ == "__main__":
    main()
