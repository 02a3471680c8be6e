"""Leave-one-dataset-out transfer on NAS-Bench-Graph (issue 13): diffusion-BO with and without ``transfer_from``.

Per target dataset (sources: the other eight; signal: the target's validation performance; report: its test
performance), prints the pick's test performance after 1, 2, 5 and 10 queries next to the dataset's
validation-selected best (the test performance of the validation argmax over the whole space), how many seeds pick
within 0.1 points (0.001) of it, and how many seeds the transfer pick is strictly better than the pick of the same
method without transfer (same seed). Both modes score the whole space every step (``proposals="space"``); without
transfer the GP starts from diffusion-BO's 6 random queries.

``--part negative``: the negative-transfer case — each target with its least-correlated source only (Spearman of
the validation performance over the space), 20 queries, against no transfer.

Every run is cached as one JSON file (``<out>/<target>/<mode>/seed<k>.json``, keyed by the settings), so a killed run
resumes where it stopped.

Usage::

    nice .venv/bin/python experiments/transfer_nbgraph.py --seeds 0-4
    nice .venv/bin/python experiments/transfer_nbgraph.py --part negative --seeds 0-4
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bo.loop import run_search
from bo.oracles import BenchmarkOracle
from nag.io import cached_json
from nag.typing import parse_seeds

SPACE = "nasbench_graph"
AT = (1, 2, 5, 10, 20)
TOL = 0.001  # 0.1 points of a performance in [0, 1]
FALLBACK: float | None = None  # ``--transfer-fallback``: diffusion-BO's option, where given


def datasets() -> list[str]:
    from nag.benchmarks import get_benchmark

    return list(get_benchmark(SPACE).datasets())


def least_correlated(target: str) -> tuple[str, float]:
    """The source whose validation performance ranks the space least like the target's (Spearman)."""
    from scipy.stats import spearmanr

    from predictors.transfer import TransferTask

    y = TransferTask(SPACE, target).values()
    rho = {d: float(spearmanr(TransferTask(SPACE, d).values(), y, nan_policy="omit")[0])
           for d in datasets() if d != target}  # fmt: skip
    d = min(rho, key=lambda k: rho[k])
    return d, rho[d]


def one_run(target: str, sources: list[str] | None, seed: int, budget: int, out: Path, mode: str) -> dict:
    """One search (cached in ``out``): signals and test performances of the queries, in order."""
    path = out / target / mode / f"seed{seed}.json"
    options: dict[str, Any] = {"proposals": "space"}
    if sources:
        options["transfer_from"] = sources
        if FALLBACK is not None:
            options["transfer_fallback"] = FALLBACK
    key = {"target": target, "seed": seed, "budget": budget, "options": options}
    if sources:
        from predictors.transfer import SourceValuePrior

        key.update(SourceValuePrior.settings())

    def run() -> dict[str, Any]:
        oracle = BenchmarkOracle(SPACE, target)
        t0 = time.perf_counter()
        st = run_search("diffusion-bo", oracle, budget, seed=seed, method_options=dict(options))
        return {
            "signals": list(st.signals),
            "test": [r.get("test_perf", math.nan) for r in st.reports],
            "one_off_cost_s": dict(st.one_off_cost_s),
            "wall_s": time.perf_counter() - t0,
            "fallback_steps": st.method_state.get("fallback_steps", 0),
        }

    return cached_json(path, key, run)


def picks(rec: dict, at: tuple[int, ...]) -> dict[int, float]:
    """The pick's test performance (best signal among the first ``n``, first on ties) for each ``n``."""
    s, t = np.array(rec["signals"], dtype=float), np.array(rec["test"], dtype=float)
    return {n: float(t[int(np.nanargmax(s[:n]))]) for n in at if n <= len(s)}


def _ms(v: list[float]) -> str:
    a = 100 * np.asarray(v)
    return f"{a.mean():.2f} ± {a.std():.2f}"


