"""RoBoT on NAS-Bench-201 (He et al., ICLR 2024) with NAS-Bench-Suite-Zero metric tables: a table of results.

For each target dataset and search signal (``cifar10``: the RoBoT protocol, CIFAR-10 12-epoch validation for every
dataset; ``target``: the dataset's own 12-epoch validation), runs `bo.robot.robot_search` with budget ``T`` over the
given seeds and prints mean ± std of the pick's test accuracy, of the best test accuracy among the queried
architectures, the fraction of seeds whose pick is the signal's global maximum, the signal's ceiling (test accuracy
of the signal's argmax; all of them, `/`-separated, when several cells tie within 1e-6) and the published RoBoT figure.

Usage::

    .venv/bin/python experiments/robot_nb201.py --budget 20 --seeds 0-9 --normalisations minmax
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from bo.robot import (
    ACQ_OPTIMISERS,
    GP_MODELS,
    NORMALISATIONS,
    REFERENCE_OPTIONS,
    ROBOT_METRICS,
    nb201_metric_matrix,
    nb201_signal,
    robot_search,
    signal_maximisers,
)
from nag.benchmarks.nb201 import DATASETS, NB201Benchmark
from nag.typing import parse_seeds

#: RoBoT's Table (NB201, T = 20, CIFAR-10 12-epoch validation signal): test accuracy of the pick.
PUBLISHED = {"cifar10": 94.36, "cifar100": 73.51, "ImageNet16-120": 46.34}


def run_arguments(description: str) -> argparse.ArgumentParser:
    """The options every RoBoT experiment takes: budget, seeds, datasets, signals (also `robot_collapse.py`'s)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--budget", type=int, default=20)
    p.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--signals", default="cifar10,target")
    p.add_argument("--threads", type=int, default=1)
    return p


def start(p: argparse.ArgumentParser) -> tuple[argparse.Namespace, list[int], NB201Benchmark]:
    """Parse ``p``, pin torch's threads, silence warnings: the arguments, the seeds and the benchmark."""
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    return args, parse_seeds(args.seeds), NB201Benchmark()


def main() -> None:
    p = run_arguments(__doc__.splitlines()[0])
    p.add_argument("--normalisations", default="minmax", help=f"comma list of {NORMALISATIONS}")
    p.add_argument("--acq-optimiser", default="random_lbfgs", choices=ACQ_OPTIMISERS)
    p.add_argument("--gp", default="reference", choices=GP_MODELS, help="reference = bayes_opt 1.2.0's GP")
    p.add_argument(
        "--settings",
        default="reference",
        choices=("reference", "default"),
        help="reference: bo.robot.REFERENCE_OPTIONS (the published method; one seed in ten collapses); "
        "default: robot_search's robust defaults (see experiments/robot_collapse.py)",
    )
    args, seeds, bench = start(p)
    cost = bench.column("cifar10", "cost_hp12_s")
    rows = []
    t_all = time.perf_counter()
    for ds in args.datasets.split(","):
        metrics = nb201_metric_matrix(ds, benchmark=bench)
        test = bench.column(ds, "test_acc")
        for sig_name in args.signals.split(","):
            sig = nb201_signal(ds, sig_name, bench)
            tops = signal_maximisers(
                sig
            )  # ties within 1e-6: the tables' accuracies carry representation noise
            ceiling = "/".join(f"{test[i]:.2f}" for i in tops)
            for norm in args.normalisations.split(","):
                t0 = time.perf_counter()
                picks, bests, hits, costs, t0s = [], [], [], [], []
                for s in seeds:
                    base = dict(REFERENCE_OPTIONS) if args.settings == "reference" else {}
                    r = robot_search(
                        metrics,
                        sig,
                        args.budget,
                        seed=s,
                        **base | {"normalisation": norm, "acq_optimiser": args.acq_optimiser, "gp": args.gp},
                        cost=cost,
                        names=tuple(ROBOT_METRICS),
                    )
                    picks.append(test[r.pick])
                    bests.append(max(test[i] for i in r.queried))
                    hits.append(r.pick in set(tops.tolist()))
                    costs.append(r.query_cost_s)
                    t0s.append(r.t0)
                dt = (time.perf_counter() - t0) / len(seeds)
                rows.append(
                    (
                        ds,
                        sig_name,
                        norm,
                        np.mean(picks),
                        np.std(picks),
                        np.mean(bests),
                        np.std(bests),
                        int(np.sum(hits)),
                        ceiling,
                        PUBLISHED[ds],
                        np.mean(costs),
                        np.mean(t0s),
                        dt,
                    )
                )
                print(f"done {ds} {sig_name} {norm} ({dt:.1f} s/run)", flush=True)
    head = (
        "| dataset | signal | norm | pick test (mean ± std) | best test among queried | seeds finding signal max | "
        "signal ceiling | published RoBoT | query cost s | T0 | s/run |"
    )
    print(
        f"\nRoBoT on NB201, T = {args.budget}, seeds {args.seeds} ({len(seeds)}), GP = {args.gp}, "
        f"acq = {args.acq_optimiser}, settings = {args.settings}; "
        "metric compute time unknown for these tables (counted 0)\n"
    )
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for ds, sg, nm, pm, ps, bm, bs, hit, ceil, pub, c, t0, dt in rows:
        pub_s = f"{pub:.2f}" if sg == "cifar10" else "—"
        print(
            f"| {ds} | {sg} | {nm} | {pm:.2f} ± {ps:.2f} | {bm:.2f} ± {bs:.2f} | {hit}/{len(seeds)} | {ceil} | {pub_s} | "
            f"{c:,.0f} | {t0:.1f} | {dt:.1f} |"
        )
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
