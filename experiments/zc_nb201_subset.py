"""Our training-free metrics on a seeded subset of NB201 cells: rank correlation, and RoBoT on them vs the tables.

The subset is the first ``--n`` distinct cells of ``NB201Space().sample(4 * n, seed)``. Metric values come from the
runner's cache (``runs/zc_nb201/cache.jsonl``; compute or extend it with ``--compute``; ``ZCConfig(batch_size=16)``:
one real Fashion-MNIST batch of 16, C = 16, N = 5). Prints

1. Spearman ρ of each metric with NB201 CIFAR-10 test accuracy on the cells that have it, next to the published
   value (issue 5; SWAP-reg's on CIFAR-100);
2. RoBoT (reference GP, T = ``--budget``, seeds) restricted to the cells that have all six RoBoT metrics, with our
   metrics and with the NAS-Bench-Suite-Zero table metrics of the same cells; signal: CIFAR-10 12-epoch validation.
   The metric compute cost of our run is the sum of the cache's ``time_s`` over those cells (measured, 1 CPU thread,
   on a shared machine); the tables' cost is unknown.

Usage::

    .venv/bin/python experiments/zc_nb201_subset.py --n 1000 --seeds 0-9
    .venv/bin/python experiments/zc_nb201_subset.py --n 1000 --compute --metrics grad_norm,snip  # extend the cache
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from bo.robot import ROBOT_METRICS, nb201_metric_matrix, nb201_signal, robot_search, signal_maximisers
from nag.benchmarks.nb201 import NB201Benchmark
from nag.spaces.nb201 import NB201Arch, NB201Space
from nag.typing import parse_seeds
from predictors.zero_cost.metrics import PUBLISHED_SPEARMAN
from predictors.zero_cost.runner import ZCConfig, load_cache, run_metrics

#: Spearman ρ with NB201 CIFAR-10 test accuracy as published (issue 5; SWAP-reg on CIFAR-100).
CONFIG = ZCConfig(batch_size=16)


def nb201_subset(n: int, seed: int = 0) -> list[NB201Arch]:
    """The first ``n`` distinct cells of ``NB201Space().sample(4 * n, seed)`` (sampling order)."""
    seen: dict[str, NB201Arch] = {}
    for a in NB201Space().sample(4 * n, seed=seed):
        seen.setdefault(a.arch_str, a)
        if len(seen) == n:
            break
    return list(seen.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=Path("runs/zc_nb201/cache.jsonl"))
    ap.add_argument("--compute", action="store_true", help="compute missing values of --metrics first")
    ap.add_argument("--metrics", default=",".join(PUBLISHED_SPEARMAN) + ",params,flops")
    ap.add_argument("--budget", type=int, default=20)
    ap.add_argument("--seeds", default="0-9")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    archs = nb201_subset(args.n, args.seed)
    metrics = [m for m in args.metrics.split(",") if m]
    if args.compute:
        run_metrics(archs, metrics, cache=args.cache, config=CONFIG)
    recs = load_cache(args.cache)
    space, bench = NB201Space(), NB201Benchmark()
    idx = np.array([space.index(a) for a in archs])
    test = bench.column("cifar10", "test_acc")[idx]

    def values(m: str, field: str = "value") -> np.ndarray:
        return np.array(
            [recs.get((a.arch_str, m, CONFIG.key), {}).get(field, np.nan) for a in archs], dtype=np.float64
        )

    print(
        f"subset: {len(archs)} distinct NB201 cells (seed {args.seed}); cache {args.cache} (config {CONFIG.key})\n"
    )
    print(
        "| metric | Spearman ρ with C10 test acc (ours) | cells | NaN among computed | published | median s/cell |"
    )
    print("|---|---|---|---|---|---|")
    have = {}
    for m in metrics:
        v = values(m)
        computed = np.array([(a.arch_str, m, CONFIG.key) in recs for a in archs])
        ok = computed & np.isfinite(v)
        have[m] = computed
        rho = spearmanr(v[ok], test[ok]).statistic if ok.sum() > 2 else np.nan
        pub = PUBLISHED_SPEARMAN.get(m)
        t = np.nanmedian(values(m, "time_s")[computed]) if computed.any() else np.nan
        print(
            f"| {m} | {rho:.3f} | {int(ok.sum())} | {int((computed & ~np.isfinite(v)).sum())} | "
            f"{'' if pub is None else f'{pub:.2f}'} | {t:.3f} |"
        )

    six = list(ROBOT_METRICS)
    full = np.logical_and.reduce([have.get(m, np.zeros(len(archs), bool)) for m in six])
    if full.sum() < args.budget:
        print(f"\nRoBoT skipped: only {int(full.sum())} cells have all six RoBoT metrics")
        return
    sub = idx[full]
    ours = np.stack([values(m)[full] for m in six])
    table = nb201_metric_matrix("cifar10", benchmark=bench)[:, sub]
    sig = nb201_signal("cifar10", "cifar10", bench)[sub]
    tops = set(signal_maximisers(sig).tolist())
    cost = np.nansum(np.stack([values(m, "time_s")[full] for m in six]))
    print(
        f"\nRoBoT on the {len(sub)} cells with all six metrics, T = {args.budget}, seeds {args.seeds}; signal CIFAR-10 "
        f"12-epoch val; subset ceiling (C10 test of the signal's argmax): "
        f"{'/'.join(f'{test[full][i]:.2f}' for i in sorted(tops))}; best C10 test in subset: {test[full].max():.2f}\n"
    )
    print("| metrics | pick C10 test (mean ± std) | seeds finding the subset signal max | metric compute s |")
    print("|---|---|---|---|")
    for label, mat, c in (
        ("ours (predictors/zero_cost)", ours, f"{cost:,.0f}"),
        ("NAS-Bench-Suite-Zero", table, "?"),
    ):
        picks, hits = [], 0
        for s in parse_seeds(args.seeds):
            r = robot_search(mat, sig, args.budget, seed=s, names=tuple(six))
            picks.append(test[full][r.pick])
            hits += r.pick in tops
        print(f"| {label} | {np.mean(picks):.2f} ± {np.std(picks):.2f} | {hits}/{len(picks)} | {c} |")


if __name__ == "__main__":
    main()
