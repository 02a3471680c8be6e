"""Training-free metrics where they pay: diffusion-BO's pick quality against its metric bill on NAS-Bench-201.

Diffusion-BO's GP scores its candidate pool with the cells' training-free metrics (NAS-Bench-Suite-Zero's 13). Each
distinct cell whose metrics are read is charged NASLib's mean compute time per cell (``zc_seconds_per_cell``, their
hardware). Settings compared, 20 queries, the target's 12-epoch validation signal, over seeds:

* ``pool`` — the former default (``zc_top=None``): metrics for every candidate of every step's pool;
* ``top K`` — metrics only for the ``K`` candidates with the highest UCB under the graph-only GP (``zc_top=K``);
* ``none`` — no metrics (``zc=False``).

Printed per dataset: mean ± sd of the pick's test accuracy (200 epochs), the best test accuracy among queried, the
distinct cells whose metrics were read, the metric hours, and the queries' own training hours (12-epoch times from
the table). Every run is cached under ``--out``.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. nice .venv/bin/python experiments/zc_cost_nb201.py --seeds 0-9

Targets (issue "Search where every query counts", part 2): no worse than the former default's 93.88 / 71.70 / 45.05
with metric compute <= the queries' own training time.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from bo.loop import run_search
from bo.oracles import BenchmarkOracle
from nag.io import atomic_write_text
from nag.typing import parse_seeds

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
#: setting name -> diffusion-BO options
SETTINGS: dict[str, dict[str, Any]] = {
    "pool": {"zc_top": None},
    "top 32": {"zc_top": 32},
    "top 16": {"zc_top": 16},
    "top 8": {"zc_top": 8},
    "none": {"zc": False},
}


def one_run(dataset: str, options: dict[str, Any], seed: int, budget: int) -> dict[str, Any]:
    """One diffusion-BO search; its pick and costs."""
    oracle = BenchmarkOracle("nb201", dataset)
    t0 = time.perf_counter()
    st = run_search("diffusion-bo", oracle, budget, seed=seed, method_options=options)
    s = st.summary()
    zc_s = s["one_off_cost_s"].get("training_free_metrics_s") or 0.0
    return {
        "pick_test": float(s["pick_report"]["test_acc"]),
        "best_test": float(s["best_report_among_queried"]),
        "zc_cells": len(st.method_state.get("zc_scored", [])),
        "zc_s": float(zc_s),
        "query_s": float(s["query_cost_s"]),
        "wall_s": time.perf_counter() - t0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0-9")
    p.add_argument("--budget", type=int, default=20)
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--settings", default=",".join(SETTINGS))
    p.add_argument("--out", default=str(ROOT / "runs/zc_cost_nb201"))
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    seeds = parse_seeds(args.seeds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    print("| dataset | metrics read for | pick test mean ± sd | best test among queried | cells with metrics | "
          "metric h | queries' training h | metric / training |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for ds in args.datasets.split(","):
        for name in args.settings.split(","):
            opts = SETTINGS[name]
            runs = []
            for seed in seeds:
                f = out / f"{ds}_{name.replace(' ', '')}_b{args.budget}_s{seed}.json"
                if f.exists():
                    r = json.loads(f.read_text())
                else:
                    r = one_run(ds, opts, seed, args.budget)
                    atomic_write_text(f, json.dumps(r))
                runs.append(r)
            pick = np.array([r["pick_test"] for r in runs])
            best = np.array([r["best_test"] for r in runs])
            zc_h = np.mean([r["zc_s"] for r in runs]) / 3600
            q_h = np.mean([r["query_s"] for r in runs]) / 3600
            sd = pick.std(ddof=1) if len(pick) > 1 else math.nan
            print(
                f"| {ds} | {name} | {pick.mean():.2f} ± {sd:.2f} | {best.mean():.2f} | "
                f"{np.mean([r['zc_cells'] for r in runs]):.0f} | {zc_h:.2f} | {q_h:.2f} | {zc_h / q_h:.2f} |",
                flush=True,
            )
    print(
        f"\nseeds {seeds[0]}-{seeds[-1]} ({len(seeds)}), budget {args.budget}, {time.perf_counter() - t_start:.0f} s"
    )


if __name__ == "__main__":
    main()