def search_table(args: argparse.Namespace) -> None:
    seeds = parse_seeds(args.seeds)
    at = tuple(n for n in AT if n <= args.budget)
    out = Path(args.out)
    print(f"| target | transfer | {' | '.join(f'pick@{n}' for n in at)} | val-selected best | within 0.1 "
          f"@{args.budget} | transfer > none @{args.budget} (same seed) |")  # fmt: skip
    print("|" + "---|" * (5 + len(at)))
    targets = args.targets.split(",") if args.targets else datasets()
    wins = 0
    for target in targets:
        ceiling = BenchmarkOracle(SPACE, target).reference()["signal_ceiling"]
        sources = [d for d in datasets() if d != target]
        runs = {m: [picks(one_run(target, src, s, args.budget, out, m), at) for s in seeds]
                for m, src in (("transfer", sources), ("none", None))}  # fmt: skip
        better = sum(
            a[args.budget] > b[args.budget] + 1e-12
            for a, b in zip(runs["transfer"], runs["none"], strict=True)
        )
        close = {m: sum(r[args.budget] >= ceiling - TOL for r in rs) for m, rs in runs.items()}
        good = close["transfer"] >= (len(seeds) + 1) // 2 and better >= (len(seeds) + 1) // 2
        wins += good
        for m, rs in runs.items():
            print(f"| {target} | {'yes' if m == 'transfer' else 'no'} | "
                  f"{' | '.join(_ms([r[n] for r in rs]) for n in at)} | {100 * ceiling:.2f} | "
                  f"{close[m]}/{len(seeds)} | {f'{better}/{len(seeds)}' if m == 'transfer' else ''} |",
                  flush=True)  # fmt: skip
    print(
        f"\ndatasets where most seeds' transfer pick is within 0.1 of the validation-selected best and better "
        f"than without transfer: {wins}/{len(targets)} (performance in %, mean ± sd over {len(seeds)} seeds)"
    )


def negative_table(args: argparse.Namespace) -> None:
    seeds = parse_seeds(args.seeds)
    out = Path(args.out) / "negative"
    print("| target | source (Spearman) | pick@20 with it | pick@20 without | difference (points) ± se | worse by > 0.2 "
          "| best signal@20 with / without | fallback steps |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    targets = args.targets.split(",") if args.targets else datasets()
    for target in targets:
        src, rho = least_correlated(target)
        ra = [one_run(target, [src], s, 20, out, f"only-{src}") for s in seeds]
        rb = [one_run(target, None, s, 20, Path(args.out), "none-b20") for s in seeds]
        a = [picks(r, (20,))[20] for r in ra]
        b = [picks(r, (20,))[20] for r in rb]
        diff = 100 * (np.asarray(a) - np.asarray(b))  # paired by seed
        d, se = (
            float(diff.mean()),
            float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else math.nan,
        )
        sig = f"{_ms([max(r['signals']) for r in ra])} / {_ms([max(r['signals']) for r in rb])}"
        fb = np.mean([r.get("fallback_steps", 0) for r in ra])
        print(f"| {target} | {src} ({rho:.2f}) | {_ms(a)} | {_ms(b)} | {d:+.2f} ± {se:.2f} | "
              f"{'yes' if d < -0.2 else 'no'} | {sig} | {fb:.1f} |", flush=True)  # fmt: skip


def main() -> None:
    from transfer_nb201 import add_prior_arguments, apply_prior_arguments  # the sibling study (on sys.path)

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("search", "negative"), default="search")
    p.add_argument("--targets", default="", help="comma-separated (default: all nine)")
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--budget", type=int, default=10)
    p.add_argument("--out", default="runs/transfer_nbgraph")
    add_prior_arguments(p)
    p.add_argument(
        "--transfer-fallback", type=float, default=None, help="diffusion-BO's transfer_fallback option"
    )
    args = p.parse_args()
    torch.set_num_threads(1)
    global FALLBACK
    FALLBACK = args.transfer_fallback
    apply_prior_arguments(args)
    (search_table if args.part == "search" else negative_table)(args)


if __name__ == "__main__":
    main()
