"""Predictor benchmark (PROTOCOL.md "Predictor runs"): Kendall τ / Spearman ρ of the GNN ensemble trained on N random
labelled architectures and tested on all the rest, mean ± sd over seeds; training time on this machine; sanity
baselines on one-hot operations (+ the same training-free features); noise-aware τ against clean labels vs the
diffusion timestep t.

Usage::

    nice .venv/bin/python experiments/bench/bench_predictors.py --parts nb201 nb101 nbg noise baselines

Prints markdown tables and writes ``runs/bench_predictors/<timestamp>/results.json`` (each finished run is appended
at once, so an interrupted benchmark keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from predictors.accuracy import FeatureScaler  # noqa: E402
from predictors.api import evaluate, load_pool, train_predictor  # noqa: E402
from predictors.metrics import kendall_tau, spearman  # noqa: E402

NB201_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def _ms(v: list[float]) -> str:
    v = [x for x in v if x == x]
    if not v:
        return "–"
    return f"{np.mean(v):.3f} ± {np.std(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"


class Recorder:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.rows: list[dict] = []
        out.mkdir(parents=True, exist_ok=True)

    def add(self, row: dict) -> None:
        self.rows.append(row)
        tmp = self.out / ".results.json.tmp"
        tmp.write_text(json.dumps(self.rows, indent=1, default=float))
        os.replace(tmp, self.out / "results.json")
        print(json.dumps({k: v for k, v in row.items() if k != "by_t"}, default=float), flush=True)


def run_grid(
    rec: Recorder, space: str, target: str, dataset: str, sizes, seeds, features, cfg, large_seeds: int = 5
) -> None:
    for feat in features:
        try:
            pool = load_pool(space, target, dataset, feat)
        except Exception as e:  # a benchmark without that feature set
            print(f"skip {space}/{dataset}/{feat}: {e}")
            continue
        for n in sizes:
            if n >= len(pool):
                print(f"skip N={n}: only {len(pool)} labelled architectures")
                continue
            for seed in seeds if n < 1000 else seeds[:large_seeds]:
                t0 = time.perf_counter()
                _, rep = train_predictor(n_train=n, seed=seed, pool=pool, **cfg)
                rec.add(
                    {
                        "part": "gnn",
                        "space": space,
                        "dataset": pool.dataset,
                        "target": pool.target,
                        "features": feat,
                        "n_train": n,
                        "seed": seed,
                        "tau": rep["test"]["kendall_tau"],
                        "rho": rep["test"]["spearman"],
                        "top5": rep["test"]["top5pct_precision"],
                        "train_s": rep["fit"]["train_seconds"],
                        "wall_s": time.perf_counter() - t0,
                        "epochs": rep["fit"].get("refit_epochs", rep["fit"]["epochs"]),
                        "n_test": rep["test"]["n_test"],
                    }
                )


def run_baselines(rec: Recorder, dataset: str, sizes, seeds) -> None:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import Ridge

    pool = load_pool("nb201", "test_acc", dataset, "zc")
    onehot = pool.graphs.X.flatten(1).numpy()
    for n in sizes:
        for seed in seeds:
            perm = np.random.default_rng(seed).permutation(len(pool))
            tr, te = perm[:n], perm[n:]
            zc = FeatureScaler().fit(pool.features[tr]).transform(pool.features).numpy()
            for feat, M in (("onehot", onehot), ("onehot+zc", np.concatenate([onehot, zc], 1))):
                for name, model in (
                    ("ridge", Ridge(alpha=1.0)),
                    ("random_forest", RandomForestRegressor(200, random_state=seed, n_jobs=1)),
                ):
                    t0 = time.perf_counter()
                    model.fit(M[tr], pool.y[tr])
                    p = model.predict(M[te])
                    rec.add(
                        {
                            "part": "baseline",
                            "model": name,
                            "space": "nb201",
                            "dataset": pool.dataset,
                            "features": feat,
                            "n_train": n,
                            "seed": seed,
                            "tau": kendall_tau(p, pool.y[te]),
                            "rho": spearman(p, pool.y[te]),
                            "train_s": time.perf_counter() - t0,
                        }
                    )


def run_noise(rec: Recorder, ckpt: str, n: int, seeds, cfg) -> None:
    from nag.diffusion.model import GraphDiffusionModel

    pool = load_pool("nb201", "test_acc", "cifar10", "none")
    diffusion = GraphDiffusionModel.load(ckpt)
    for seed in seeds:
        pred, rep = train_predictor(n_train=n, seed=seed, pool=pool, noise_aware_model_path=ckpt, **cfg)
        # the clean predictor of the same data and seed, scored on the same noisy inputs (it ignores t)
        clean, _ = train_predictor(n_train=n, seed=seed, pool=pool, **cfg)
        perm = np.random.default_rng(seed).permutation(len(pool))
        sub = perm[n:][:3000]
        clean_by_t = {}
        for t in rep["test_by_t"]:
            if t == 0:
                clean_by_t[t] = evaluate(clean, pool, sub)["kendall_tau"]
                continue
            # noise the test graphs exactly as `evaluate` does for the noise-aware one, then ask the clean model
            graphs, y, _ = pool.subset(sub)
            tt = torch.full((len(sub),), t, dtype=torch.long)
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                x_t, _ = diffusion.noise(graphs, tt)
            from nag.graph import ArchGraph

            noisy = ArchGraph(X=(x_t + 1) / 2, A=graphs.A, mask=graphs.mask, ops=graphs.ops)
            clean_by_t[t] = kendall_tau(clean.predict(noisy).mean, y)
        rec.add(
            {
                "part": "noise",
                "space": "nb201",
                "dataset": "cifar10",
                "n_train": n,
                "seed": seed,
                "by_t": rep["test_by_t"],
                "clean_by_t": clean_by_t,
                "train_s": rep["fit"]["train_seconds"],
                "fingerprint": rep["schedule_fingerprint"],
            }
        )


def tables(rows: list[dict]) -> str:
    out = []
    gnn = [r for r in rows if r["part"] == "gnn"]
    if gnn:
        out.append("### GNN ensemble: held-out Kendall τ / Spearman ρ (mean ± sd over seeds)\n")
        out.append("| space | dataset | target | features | N | seeds | τ | ρ | top-5% prec. | train s |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        keys = sorted({(r["space"], r["dataset"], r["target"], r["features"], r["n_train"]) for r in gnn},
                      key=lambda k: (k[0], k[1], k[3], k[4]))  # fmt: skip
        for k in keys:
            rs = [r for r in gnn if (r["space"], r["dataset"], r["target"], r["features"], r["n_train"]) == k]
            out.append(
                f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {k[4]} | {len(rs)} | {_ms([r['tau'] for r in rs])} | "
                f"{_ms([r['rho'] for r in rs])} | {_ms([r['top5'] for r in rs])} | "
                f"{np.mean([r['train_s'] for r in rs]):.1f} |"
            )
    base = [r for r in rows if r["part"] == "baseline"]
    if base:
        out.append("\n### Baselines on NB201 (one-hot ops, optionally + the same training-free features)\n")
        out.append("| model | dataset | features | N | τ | ρ |")
        out.append("|---|---|---|---|---|---|")
        keys = sorted({(r["model"], r["dataset"], r["features"], r["n_train"]) for r in base})
        for k in keys:
            rs = [r for r in base if (r["model"], r["dataset"], r["features"], r["n_train"]) == k]
            out.append(
                f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {_ms([r['tau'] for r in rs])} | {_ms([r['rho'] for r in rs])} |"
            )
    noise = [r for r in rows if r["part"] == "noise"]
    if noise:
        ts = sorted({int(t) for r in noise for t in r["by_t"]})
        out.append(
            f"\n### Noise-aware τ vs t (NB201 CIFAR-10, N={noise[0]['n_train']}, clean labels, ≤3000 test graphs)\n"
        )
        out.append("| model | " + " | ".join(f"t={t}" for t in ts) + " |")
        out.append("|---|" + "---|" * len(ts))
        for key, name in (("by_t", "noise-aware"), ("clean_by_t", "clean (same data)")):
            vals = [_ms([r[key][t] if t in r[key] else r[key][str(t)] for r in noise]) for t in ts]
            out.append(f"| {name} | " + " | ".join(vals) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", nargs="+", default=["nb201", "nb101", "nbg", "noise", "baselines"])
    ap.add_argument("--datasets", nargs="+", default=list(NB201_DATASETS))
    ap.add_argument("--sizes", nargs="+", type=int, default=[10, 20, 50, 100, 1000])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--features", nargs="+", default=["zc", "none"])
    ap.add_argument("--ensemble", type=int, default=5)
    ap.add_argument("--seeds-large", type=int, default=5, help="seeds for N >= 1000")
    ap.add_argument("--max-epochs", type=int, default=400)
    ap.add_argument("--min-epochs", type=int, default=100)
    ap.add_argument("--patience", type=int, default=50)
    ap.add_argument("--nb101-sizes", nargs="+", type=int, default=[100, 200])
    ap.add_argument("--nbg-sizes", nargs="+", type=int, default=[100, 1000])
    ap.add_argument("--noise-n", type=int, default=1000)
    ap.add_argument("--noise-seeds", type=int, default=1)
    ap.add_argument("--diffusion", default="checkpoints/diffusion_nb201.pt")
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out or f"runs/bench_predictors/{time.strftime('%Y%m%d-%H%M%S')}")
    rec = Recorder(out)
    seeds = list(range(args.seeds))
    cfg = {
        "ensemble": args.ensemble,
        "max_epochs": args.max_epochs,
        "min_epochs": args.min_epochs,
        "patience": args.patience,
    }
    big = args.seeds_large
    if "nb201" in args.parts:
        for ds in args.datasets:
            run_grid(rec, "nb201", "test_acc", ds, args.sizes, seeds, args.features, cfg, big)
    if "nb101" in args.parts:
        run_grid(rec, "nb101", "val_acc", "cifar10", args.nb101_sizes, seeds, args.features, cfg, big)
    if "nbg" in args.parts:
        run_grid(rec, "nasbench_graph", "test_perf", "cora", args.nbg_sizes, seeds, ["none"], cfg, big)
    if "noise" in args.parts:
        run_noise(rec, args.diffusion, args.noise_n, list(range(args.noise_seeds)), cfg)
    if "baselines" in args.parts:
        run_baselines(rec, "cifar10", [n for n in args.sizes if n >= 20], seeds)
    print()
    print(f"machine: {os.cpu_count()} CPU cores (shared), torch threads {args.threads}; results in {out}")
    print(tables(rec.rows))


if __name__ == "__main__":
    main()
