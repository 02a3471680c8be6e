"""Guided generation under a latency bound measured on this machine (``nag generate --constraint
latency:local<=MS``; issue "Design for a real task", part 3/5).

For each space (NB201 C=16 N=5 at 32 px; MobileNetV3 width 0.5 at 32 px) the bound is set at the 10th, 30th and 50th
percentile of the measured latency of 50 random networks; for each seed, ``n`` networks are generated with the
constraint (the local latency model: NB201's meta-learned device prior, MobileNetV3's per-block table, fitted on 10
networks measured here) and then *every one is measured*. The table gives the share truly within the bound (mean ±
sd over seeds) against the share of random networks (the percentile itself), the model's relative error on the
generated networks, the distinct networks, and the seconds (model + sampling + measuring).

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. nice .venv/bin/python experiments/guided_local_latency.py [--seeds 0-2] [--n 50]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from nag.typing import parse_seeds

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"nb201": {}, "mbv3": {"width_mult": 0.5}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spaces", default="nb201,mbv3")
    p.add_argument("--seeds", default="0-2")
    p.add_argument("--n", type=int, default=50)
    p.add_argument("--quantiles", default="0.1,0.3,0.5")
    p.add_argument("--cache", default=str(ROOT / "runs/guided_local_latency/latency.json"))
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    from nag.checkpoint import default_checkpoint
    from nag.diffusion.model import GraphDiffusionModel
    from nag.spaces import get_space
    from predictors.design import design, parse_request
    from predictors.measure import LatencyCache

    Path(args.cache).parent.mkdir(parents=True, exist_ok=True)
    cache = LatencyCache(args.cache)
    rows = []
    for name in args.spaces.split(","):
        space = get_space(name)
        model = GraphDiffusionModel.load(default_checkpoint(name))
        mk = SETTINGS.get(name, {})
        kw = dict(input_size=(3, 32, 32), num_classes=10, threads=1, module_kwargs=mk or None)
        rand = np.array([cache.measure(space, a, **kw).ms for a in space.sample(50, seed=12345)])
        for qt in (float(v) for v in args.quantiles.split(",")):
            bound = float(np.quantile(rand, qt))
            shares, errs, uniq, secs, fails = [], [], [], [], []
            for seed in parse_seeds(args.seeds):
                t0 = time.perf_counter()
                req = parse_request(space, [], [f"latency:local<={bound!r}"])
                try:
                    res = design(space, model, req, args.n, seed=seed,
                                 local_latency={"input_size": 32, "module_kwargs": mk, "cache": cache})  # fmt: skip
                except RuntimeError as e:  # the sampler found fewer than n predicted-feasible networks
                    fails.append(seed)
                    print(f"{name} q{qt:g} seed {seed}: {e}", flush=True)
                    continue
                true, pred = res.true[0], res.predicted[0]
                shares.append(float(np.mean(true <= bound)))
                errs.append(float(np.median(np.abs(pred - true) / true)))
                uniq.append(len({space.format(a) for a in res.archs}))
                secs.append(time.perf_counter() - t0)
                print(f"{name} q{qt:g} seed {seed}: {shares[-1]:.0%} within {bound:.3f} ms "
                      f"(model error {errs[-1]:.1%}, {secs[-1]:.0f} s)", flush=True)  # fmt: skip
            sd = np.std(shares, ddof=1) if len(shares) > 1 else 0.0
            rows.append(
                f"| {name} | {qt:.0%} ({bound:.2f} ms) | {np.mean(shares):.0%} ± {sd:.0%} | {qt:.0%} | "
                f"{np.mean(errs):.1%} | {np.mean(uniq):.0f} / {args.n} | {np.mean(secs):.0f} | {len(fails)} |"
                if shares
                else f"| {name} | {qt:.0%} ({bound:.2f} ms) | - | {qt:.0%} | - | - | - | {len(fails)} |"
            )
    print(f"\n{args.n} networks per seed, seeds {args.seeds}; 1 thread, batch 1, torch")
    print(
        "| space | bound (percentile of random) | generated within the bound (measured) | random within | "
        "model error (median rel.) | distinct | s per run | seeds short of n |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
