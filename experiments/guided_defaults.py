"""Guided generation's defaults, measured: what `nag generate --space nb201 --maximize accuracy:cifar10 -n 100` gives.

Per seed, the predictors are trained once exactly as the CLI trains them (`predictors.objectives.accuracy_target`:
a clean ensemble with training-free features for re-ranking, a noise-aware one for guidance, on ``--n-train``
random labelled cells, 200-epoch CIFAR-10 test accuracy), then `nag.guidance.guided_generate` is run for each
candidate-pool size. Reported per pool size: the share of the ``n`` returned cells in the space's true top 5%, the
best true test accuracy, and wall seconds (predictor training, once per seed, and sampling + re-ranking per pool).
The last row ranks all 15,625 cells with the same clean predictor (the re-ranker's ceiling: no pool can do better
than its own predictor's ranking of the whole space).

    OMP_NUM_THREADS=1 .venv/bin/python experiments/guided_defaults.py [--seeds 0,1,2,3,4,11] [--pools 400,1000,2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nag.benchmarks import get_benchmark
from nag.diffusion.model import GraphDiffusionModel
from nag.guidance import guided_generate, objective, scale_schedule
from nag.spaces import get_space
from predictors.objectives import build_target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4,11")
    ap.add_argument("--pools", default="400,1000,2000")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--n-train", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    pools = [int(p) for p in args.pools.split(",")]
    space = get_space("nb201")
    model = GraphDiffusionModel.load("checkpoints/diffusion_nb201.pt")
    truth = get_benchmark("nb201").column("cifar10", "test_acc")
    top5 = np.nanquantile(truth, 0.95)
    everything = list(space.enumerate())
    sched = scale_schedule("cosine", model.schedule.num_train_timesteps)
    rows: dict[str, list[tuple[float, float, float]]] = {}
    train_s = []
    for seed in seeds:
        t0 = time.perf_counter()
        target = build_target(
            space, "accuracy:cifar10", model, kind="maximize", n_train=args.n_train, seed=seed
        )
        train_s.append(time.perf_counter() - t0)
        term = objective(target.guide, scale=3.0, schedule=sched)
        for pool in pools:
            t0 = time.perf_counter()
            res = guided_generate(model, space, args.n, [term], rank=target.predict, pool=pool, seed=seed)
            tr = target.truth(res.archs)
            rows.setdefault(f"pool {pool}", []).append(
                (float(np.mean(tr >= top5)), float(np.nanmax(tr)), time.perf_counter() - t0)
            )
        order = np.argsort(-target.predict(everything))[: args.n]
        tr = truth[order]
        rows.setdefault("whole space ranked", []).append(
            (float(np.mean(tr >= top5)), float(np.nanmax(tr)), 0.0)
        )
        print(
            f"seed {seed}: " + "; ".join(f"{k} {v[-1][0]:.2f}/{v[-1][1]:.2f}" for k, v in rows.items()),
            flush=True,
        )
    print(f"\nNB201 CIFAR-10, n={args.n}, n_train={args.n_train}, seeds {args.seeds}; predictor training "
          f"{np.mean(train_s):.1f} ± {np.std(train_s):.1f} s per seed ({args.threads} thread(s))\n")  # fmt: skip
    print("| setting | share in true top 5% | min over seeds | best true test acc | min best | sampling s |")
    print("|---|---|---|---|---|---|")
    for k, v in rows.items():
        a = np.array(v)
        print(f"| {k} | {a[:, 0].mean():.2f} ± {a[:, 0].std():.2f} | {a[:, 0].min():.2f} | "
              f"{a[:, 1].mean():.2f} ± {a[:, 1].std():.2f} | {a[:, 1].min():.2f} | {a[:, 2].mean():.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
