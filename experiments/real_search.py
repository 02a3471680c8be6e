"""Real search on the user's data: Lightning training, latency measured on this machine, the same rule for every
method (issue "Design for a real task", target 3, at a small scale).

Data: the shipped Fashion-MNIST images (``--data``), a seeded split; networks: NB201 cells (C=8, N=1, 28 px) or
MobileNetV3 (width 0.5, 32 px), small so a query trains in seconds; bound: the median measured latency
(``latency:local``) of 50 random networks of the space, measured before the runs. Each method (diffusion-BO, random
search, evolution; ``--methods``) searches for ``--wall-budget`` seconds of wall-clock per seed (``--budget`` caps
the queries); the table gives the best feasible test accuracy among queried and the pick's test accuracy (mean ± sd
over seeds), trained candidates over the bound (must be 0), measurements, seconds per query (training +
evaluation), queries and wall seconds per run. ``DIR/best_so_far_wall.png`` plots the best feasible test accuracy
against the wall-clock since each run's start.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python experiments/real_search.py --space nb201 --wall-budget 100 \
        --budget 200 --seeds 0-2 --out runs/real_search_nb201
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python experiments/real_search.py --space mbv3 --wall-budget 200 \
        --budget 200 --seeds 0-2 --out runs/real_search_mbv3
    # a setting beside the defaults: NAME[KEY=VALUE;...] (each run cached as DIR/NAME[...]_sSEED.json)
    ... --methods 'diffusion-bo,diffusion-bo[constraint_scale=20;min_feasibility=0.5],random,evolution'

Every second of a run counts against its wall-clock budget (proposing: GP fits, guided sampling and live
training-free metrics for diffusion-BO; measuring latency; training and evaluating); the shipped generators'
training (nb201 7.5 min, mbv3 15 min, once per space) is not. Recipe: SGD (Nesterov 0.9, wd 5e-4), lr 0.1 cosine,
batch 128, 2 epochs on 2,000 Fashion-MNIST images, validation 1,000 (the signal), test 1,000 (the report), no
augmentation, 1 thread; latency batch 1, 1 thread, 30 passes paired with a reference network's after 10, measured in a separate process
(`predictors.measure.IsolatedMeasurer`). Tables measured on the shared 2-core CPU, nothing else running, are in
the issue's closing notes.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from pathlib import Path

import numpy as np

from nag.typing import parse_seeds

ROOT = Path(__file__).resolve().parents[1]


class _OutOfTime(Exception):
    """Raised from the search's callback once the run has used its wall-clock budget."""


