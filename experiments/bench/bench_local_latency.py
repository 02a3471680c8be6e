"""Latency measured on this machine: repeatability, the local latency models' Spearman, seconds per measurement.

Three markdown tables (issue 12, part 3):

(a) repeatability: ``--n-networks`` random networks per space are measured once each, then all once more (the two
    passes minutes apart, each network rebuilt, and for ONNX Runtime re-exported); the median relative difference
    ``|m1 - m2| / mean(m1, m2)`` and the share of networks within 5 %, per space, backend and statistic (the
    value a search uses, `LatencyMeasurement.ms`: the median ratio to the reference network's passes alternating
    with them, times the reference's latency; and the fastest and the median of the network's own passes).
(b) local latency model: fitted on ``--n-train`` measured random networks, Spearman ρ with the measured latency of
    ``--n-test`` other random networks (torch backend). Every network is measured twice (two rounds): the model
    sees one measurement per network, as in a search, and is scored against that one measurement, against the
    faster of the two (on a shared machine the noise is mostly one-sided: others slow the core down), and the two
    rounds are compared with each other (the ceiling that measurement noise puts on any model). NB201: `NB201LocalLatency` (meta-learned prior adapted to
    the measured cells); MobileNetV3: `MBV3LatencyTable` (per-block table, then the affine fit on the measured
    networks; the ``k=0`` column is the table sum alone).
(c) seconds per measurement (building the network, export for ONNX Runtime, warm-up and timed passes): mean ± sd
    over every measurement of (a) and (b); the one-off costs (meta-training the NB201 prior, measuring the MBv3
    table) listed separately.

Settings: batch 1, 1 thread, CPU-time clock (`predictors.measure`), NB201 at 32 px (C=16, N=5, 10 classes),
MobileNetV3 at ``--mbv3-px`` px (10 classes). Usage::

    nice .venv/bin/python experiments/bench/bench_local_latency.py [--n-networks 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

import numpy as np
import torch
from scipy.stats import spearmanr

from nag.spaces import get_space
from nag.spaces.base import sample_distinct
from predictors.local_latency import MBV3LatencyTable, NB201LocalLatency, default_nb201_prior
from predictors.measure import (
    BACKENDS,
    REPEATS,
    WARMUP,
    LatencyMeasurement,
    machine_fingerprint,
    measure_latency,
)

#: Statistics compared: the latency a search uses (paired with the reference network), then the network's own passes.
LABEL = {"ms": "paired (used)", "min_ms": "min of own passes", "median_ms": "median of own passes"}


def _ms(a: list[float] | np.ndarray) -> str:
    a = np.asarray(a, dtype=float)
    return f"{a.mean():.2f} ± {a.std(ddof=1) if len(a) > 1 else 0.0:.2f}"


def _distinct(space, n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return sample_distinct(lambda: space.sample(64, seed=rng), space.canonical, n, max_draws=100 * n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--n-networks", type=int, default=30, help="networks of the repeatability table, per space"
    )
    p.add_argument("--n-train", type=int, default=20, help="measured networks the local model is fitted on")
    p.add_argument("--n-test", type=int, default=200, help="held-out measured networks it is scored on")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mbv3-px", type=int, default=64, help="MobileNetV3 input resolution")
    p.add_argument("--warmup", type=int, default=WARMUP)
    p.add_argument("--repeats", type=int, default=REPEATS)
    p.add_argument("--spaces", default="nb201,mbv3")
    p.add_argument("--backends", default=",".join(BACKENDS))
    args = p.parse_args()
    torch.set_num_threads(1)
    spaces = args.spaces.split(",")
    backends = args.backends.split(",")
    size = {"nb201": (3, 32, 32), "mbv3": (3, args.mbv3_px, args.mbv3_px)}
    common = dict(num_classes=10, threads=1, warmup=args.warmup, repeats=args.repeats)
    cost: dict[tuple[str, str], list[float]] = defaultdict(list)
    one_off: list[str] = []
    t_start = time.perf_counter()

    def measure(name: str, arch, backend: str) -> LatencyMeasurement:
        m = measure_latency(name, arch, backend=backend, input_size=size[name], **common)
        cost[(name, backend)].append(m.wall_s)
        return m

    print(f"machine: {machine_fingerprint()}; load average at start: {os.getloadavg()[0]:.2f}")
    print(
        f"settings: batch 1, 1 thread, clock = thread CPU time, warm-up {args.warmup}, {args.repeats} timed "
        f"passes; nb201 3x32x32 (C=16, N=5), mbv3 3x{args.mbv3_px}x{args.mbv3_px}; 10 classes; seed {args.seed}\n"
    )

    # (a) repeatability
    rows = []
    for name in spaces:
        space = get_space(name)
        archs = _distinct(space, args.n_networks, args.seed)
        for backend in backends:
            passes = [[measure(name, a, backend) for a in archs] for _ in range(2)]
            for stat in ("ms", "min_ms", "median_ms"):
                v = np.array([[getattr(m, stat) for m in ps] for ps in passes])
                rd = np.abs(v[0] - v[1]) / v.mean(0)
                rows.append(
                    f"| {name} | {backend} | {LABEL[stat]} | {len(archs)} | {np.median(rd) * 100:.1f} % | "
                    f"{np.mean(rd <= 0.05) * 100:.0f} % | {np.median(v):.2f} |"
                )
            print(f"  (a) {name}/{backend} done, {time.perf_counter() - t_start:.0f} s", flush=True)
    print("\n### (a) Repeatability: two measurements of the same network\n")
    print("| space | backend | statistic | networks | median rel. diff. | within 5 % | median latency (ms) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows), flush=True)

    # (b) local latency model
    rows = []
    for name in spaces:
        space = get_space(name)
        archs = _distinct(space, args.n_train + args.n_test, args.seed + 1)
        train, test = archs[: args.n_train], archs[args.n_train :]
        t0 = time.perf_counter()
        if name == "nb201":
            default_nb201_prior()
            model = NB201LocalLatency()
            one_off.append(
                f"nb201 meta-trained prior (40 table latency columns): {time.perf_counter() - t0:.1f} s"
            )
        else:
            model = MBV3LatencyTable.measure(backend="torch", input_size=size[name], **common)
            one_off.append(
                f"mbv3 block table (90 MBConv entries + stem + head, 3 rounds): {time.perf_counter() - t0:.1f} s"
            )
        # two rounds over all networks: the model is fitted on round 1 (one measurement each, as a search has);
        # the held-out networks are scored against round 1 and against the faster of both rounds
        meas = [[measure(name, a, "torch") for a in archs] for _ in range(2)]
        print(f"  (b) {name} measured, {time.perf_counter() - t_start:.0f} s", flush=True)
        for stat in ("ms", "min_ms", "median_ms"):
            y2 = np.array([[getattr(m, stat) for m in r] for r in meas])
            y, y_best = y2[0], y2.min(0)
            y_train, y_test, best_test = y[: args.n_train], y[args.n_train :], y_best[args.n_train :]
            model.fit({space.format(a): v for a, v in zip(train, y_train, strict=True)})
            pred = model.predict(test)
            k0 = f"{spearmanr(model.raw_sum(test), y_test)[0]:.3f}" if name == "mbv3" else "n/a (needs k ≥ 2)"
            mape = np.median(np.abs(pred - y_test) / y_test) * 100
            rows.append(
                f"| {name} | {LABEL[stat]} | {args.n_train} | {len(test)} | {k0} | "
                f"**{spearmanr(pred, y_test)[0]:.3f}** | {spearmanr(pred, best_test)[0]:.3f} | "
                f"{spearmanr(y2[0, args.n_train :], y2[1, args.n_train :])[0]:.3f} | {mape:.1f} % | "
                f"{y_test.min():.2f} – {y_test.max():.2f} |"
            )
    print(
        f"\n### (b) Local latency model: Spearman with measured latency, {args.n_train} measured -> held-out\n"
    )
    print(
        "| space | statistic | fitted on | held out | ρ table alone (k=0) | ρ vs one measurement | "
        "ρ vs faster of two | ρ measurement vs its repeat | median abs. % error | measured range (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows), flush=True)

    # (c) cost
    print("\n### (c) Seconds per measurement (build + export + warm-up + timed passes), mean ± sd\n")
    print("| space | backend | measurements | s per measurement |")
    print("|---|---|---|---|")
    for (name, backend), c in cost.items():
        print(f"| {name} | {backend} | {len(c)} | {_ms(c)} |")
    print("\none-off: " + "; ".join(one_off))
    print(
        f"\ntotal wall time {time.perf_counter() - t_start:.0f} s; load average at end: {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
