"""RoBoT without collapse: the reference settings (old default) against the robust defaults, seed by seed.

For each target dataset and search signal (``cifar10``: the RoBoT protocol, CIFAR-10 12-epoch validation for every
dataset; ``target``: the dataset's own 12-epoch validation) runs `bo.robot.robot_search` with budget ``T`` over the
seeds, once with `bo.robot.REFERENCE_OPTIONS` (``old``: the reference's settings, the default before the fix) and
once with `robot_search`'s defaults (``new``), and prints mean ± sd and the minimum over seeds of the pick's test
accuracy (200 epochs), the seeds' picks, and random search's expected pick at the same budget (exact: the expectation
over ``T`` distinct cells drawn uniformly, see `random_search_expected_pick`).

Targets (issue "Search where every query counts", part 3): minimum over seeds >= random search's mean at 20 queries
(93.02 / 69.76 / 43.29 with the target signal), and mean >= 94.36 / 73.09 / 46.34 with the CIFAR-10 signal (73.09 is
that signal's ceiling on CIFAR-100; RoBoT's published figures are 94.36 / 73.51 / 46.34).

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. nice .venv/bin/python experiments/robot_collapse.py --budget 20 --seeds 0-9

Result:

Command (2 shared CPU cores, 517 s)::

    OMP_NUM_THREADS=1 PYTHONPATH=. nice /work/main/.venv/bin/python experiments/robot_collapse.py --budget 20 --seeds 0-9

old = `bo.robot.REFERENCE_OPTIONS` (the reference; the default before), new = the defaults (``init="metrics"``,
``n_init=5``, ``2T`` phase-1 evaluations, ``failed="worst"``); test accuracy (%) of the pick, T = 20:

| dataset | signal | random search mean | old: mean ± sd | old: min | new: mean ± sd | new: min | mean target | new per seed |
|---|---|---|---|---|---|---|---|---|
| cifar10 | cifar10 | 92.98 | 93.62 ± 2.27 | 86.82 | 94.37 ± 0.00 | 94.37 | 94.36 | 94.37 94.37 94.37 94.37 94.37 94.37 94.37 94.37 94.37 94.37 |
| cifar100 | cifar10 | 69.56 | 71.64 ± 4.35 | 58.60 | 73.09 ± 0.00 | 73.09 | 73.09 | 73.09 73.09 73.09 73.09 73.09 73.09 73.09 73.09 73.09 73.09 |
| ImageNet16-120 | cifar10 | 42.86 | 44.50 ± 5.49 | 28.02 | 46.33 ± 0.00 | 46.33 | 46.34 | 46.33 46.33 46.33 46.34 46.33 46.33 46.33 46.33 46.33 46.33 |
| cifar10 | target | 92.98 | 93.62 ± 2.27 | 86.82 | 94.37 ± 0.00 | 94.37 | — | 94.37 94.37 94.37 94.37 94.37 94.37 94.37 94.37 94.37 94.37 |
| cifar100 | target | 69.64 | 70.13 ± 5.93 | 58.21 | 73.09 ± 0.00 | 73.09 | — | 73.09 73.09 73.09 73.09 73.09 73.09 73.09 73.09 73.09 73.09 |
| ImageNet16-120 | target | 42.99 | 42.84 ± 7.27 | 28.00 | 46.48 ± 0.00 | 46.48 | — | 46.48 46.48 46.48 46.48 46.48 46.48 46.48 46.48 46.48 46.48 |

Seeds 10-29 (used while choosing the defaults, so not a clean hold-out): the reference settings collapse on
CIFAR-10 and CIFAR-100 with the CIFAR-10 signal and on CIFAR-10 and ImageNet16-120 with the target signal (min
86.82 / 58.60 and 86.82 / 28.00; ImageNet16-120 target: 5 of 20 seeds at 28.0-28.6); the new defaults' min over
those 20 seeds is 94.37 / 73.09 / 46.33 (CIFAR-10 signal) and 94.37 / 73.09 / 46.48 (target signal), means 94.37 /
73.09 / 46.33 and 94.37 / 73.10 / 46.48. Intermediate defaults without ``init="metrics"`` (``n_init=5``, ``2T``,
``failed="worst"``) fixed seeds 0-9 but still collapsed on seeds 26 and 29 (ImageNet16-120, target signal: 28.00),
which is why the metric-axis initial design is in. ImageNet16-120's mean with the CIFAR-10 signal, 46.33, is that
signal's ceiling (the test accuracy of its argmax), 0.01 under the published 46.34. Random search's figures are
exact expectations; the issue's 93.02 / 69.76 / 43.29 are the harness's 10-seed means.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bo.robot import REFERENCE_OPTIONS, ROBOT_METRICS, nb201_metric_matrix, nb201_signal, robot_search

#: The issue's targets for the mean pick with the CIFAR-10 signal (RoBoT's published figures; CIFAR-100's is the
#: CIFAR-10 signal's ceiling, 73.09, below the published 73.51).
MEAN_TARGET = {"cifar10": 94.36, "cifar100": 73.09, "ImageNet16-120": 46.34}


def random_search_expected_pick(signal: np.ndarray, report: np.ndarray, budget: int) -> float:
    """Expected ``report`` value of random search's pick: the best ``signal`` among ``budget`` distinct cells drawn
    uniformly without replacement (exact, no sampling).

    The cell ranked ``r`` (0-based, by descending signal; ties by index) is the pick when it is drawn and none of the
    ``r`` cells above it is: probability ``C(K - r - 1, T - 1) / C(K, T)``.

    Args:
        signal: ``K`` search signal.
        report: ``K`` reported value (test accuracy).
        budget: ``T`` distinct queries, ``1 <= T <= K``.
    """
    from scipy.special import gammaln

    k = len(signal)
    if not 1 <= budget <= k:
        raise ValueError(f"budget: must be in 1..{k}, got {budget}")
    order = np.argsort(-np.asarray(signal, dtype=np.float64), kind="stable")
    r = np.arange(k)
    ok = k - r - 1 >= budget - 1

    def log_comb(n: np.ndarray | int, c: int) -> np.ndarray:
        return gammaln(np.asarray(n) + 1) - gammaln(c + 1) - gammaln(np.asarray(n) - c + 1)

    p = np.zeros(k)
    p[ok] = np.exp(log_comb(k - r[ok] - 1, budget - 1) - log_comb(k, budget))
    return float(p @ np.asarray(report, dtype=np.float64)[order])


def picks(
    metrics: np.ndarray,
    signal: np.ndarray,
    report: np.ndarray,
    budget: int,
    seeds: list[int],
    options: dict[str, Any],
) -> np.ndarray:
    """``report`` value of each seed's pick (``len(seeds)``) for `robot_search` with ``options``."""
    out = []
    for s in seeds:
        r = robot_search(metrics, signal, budget, seed=s, names=tuple(ROBOT_METRICS), **options)
        out.append(report[r.pick])
    return np.asarray(out)