def _split_methods(text: str) -> list[str]:
    """``--methods`` split at the commas outside ``[...]``."""
    return [m.strip() for m in re.split(r",(?![^\[]*\])", text) if m.strip()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--space", default="nb201")
    p.add_argument("--seeds", default="0-2")
    p.add_argument("--budget", type=int, default=10)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-val", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument(
        "--module",
        default=None,
        help='JSON module options (default: nb201 {"C": 8, "N": 1}, mbv3 {"width_mult": 0.5})',
    )
    p.add_argument("--size", type=int, default=None, help="input size (default: nb201 28, mbv3 32)")
    p.add_argument(
        "--wall-budget",
        type=float,
        default=None,
        help="seconds of wall-clock per run (every second of the run: proposing, measuring, training); "
        "--budget then only caps the queries",
    )
    p.add_argument(
        "--methods",
        default="diffusion-bo,random,evolution",
        help="comma-separated; a method may carry options as NAME[KEY=VALUE;KEY=VALUE], e.g. "
        "'diffusion-bo[min_feasibility=0.2]' (a variant, compared side by side with the default)",
    )
    p.add_argument("--out", default=str(ROOT / "runs/real_search"))
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    from bo.loop import run_search
    from bo.oracles import TrainingOracle
    from nag.spaces import get_space

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    module = (
        json.loads(args.module)
        if args.module
        else {"nb201": {"C": 8, "N": 1}, "mbv3": {"width_mult": 0.5}}.get(args.space, {})
    )
    size = args.size or {"mbv3": 32}.get(args.space, 28)
    base = dict(space=args.space, data=args.data, epochs=args.epochs, n_train=args.n_train, n_val=args.n_val,
                n_test=args.n_test, module_kwargs=module, size=size, latency_cache=str(out / "latency.json"))  # fmt: skip
    probe = TrainingOracle(**base, constraints=["latency:local<=1e9"])
    t0 = time.perf_counter()
    lat = [m.values["latency_local"] for m in probe.measure(get_space(args.space).sample(50, seed=12345))]
    bound = float(np.median(lat))
    print(f"bound: median measured latency of 50 random {args.space} networks = {bound:.3f} ms "
          f"({time.perf_counter() - t0:.0f} s to measure)", flush=True)  # fmt: skip
    oracle = TrainingOracle(**base, constraints=[f"latency:local<={bound!r}"])
    seeds = parse_seeds(args.seeds)
    curves: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    rows = []
    from nag.cli import _method_options

    for entry in _split_methods(args.methods):
        method, _, opts = entry.partition("[")
        options = _method_options([o for o in opts.rstrip("]").split(";") if o])
        res = []
        for seed in seeds:
            f = out / f"{entry}_s{seed}.json"
            if f.exists():
                r = json.loads(f.read_text())
            else:
                t1 = time.perf_counter()
                stamps: list[float] = []  # wall seconds since the start at which each query was known
                last: list = []

                def clock(state, stamps=stamps, last=last, t1=t1) -> None:
                    stamps.extend([time.perf_counter() - t1] * (state.n_queries - len(stamps)))
                    last[:] = [state]
                    if args.wall_budget is not None and stamps and stamps[-1] >= args.wall_budget:
                        raise _OutOfTime

                try:
                    st = run_search(
                        method, oracle, args.budget, seed=seed, callback=clock, method_options=options
                    )
                except _OutOfTime:
                    st = last[0]
                s = st.summary()
                best, bw = -math.inf, []
                for i in range(st.n_queries):
                    if st.feasible[i]:
                        best = max(best, st.reports[i]["test_acc"])
                    bw.append((stamps[i], best))
                r = {
                    "queries": st.n_queries,
                    "pick_test": s["pick_report"].get("test_acc", math.nan),
                    "best_test": s["best_report_among_queried"],
                    "infeasible": s["infeasible_queries"],
                    "measurements": s["measurements"],
                    "measure_s": s["measure_cost_s"],
                    "query_s": s["query_cost_s"],
                    "one_off": {k: v for k, v in s["one_off_cost_s"].items() if v is not None},
                    "wall_s": time.perf_counter() - t1,
                    "curve": bw,
                    # per query, for diagnosis: architecture, phase, signal, test, measured latency, seconds
                    "records": [
                        {
                            "arch": a,
                            "signal": sig,
                            "test": rep.get("test_acc"),
                            "cost_s": c,
                            "latency_ms": rep.get("latency_local"),
                            "phase": ph,
                        }
                        for a, sig, rep, c, ph in zip(
                            st.archs,
                            st.signals,
                            st.reports,
                            st.costs,
                            st.phases or [None] * st.n_queries,
                            strict=False,
                        )
                    ],  # fmt: skip
                }
                f.write_text(json.dumps(r))
            res.append(r)
            curves.setdefault(entry, []).append(r["curve"])
        pick = np.array([r["pick_test"] for r in res])
        best = np.array([r["best_test"] for r in res])
        rows.append(
            f"| {entry} | {best.mean():.2f} ± {best.std(ddof=1) if len(best) > 1 else 0:.2f} | "
            f"{pick.mean():.2f} ± {pick.std(ddof=1) if len(pick) > 1 else 0:.2f} | "
            f"{sum(r['infeasible'] for r in res)} | {np.mean([r['measurements'] for r in res]):.1f} "
            f"({np.mean([r['measure_s'] for r in res]):.1f} s) | "
            f"{np.mean([r['query_s'] / max(r.get('queries', args.budget), 1) for r in res]):.1f} | "
            f"{np.mean([r.get('queries', args.budget) for r in res]):.1f} | {np.mean([r['wall_s'] for r in res]):.0f} |"
        )
    budget = (
        f"{args.wall_budget:g} s of wall-clock (at most {args.budget} queries)"
        if args.wall_budget
        else (f"{args.budget} queries")
    )
    print(f"\n{args.space} {module}, input {size} px, {args.epochs} epochs, {args.n_train}/{args.n_val}/{args.n_test} "
          f"images of {args.data}, bound {bound:.3f} ms, budget {budget}, seeds {args.seeds}")  # fmt: skip
    print("| method | best feasible test among queried | pick test | trained over the bound | measurements "
          "(s) | s per query | queries | wall s per run |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    colours = {"diffusion-bo": "C0", "random": "C1", "evolution": "C2"}
    for method, cs in curves.items():
        for k, c in enumerate(cs):
            x = [a for a, _ in c]
            y = [b if b > -math.inf else np.nan for _, b in c]
            ax.step(x, y, where="post", alpha=0.8, label=method if k == 0 else None,
                    color=colours.get(method, f"C{3 + list(curves).index(method)}"))  # fmt: skip
    ax.set_xlabel("wall-clock since the run's start (s)")
    ax.set_title(f"{args.space}: best feasible test accuracy, latency <= {bound:.2f} ms")
    ax.set_ylabel("best feasible test accuracy (%)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "best_so_far_wall.png", dpi=120)
    plt.close(fig)
    print(f"plot: {out / 'best_so_far_wall.png'}")


if __name__ == "__main__":
    main()
