"""Predictor-guided generation on NAS-Bench-201 (issue 4 targets), against the true table values.

For each seed, accuracy predictors (a clean ensemble for re-ranking, a noise-aware one for guidance) are trained on
100 random labelled cells (CIFAR-10 200-epoch test accuracy); then:

1. **accuracy**: 100 distinct cells from (a) the unguided sampler, (b) guided sampling + re-ranking a pool, (c) the
   same predictor ranking all 15,625 cells (exhaustive), (d) unguided sample-then-rank at the same number of
   predictor evaluations as (b). Reported: share in the true top 5%, best and mean true test accuracy.
2. **latency constraint**: maximise accuracy subject to ``latency:<device> <= b``; share of the 100 cells that truly
   meet the bound, and the best true accuracy among them vs the constrained optimum of the table.
3. **Pareto**: accuracy × latency sweep; hypervolume of the generated set (true values) over the true front's.

Run: ``.venv/bin/python experiments/guided_nb201.py [--seeds 5] [--quick]``; prints markdown tables.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nag.benchmarks import get_benchmark
from nag.diffusion.model import GraphDiffusionModel
from nag.diffusion.sampler import generate
from nag.guidance import (
    constraint,
    guided_generate,
    hypervolume_2d,
    objective,
    pareto_generate,
    pareto_mask,
    parse_condition,
    scale_schedule,
)
from nag.spaces import get_space
from predictors.objectives import accuracy_target, build_target


def ms(x) -> str:
    x = np.asarray(x, dtype=float)
    return f"{x.mean():.3f} ± {x.std():.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--n-train", type=int, default=100)
    ap.add_argument("--pool", type=int, default=500, help="guided candidates re-ranked per run")
    ap.add_argument("--scale", type=float, default=3.0)
    ap.add_argument("--schedule", default="cosine")
    ap.add_argument("--device", default="edgegpu")
    ap.add_argument(
        "--bound", type=float, default=None, help="latency bound (ms); default: the space's median"
    )
    ap.add_argument("--pareto-device", default="pixel3")
    ap.add_argument("--space", default="nb201", help="nb201, or nasbench_graph (accuracy section only)")
    ap.add_argument("--dataset", default="", help="default: cifar10 (nb201) / cora (nasbench_graph)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--guide", default="noise-aware", help="noise-aware or denoised (clean predictor on p(x0|x_t))"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    space = get_space(args.space)
    nb201 = space.name == "nb201"
    dataset = args.dataset or ("cifar10" if nb201 else "cora")
    bench = get_benchmark(space.name)
    model = GraphDiffusionModel.load(f"checkpoints/diffusion_{space.name}.pt")
    archs = list(space.enumerate())
    key = space.format if nb201 else space.canonical
    index = {key(a): i for i, a in enumerate(archs)}
    acc = bench.column(dataset, "test_acc" if nb201 else "test_perf")
    top5 = np.nanquantile(acc, 0.95)
    if nb201:
        lat = bench.column("cifar10", f"latency_{args.device}")
        bound = float(np.nanmedian(lat)) if args.bound is None else args.bound
        constrained_opt = float(acc[lat <= bound].max())
    sched = scale_schedule(args.schedule, model.schedule.num_train_timesteps)

    def truth(a):
        return acc[[index[key(x)] for x in a]]

    rows: dict[str, list] = {}

    def add(name, a, extra=None):
        y = truth(a)
        r = rows.setdefault(name, {"top5": [], "best": [], "mean": [], "secs": [], "evals": []})
        r["top5"].append(float((y >= top5).mean()))
        r["best"].append(float(np.nanmax(y)))
        r["mean"].append(float(np.nanmean(y)))
        for k, v in (extra or {}).items():
            r[k].append(v)

    con_rows, par_rows, train_s = [], [], []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        target = accuracy_target(space, parse_condition(f"accuracy:{dataset}"), model,
                                 n_train=args.n_train, seed=seed, guide=args.guide)  # fmt: skip
        train_s.append(time.perf_counter() - t0)
        print(f"seed {seed}: predictors trained in {train_s[-1]:.0f} s", flush=True)
        # (a) unguided
        t0 = time.perf_counter()
        un = generate(model, space, args.n, seed=seed, steps=10, solver="dpm")
        add("unguided diffusion", un.archs, {"secs": time.perf_counter() - t0, "evals": 0})
        # (b) guided + re-rank
        term = objective(target.guide, scale=args.scale, schedule=sched, name="accuracy")
        t0 = time.perf_counter()
        res = guided_generate(model, space, args.n, [term], rank=target.predict, pool=args.pool, seed=seed,
                              steps=10, solver="dpm")  # fmt: skip
        add(f"guided (scale {args.scale:g}, {args.schedule}) + re-rank {args.pool}", res.archs,
            {"secs": time.perf_counter() - t0, "evals": res.pool})  # fmt: skip
        # (c) exhaustive ranking with the same clean predictor
        t0 = time.perf_counter()
        pred = target.predict(archs)
        top = np.argsort(-pred)[: args.n]
        add(f"predictor ranks all {len(archs):,}", [archs[i] for i in top],
            {"secs": time.perf_counter() - t0, "evals": len(archs)})  # fmt: skip
        # (d) unguided sample-then-rank at equal predictor evaluations
        t0 = time.perf_counter()
        pool = generate(model, space, res.pool, seed=seed + 1, steps=10, solver="dpm").archs
        p = target.predict(pool)
        add("unguided sample (same count) then rank", [pool[i] for i in np.argsort(-p)[: args.n]],
            {"secs": time.perf_counter() - t0, "evals": len(pool)})  # fmt: skip

        print(f"seed {seed}: accuracy section done", flush=True)
        if not nb201:
            continue
        # 2. latency constraint
        lt = build_target(space, f"latency:{args.device}<={bound}", model)
        cterm = constraint(lt.guide, bound, width=0.05 * bound, scale=20.0, schedule=sched, name="latency")
        t0 = time.perf_counter()
        cres = guided_generate(
            model, space, args.n, [term, cterm], feasible=lambda a, lt=lt: lt.predict(a) <= bound,
            rank=target.predict, pool=args.pool, seed=seed, steps=10, solver="dpm",
        )  # fmt: skip
        tl = lat[[index[x] for x in cres.archs]]
        ok = tl <= bound
        ya = truth(cres.archs)
        con_rows.append(
            (float(ok.mean()), float(ya[ok].max()) if ok.any() else float("nan"), time.perf_counter() - t0)
        )

        print(f"seed {seed}: constraint section done", flush=True)
        # 3. Pareto accuracy x latency (pareto device)
        pt = build_target(space, f"latency:{args.pareto_device}<=1", model)
        plat = bench.column("cifar10", f"latency_{args.pareto_device}")
        pred_lat = pt.predict(archs)
        bounds = np.quantile(pred_lat, np.linspace(0.02, 0.98, 12))

        def evaluate(a, target=target, pt=pt):
            return np.stack([target.predict(a), pt.predict(a)], 1)

        t0 = time.perf_counter()
        pr = pareto_generate(model, space, term, pt.guide, bounds, evaluate, n_per_bound=10, seed=seed,
                             schedule=sched, cost_scale=20.0, steps=10, solver="dpm")  # fmt: skip
        pts = np.stack([truth(pr.archs), plat[[index[x] for x in pr.archs]]], 1)
        true_pts = np.stack([acc, plat], 1)
        ref = (float(np.nanmin(acc)), float(np.nanmax(plat)))
        hv_true = hypervolume_2d(true_pts[pareto_mask(true_pts, (True, False))], ref)
        par_rows.append((hypervolume_2d(pts, ref) / hv_true, len(pr.archs), time.perf_counter() - t0))
        print(f"seed {seed} done", flush=True)

    print(f"\n## Accuracy-guided generation, {space.name} {dataset}, predictor on {args.n_train} labels, "
          f"{args.n} distinct cells, {args.seeds} seeds (mean ± sd)\n")  # fmt: skip
    print(
        f"true top 5% threshold: {top5:.4g}; optimum {np.nanmax(acc):.4g}; predictor training {ms(train_s)} s per seed\n"
    )
    print("| method | share in true top 5% | best test acc | mean test acc | predictor evals | seconds |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {ms(r['top5'])} | {ms(r['best'])} | {ms(r['mean'])} | {np.mean(r['evals']):.0f} "
              f"| {ms(r['secs'])} |")  # fmt: skip
    if not nb201:
        return
    c = np.array(con_rows)
    print(f"\n## Latency constraint latency_{args.device} <= {bound:.3f} ms (table median); constrained optimum "
          f"{constrained_opt:.2f}\n")  # fmt: skip
    print("| truly feasible share | best feasible test acc | gap to constrained optimum | seconds |")
    print("|---|---|---|---|")
    print(f"| {ms(c[:, 0])} | {ms(c[:, 1])} | {ms(constrained_opt - c[:, 1])} | {ms(c[:, 2])} |")
    p = np.array(par_rows)
    print(f"\n## Pareto accuracy × latency_{args.pareto_device}: hypervolume / true front's (reference: worst acc, "
          f"max latency)\n")  # fmt: skip
    print("| HV ratio | architectures generated | seconds |")
    print("|---|---|---|")
    print(f"| {ms(p[:, 0])} | {ms(p[:, 1])} | {ms(p[:, 2])} |")


if __name__ == "__main__":
    main()