def main() -> None:
    from robot_nb201 import run_arguments, start  # the sibling script (its folder is on sys.path)

    args, seeds, bench = start(run_arguments(__doc__.splitlines()[0]))
    variants = {"old": dict(REFERENCE_OPTIONS), "new": {}}
    t_all = time.perf_counter()
    head = (
        "| dataset | signal | random search mean | old: mean ± sd | old: min | new: mean ± sd | new: min | "
        "mean target | new per seed |"
    )
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for sig_name in args.signals.split(","):
        for ds in args.datasets.split(","):
            metrics = nb201_metric_matrix(ds, benchmark=bench)
            test = bench.column(ds, "test_acc")
            sig = nb201_signal(ds, sig_name, bench)
            rs = random_search_expected_pick(sig, test, args.budget)
            res = {v: picks(metrics, sig, test, args.budget, seeds, o) for v, o in variants.items()}
            o, n = res["old"], res["new"]
            target = f"{MEAN_TARGET[ds]:.2f}" if sig_name == "cifar10" else "—"
            lines.append(
                f"| {ds} | {sig_name} | {rs:.2f} | {o.mean():.2f} ± {o.std():.2f} | {o.min():.2f} | "
                f"{n.mean():.2f} ± {n.std():.2f} | {n.min():.2f} | {target} | {' '.join(f'{x:.2f}' for x in n)} |"
            )
            print(lines[-1], flush=True)
    print(
        f"\nRoBoT on NB201, T = {args.budget}, seeds {args.seeds}; old = {variants['old']}, new = defaults\n"
    )
    print("\n".join(lines))
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
