"""Generation quality and speed of the shipped diffusion checkpoints, against the issue's targets.

For each space: validity (as generated, after repair, and of the raw thresholded graphs), uniqueness, novelty,
operation-frequency TV (NB201 also with 10,000 samples beside an exact uniform sampler, since 1,000 samples alone put
the TV of a perfect sampler near 0.02), edge-count / degree TV for generated topologies, and valid architectures per
second at batch 1,000 for the fast sampler — with the ratio to the reference's 1,000-step predictor-corrector
sampler measured in the same process. Means ± standard deviations over seeds.

    .venv/bin/python experiments/bench/bench_diffusion.py [--spaces nb201,nb101,nasbench_graph] [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def _ms(xs: list[float], fmt: str = "{:.4f}") -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{fmt.format(statistics.mean(xs))} ± {fmt.format(sd)}"


def bench_space(name: str, ckpt: Path, seeds: int, n: int, steps: int, solver: str, pc_n: int) -> list[tuple]:
    from nag.diffusion.metrics import generation_report
    from nag.diffusion.model import GraphDiffusionModel
    from nag.diffusion.sampler import generate, sample
    from nag.spaces import get_space

    model, state = GraphDiffusionModel.load_with_state(ckpt)
    sp = get_space(model.space_name)
    train = [sp.parse(t) for t in state["extra"]["train_archs"]]
    rows: dict[str, list] = {}
    sample(model, sp, 64, steps=steps, solver=solver, seed=999)  # warm-up (first-call allocations)
    for seed in range(seeds):
        res = sample(model, sp, n, steps=steps, solver=solver, seed=seed, repair=5)
        rep = generation_report(sp, res.archs, train, elapsed_s=res.seconds)
        vals = {
            "validity as generated": res.validity_before_repair,
            "validity after repair": res.validity,
            "raw validity (independent edges)": res.raw_validity if model.generate_edges else None,
            "uniqueness (raw)": rep.unique_raw,
            "uniqueness (canonical)": rep.uniqueness,
            "novelty (raw)": rep.novelty_raw,
            "novelty (canonical)": rep.novelty,
            f"op-frequency TV (n={n})": rep.op_freq_tv,
            "edge-count TV": rep.edge_count_tv,
            "degree TV": rep.degree_tv,
            f"valid archs / s ({solver} {steps}, batch {n})": sum(res.valid) / res.seconds,
        }
        for k, v in vals.items():
            rows.setdefault(k, []).append(v)
    out = [(name, k, _ms(v, "{:.1f}" if "/ s" in k else "{:.4f}")) for k, v in rows.items()]
    g = generate(model, sp, n, unique=True, seed=0, steps=steps, solver=solver, repair=5)
    out.append((name, f"--unique: distinct of {n} (samples drawn)", f"{len(set(g.archs))} ({g.attempts})"))
    if sp.name == "nb201":
        big = sample(model, sp, 10 * n, steps=steps, solver=solver, seed=0)
        tv = generation_report(sp, big.archs, train).op_freq_tv
        exact = generation_report(sp, sp.sample(10 * n, seed=0), train).op_freq_tv
        out.append((name, f"op-frequency TV (n={10 * n}) / exact sampler", f"{tv:.4f} / {exact:.4f}"))
    if pc_n:
        t0 = time.perf_counter()
        pc = sample(model, sp, pc_n, steps=1000, solver="pc", seed=0, batch_size=pc_n)
        pc_rate = sum(pc.valid) / (time.perf_counter() - t0)
        fast = statistics.mean(rows[f"valid archs / s ({solver} {steps}, batch {n})"])
        out.append((name, f"PC-1000 sampler: valid archs / s (batch {pc_n})", f"{pc_rate:.1f}"))
        out.append((name, f"speed-up of {solver}-{steps} over PC-1000", f"{fast / pc_rate:.0f}x"))
    m = state.get("metrics", {})
    out.append(
        (
            name,
            "training: steps / seconds / params",
            f"{m.get('steps')} / {m.get('elapsed_s', 0):.0f} / {m.get('params')}",
        )
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spaces", default="nb201,nb201_split10,nb101,nasbench_graph")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--solver", default="dpm")
    ap.add_argument("--pc-n", type=int, default=100, help="samples for the 1,000-step PC sampler (0: skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.spaces.split(","):
        ckpt = ROOT / "checkpoints" / f"diffusion_{name}.pt"
        rows += bench_space(
            name,
            ckpt,
            args.seeds,
            args.n,
            args.steps,
            args.solver,
            args.pc_n if name != "nb201_split10" else 0,
        )
    if args.json:
        print(json.dumps(rows))
        return
    w = max(len(r[1]) for r in rows)
    print(f"{'checkpoint':16s} {'metric':{w}s} value (mean ± sd over {args.seeds} seeds)")
    for r in rows:
        print(f"{r[0]:16s} {r[1]:{w}s} {r[2]}")


if __name__ == "__main__":
    main()
