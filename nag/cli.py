"""The ``nag`` command: thin wrappers that parse options, call library functions and print.

Heavy libraries are imported inside commands, so ``nag --help`` answers quickly. Bad input (unknown space, malformed
architecture, unknown dataset/metric) prints one line naming the field and the accepted values and exits with 2.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Annotated

import typer

from nag.errors import DataNotFoundError, InvalidArchitectureError, InvalidChoiceError

app = typer.Typer(
    name="nag",
    help="NAG: predictor-guided generative neural-architecture design.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
data_app = typer.Typer(help="Benchmark data: what is found where.", no_args_is_help=True)
app.add_typer(data_app, name="data")
train_app = typer.Typer(help="Train the project's models.", no_args_is_help=True)
app.add_typer(train_app, name="train")
zc_app = typer.Typer(
    help="Training-free (zero-cost) metrics on real untrained networks.", no_args_is_help=True
)
app.add_typer(zc_app, name="zc")


_DATASET_HELP = (
    "Dataset as the benchmark names it: nb201: cifar10, cifar100, ImageNet16-120 (aliases c10, c100, in16, "
    "imagenet16); nb101: cifar10; nasbench_graph: cora, citeseer, pubmed, cs, physics, photo, computers, arxiv, "
    "proteins."
)
_SPACE_HELP = (
    "Search space: nb201, nb101, nasbench_graph, mbv3 (aliases nasbench201, nasbench101, nbgraph, ofa)."
)


class UsageError(Exception):
    """Bad input found by the CLI itself; printed as one line, exit code 2."""


def _console():
    from rich.console import Console

    return Console()


@app.command("spaces")
def spaces_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the search spaces with their sizes and encodings."""
    from nag.benchmarks import BENCHMARKS
    from nag.spaces import get_space, space_names

    rows = []
    for name in space_names():
        sp = get_space(name)
        size = getattr(sp, "size", None)
        rows.append(
            {
                "space": name,
                "size": size,
                "nodes": sp.max_nodes,
                "ops": len(sp.ops),
                "topology": "fixed" if sp.fixed_topology else "generated",
                "network": hasattr(sp, "to_module"),
                "benchmark": name in BENCHMARKS,
            }
        )
    if as_json:
        print(json.dumps(rows))
        return
    from rich.table import Table

    t = Table(title="search spaces")
    for col in ("space", "size", "nodes", "ops", "topology", "network", "benchmark"):
        t.add_column(col, no_wrap=True)
    for r in rows:
        size = r["size"]
        t.add_row(
            r["space"],
            f"{size:,}"
            if isinstance(size, int) and size < 10**9
            else (f"{float(size):.2e}" if size else "-"),
            str(r["nodes"]),
            str(r["ops"]),
            r["topology"],
            "yes" if r["network"] else "no",
            "yes" if r["benchmark"] else "none offline",
        )
    _console().print(t)


@app.command("query")
def query_cmd(
    arch: Annotated[str, typer.Option("--arch", help="Architecture in the space's native notation.")],
    space: Annotated[str, typer.Option("--space", help=_SPACE_HELP)] = "nb201",
    dataset: Annotated[str, typer.Option("--dataset", help=_DATASET_HELP)] = "cifar10",
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help="Only these metrics (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every value the benchmark knows for one architecture on one dataset."""
    from nag.benchmarks import get_benchmark
    from nag.spaces import get_space

    sp = get_space(space)
    a = sp.parse(arch)
    bench = get_benchmark(space)
    ds = bench.resolve_dataset(dataset)
    rec = bench.record(a, ds) if not metric else {m: bench.query(a, ds, m) for m in metric}
    cost = bench.cost(a, ds)
    if as_json:
        out = {"space": sp.name, "arch": sp.format(a), "dataset": ds, "cost_s": cost}
        out["values"] = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
        out["data"] = {
            rel: {"source": f.source, "location": f.location} for rel, f in bench.data_sources.items()
        }
        print(json.dumps(out))
        return
    from rich.table import Table

    _console().print(f"{sp.name} · {ds} · {sp.format(a)}", soft_wrap=True)
    t = Table()
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in rec.items():
        t.add_row(k, "n/a" if isinstance(v, float) and math.isnan(v) else f"{v:.6g}")
    _console().print(t)
    if cost is not None:
        _console().print(f"query cost: {cost:.1f} s of training")
    from nag.benchmarks.data import describe_sources

    if note := describe_sources(bench.data_sources):
        print(note)


@data_app.command("check")
def data_check_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Each data file: where it is found (or "embedded": the package's compact stand-in), whether its SHA-256 matches
    the checksums this version expects (shipped in the package), or missing; exit 1 if any is missing or wrong."""
    from nag.benchmarks.data import check_files, data_dirs, package_checksums, sha256

    rows = check_files()
    try:
        from pathlib import Path

        import nas_bench_graph

        nbg = Path(nas_bench_graph.__file__).parent / "light"
        for rel, expected in package_checksums().items():
            p = nbg / Path(rel).name
            status = "missing" if not p.is_file() else ("ok" if sha256(p) == expected else "wrong checksum")
            rows.append({"file": f"{rel} (PyPI nas-bench-graph)", "status": status, "path": str(p)})
    except ImportError:
        rows.append(
            {
                "file": "nas-bench-graph (PyPI)",
                "status": "missing",
                "path": "pip install nas-bench-graph==1.4.0",
            }
        )
    bad = [r for r in rows if r["status"] not in ("ok", "embedded")]
    searched = [str(d) for d in data_dirs()]
    if as_json:
        print(json.dumps({"searched": searched, "files": rows, "ok": not bad}))
    else:
        width = max(len(r["file"]) for r in rows)
        print("searched: " + ", ".join(searched))
        for r in rows:  # plain lines: whole paths in pipes and CI logs too
            print(f"{r['file']:<{width}}  {r['status']:<16}  {r['path']}")
        missing = sum(r["status"] == "missing" for r in rows)
        wrong = len(bad) - missing
        embedded = sum(r["status"] == "embedded" for r in rows)
        print(
            f"{len(rows) - len(bad) - embedded} ok, {embedded} embedded, {missing} missing, {wrong} wrong"
            + ("; get the full data with `nag data fetch`" if bad else "")
        )
    if bad:
        raise typer.Exit(1)


def _default_checkpoint(space: str):
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "checkpoints" / f"diffusion_{space}.pt"


@train_app.command("diffusion")
def train_diffusion_cmd(
    space: Annotated[str, typer.Option("--space", help=_SPACE_HELP)] = "nb201",
    out: Annotated[str, typer.Option("--out", help="Run directory (resumes from its last.ckpt).")] = "",
    steps: Annotated[int, typer.Option("--steps", help="Optimiser steps.")] = 6000,
    minutes: Annotated[float, typer.Option("--minutes", help="Wall-clock cap.")] = 10.0,
    train_fraction: Annotated[
        float, typer.Option("--train-fraction", help="Share of the space to train on.")
    ] = 1.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    accelerator: Annotated[str, typer.Option("--accelerator", help="cpu, gpu, auto, ...")] = "auto",
    devices: Annotated[str, typer.Option("--devices", help="Number of devices or 'auto'.")] = "auto",
    strategy: Annotated[
        str, typer.Option("--strategy", help="Lightning strategy (auto, ddp, ...).")
    ] = "auto",
    threads: Annotated[int, typer.Option("--threads", help="torch CPU threads.")] = 2,
) -> None:
    """Train the graph diffusion generator of a space with Lightning; writes RUN_DIR/model.pt."""
    if not 0 < train_fraction <= 1:
        raise UsageError(f"train-fraction: must be in (0, 1], got {train_fraction}")
    from nag.spaces import get_space

    sp = get_space(space)
    import torch

    torch.set_num_threads(threads)
    from nag.diffusion.lit import TrainConfig, train_diffusion

    cfg = TrainConfig(
        space=sp.name, max_steps=steps, max_minutes=minutes, train_fraction=train_fraction, seed=seed
    )
    run_dir = out or f"runs/train_diffusion/{sp.name}_seed{seed}"
    dev = int(devices) if devices.isdigit() else devices
    _, info = train_diffusion(sp, cfg, run_dir, accelerator=accelerator, devices=dev, strategy=strategy)
    print(
        f"trained {sp.name}: {info['steps']} steps in {info['elapsed_s']:.0f} s, {info['params']:,} parameters, "
        f"train loss {info['train_loss']:.4f}; model: {run_dir}/model.pt"
    )


@train_app.command("predictor")
def train_predictor_cmd(
    space: Annotated[str, typer.Option("--space", help=_SPACE_HELP)] = "nb201",
    target: Annotated[
        str,
        typer.Option(
            "--target", help="Label, dataset-prefixed: cifar10_test_acc, in16_val_acc_hp12, cora_val_perf."
        ),
    ] = "cifar10_test_acc",
    n_train: Annotated[
        int, typer.Option("--n-train", help="Random labelled architectures to train on.")
    ] = 100,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    features: Annotated[
        str, typer.Option("--features", help="Extra inputs: zc (training-free metrics) or none.")
    ] = "zc",
    noise_aware: Annotated[
        str,
        typer.Option(
            "--noise-aware", help="Diffusion checkpoint: train a noise-aware predictor for guidance."
        ),
    ] = "",
    ensemble: Annotated[int, typer.Option("--ensemble", help="Ensemble members.")] = 5,
    accelerator: Annotated[
        str, typer.Option("--accelerator", help="Lightning accelerator: cpu, gpu, auto.")
    ] = "cpu",
    out: Annotated[str, typer.Option("--out", help="Save the predictor to FILE (.pt).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Train an accuracy predictor on --n-train random labelled architectures; test it on all the others."""
    if n_train < 2:
        raise UsageError(f"n_train: must be >= 2, got {n_train}")
    if accelerator not in ("cpu", "gpu", "cuda", "mps", "auto"):
        raise InvalidChoiceError("accelerator", accelerator, ("cpu", "gpu", "cuda", "mps", "auto"))
    import torch

    torch.set_num_threads(2)
    from predictors.api import train_predictor

    _, rep = train_predictor(
        space=space, target=target, dataset=None, n_train=n_train, seed=seed,
        noise_aware_model_path=noise_aware or None, out=out or None, features=features,
        ensemble=ensemble, accelerator=accelerator,
    )  # fmt: skip
    if as_json:
        print(json.dumps(_json_safe(rep), indent=1))
        return
    test = rep["test"]
    print(
        f"{rep['space']} {rep['dataset']} {rep['target']}: trained on {rep['n_train']} "
        f"({'noise-aware, ' if rep['noise_aware'] else ''}features: {', '.join(rep['features']) or 'graph only'}) "
        f"in {rep['fit'].get('train_seconds', float('nan')):.1f} s"
    )
    print("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in test.items()))
    for t, tau in (rep.get("test_by_t") or {}).items():
        print(f"t={t}: kendall_tau {tau:.4f}")
    if out:
        print(f"saved {out}")


@app.command("generate")
def generate_cmd(
    space: Annotated[str, typer.Option("--space", help=_SPACE_HELP)] = "nb201",
    n: Annotated[int, typer.Option("-n", "--n", help="Architectures to generate.")] = 100,
    unique: Annotated[
        bool, typer.Option("--unique/--no-unique", help="n distinct architectures, or i.i.d.")
    ] = True,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    steps: Annotated[int, typer.Option("--steps", help="Denoising steps.")] = 10,
    solver: Annotated[str, typer.Option("--solver", help="dpm (DPM-Solver++), ddim, ddpm or pc.")] = "dpm",
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Model file (default: checkpoints/).")] = "",
    out: Annotated[str, typer.Option("--out", help="Write the architectures to FILE (.jsonl or .csv).")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
    maximize: Annotated[
        list[str] | None,
        typer.Option("--maximize", help="Objective to maximise, e.g. accuracy:cifar10 (repeatable)."),
    ] = None,
    constraint: Annotated[
        list[str] | None,
        typer.Option(
            "--constraint", help='Constraint, e.g. "latency:edgegpu<=3.5" or "params<=0.8" (repeatable).'
        ),
    ] = None,
    pareto: Annotated[
        str, typer.Option("--pareto", help="Sweep a trade-off, e.g. accuracy:cifar10,latency:pixel3.")
    ] = "",
    n_train: Annotated[
        int, typer.Option("--n-train", help="Labelled architectures for the accuracy predictor.")
    ] = 100,
    guidance_scale: Annotated[
        float, typer.Option("--guidance-scale", help="Scale of the objective term.")
    ] = 3.0,
    constraint_scale: Annotated[
        float, typer.Option("--constraint-scale", help="Scale of each constraint.")
    ] = 20.0,
    schedule: Annotated[
        str, typer.Option("--schedule", help="Guidance-scale schedule: constant, linear, cosine.")
    ] = "cosine",
    pool: Annotated[
        int, typer.Option("--pool", help="Guided candidates re-ranked by the clean predictor.")
    ] = 0,
) -> None:
    """Sample architectures from the trained diffusion model; prints one per line, then a summary on stderr.

    With --maximize / --constraint / --pareto, sampling is guided by predictors (accuracy: an ensemble trained here
    on --n-train labelled architectures; latency: a model fitted on the device's table), hard constraints are
    re-checked on the decoded architectures, and each line also shows predicted and true values.
    """
    from pathlib import Path

    from nag.diffusion.schedules import SOLVERS

    if solver not in SOLVERS:
        raise InvalidChoiceError("solver", solver, SOLVERS)
    if n < 1:
        raise UsageError(f"n: must be >= 1, got {n}")
    if out and not out.endswith((".jsonl", ".csv")):
        raise UsageError(f"out: {out!r} must end in .jsonl or .csv")
    from nag.spaces import get_space

    sp = get_space(space)
    path = Path(checkpoint) if checkpoint else _default_checkpoint(sp.name)
    if not path.is_file():
        raise UsageError(
            f"checkpoint: {str(path)!r} not found; train one with `nag train diffusion --space {sp.name}`"
        )
    import torch

    torch.set_num_threads(2)
    from nag.diffusion.metrics import generation_report
    from nag.diffusion.model import GraphDiffusionModel
    from nag.diffusion.sampler import generate

    state = torch.load(path, map_location="cpu", weights_only=False)
    model = GraphDiffusionModel.from_state(state)
    if model.space_name != sp.name:
        raise UsageError(f"checkpoint: {str(path)!r} was trained on {model.space_name!r}, not {sp.name!r}")
    if maximize or constraint or pareto:
        _guided_generate(sp, model, n, seed, steps, solver, maximize or [], constraint or [], pareto, n_train,
                         guidance_scale, constraint_scale, schedule, pool, out, quiet)  # fmt: skip
        return
    res = generate(model, sp, n, unique=unique, seed=seed, steps=steps, solver=solver)
    lines = [sp.format(a) for a in res.archs]
    print("\n".join(lines))
    if out:
        _write_archs(Path(out), lines)
    if not quiet:
        train = [sp.parse(t) for t in state.get("extra", {}).get("train_archs", [])]
        rep = generation_report(sp, res.archs, train, elapsed_s=res.seconds)
        from rich.console import Console

        con = Console(stderr=True)
        t = rep.to_table()
        t.caption = (
            f"{res.attempts} samples drawn, {res.solver} {res.steps} steps, {n / res.seconds:.0f} archs/s"
        )
        con.print(t)


def _guided_generate(sp, model, n, seed, steps, solver, maximize, constraints, pareto, n_train, scale, c_scale,
                     schedule, pool, out, quiet) -> None:  # fmt: skip
    """`nag generate` with objectives / constraints / a Pareto sweep (see `generate_cmd`)."""
    from pathlib import Path

    import numpy as np

    from nag.guidance import (
        constraint as constraint_term,
    )
    from nag.guidance import (
        guided_generate,
        hypervolume_2d,
        objective,
        pareto_generate,
        pareto_mask,
        parse_condition,
        scale_schedule,
    )
    from predictors.objectives import build_target

    sched = scale_schedule(schedule, model.schedule.num_train_timesteps)
    kw = {"n_train": n_train, "seed": seed}
    if pareto:
        parts = [p.strip() for p in pareto.split(",")]
        if len(parts) != 2:
            raise UsageError(
                f"pareto: {pareto!r} must name two targets, e.g. accuracy:cifar10,latency:pixel3"
            )
        maximize, pareto_cost = [parts[0]], parts[1]
    objs = [build_target(sp, m, model, kind="maximize", **kw) for m in maximize]
    cons = [build_target(sp, c, model, kind="constraint") for c in constraints]
    terms = [objective(t.guide, scale=scale, schedule=sched, name=str(t.condition)) for t in objs]
    for c in cons:
        width = 0.05 * max(abs(c.condition.bound), 1e-6)
        terms.append(constraint_term(c.guide, c.condition.bound, c.condition.op, width=width, scale=c_scale,
                                     schedule=sched, name=str(c.condition)))  # fmt: skip

    def feasible(archs):
        ok = np.ones(len(archs), dtype=bool)
        for c in cons:
            ok &= c.condition.satisfied(c.predict(archs))
        return ok

    rank = (lambda archs: sum(t.predict(archs) for t in objs)) if objs else None
    if pareto:
        cost = build_target(sp, parse_condition(pareto_cost, "pareto", require_bound=False), model)
        values = cost.predict(list(sp.enumerate())) if hasattr(sp, "enumerate") else None
        if values is None:
            raise UsageError(f"pareto: space {sp.name!r} has no enumeration to set the sweep's bounds")
        bounds = np.quantile(values, np.linspace(0.02, 0.98, max(3, min(12, n // 5))))

        def evaluate(archs):
            return np.stack([objs[0].predict(archs), cost.predict(archs)], 1)

        res = pareto_generate(model, sp, terms[0], cost.guide, bounds, evaluate, n_per_bound=max(1, n // len(bounds)),
                              schedule=sched, cost_scale=c_scale, seed=seed, steps=steps, solver=solver)  # fmt: skip
        archs = res.front_archs
        shown = [objs[0], cost]
    else:
        res = guided_generate(model, sp, n, terms, feasible=feasible if cons else None, rank=rank,
                              pool=pool or (4 * n if objs else n), seed=seed, steps=steps, solver=solver)  # fmt: skip
        archs, shown = res.archs, objs + cons
    rows = []
    pred = [t.predict(archs) for t in shown]
    true = [t.truth(archs) if t.truth else None for t in shown]
    for i, a in enumerate(archs):
        parts = [sp.format(a)]
        for t, p, tv in zip(shown, pred, true, strict=True):
            shown_true = "" if tv is None else f" true {tv[i]:.3f}"
            parts.append(f"{t.condition.name} pred {p[i]:.3f}{shown_true} {t.unit}")
        rows.append(parts[0])
        print("  ".join(parts))
    if out:
        _write_archs(Path(out), rows)
    if quiet:
        return
    from rich.console import Console
    from rich.table import Table

    con = Console(stderr=True)
    tab = Table(title=f"{len(archs)} architectures ({'Pareto front' if pareto else 'guided'})")
    tab.add_column("target")
    tab.add_column("predicted mean")
    tab.add_column("true mean")
    tab.add_column("true best")
    tab.add_column("truly feasible")
    for t, p, tv in zip(shown, pred, true, strict=True):
        lower = t.condition.op == "<=" or (pareto and t is shown[-1])
        best = "" if tv is None else f"{(np.nanmin(tv) if lower else np.nanmax(tv)):.3f}"
        feas = (
            "" if tv is None or not t.condition.is_constraint else f"{t.condition.satisfied(tv).mean():.0%}"
        )
        tab.add_row(str(t.condition), f"{np.mean(p):.3f}", "" if tv is None else f"{np.nanmean(tv):.3f}",
                    best, feas)  # fmt: skip
    caption = f"{res.attempts} samples drawn, {res.seconds:.1f} s"
    if pareto:
        true_pts = np.stack([true[0], true[1]], 1) if true[0] is not None and true[1] is not None else None
        if true_pts is not None:
            allv = np.stack([shown[0].truth(list(sp.enumerate())), shown[1].truth(list(sp.enumerate()))], 1)
            ref = (float(np.nanmin(allv[:, 0])), float(np.nanmax(allv[:, 1])))
            hv = hypervolume_2d(true_pts, ref)
            hv_true = hypervolume_2d(allv[pareto_mask(allv, (True, False))], ref)
            caption += f"; hypervolume (true values) {hv:.3f} = {hv / hv_true:.1%} of the true front's"
    else:
        caption += f"; {res.infeasible} rejected by constraints, {res.duplicates} repeats"
    tab.caption = caption
    con.print(tab)


@zc_app.command("compute")
def zc_compute_cmd(
    space: Annotated[str, typer.Option("--space", help="Search space (nb201).")] = "nb201",
    metrics: Annotated[
        str, typer.Option("--metrics", help="Comma-separated metric names.")
    ] = "synflow,naswot",
    n: Annotated[int, typer.Option("--n", help="Distinct random architectures.")] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Selects the architectures and the minibatch.")] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Minibatch size.")] = 16,
    dataset: Annotated[
        str, typer.Option("--dataset", help="Accuracy to correlate with. " + _DATASET_HELP)
    ] = "cifar10",
    cache: Annotated[str, typer.Option("--cache", help="JSONL cache (resumes).")] = "runs/zc/cache.jsonl",
    workers: Annotated[int, typer.Option("--workers", help="Worker processes (0: this one).")] = 0,
    out: Annotated[str, typer.Option("--out", help="Write the values to FILE.csv.")] = "",
) -> None:
    """Compute training-free metrics for random NB201 cells; print each metric's time and rank correlation."""
    from nag.spaces import canonical_space_name

    if canonical_space_name(space) != "nb201":
        raise InvalidChoiceError("space", space, ["nb201"])
    if n < 2:
        raise UsageError(f"n: must be >= 2, got {n}")
    if out and not out.endswith(".csv"):
        raise UsageError(f"out: {out!r} must end in .csv")
    import numpy as np
    import torch
    from scipy.stats import spearmanr

    from nag.benchmarks import get_benchmark
    from nag.spaces import get_space
    from predictors.zero_cost import list_metrics
    from predictors.zero_cost.runner import ZCConfig, run_metrics

    names = [m.strip() for m in metrics.split(",") if m.strip()]
    for m in names:
        if m not in list_metrics():
            raise InvalidChoiceError("metrics", m, list_metrics())
    bench = get_benchmark("nb201")
    ds = bench.resolve_dataset(dataset)
    torch.set_num_threads(2)
    sp = get_space("nb201")
    archs = sp.unique(sp.sample(4 * n, seed=seed))[:n] if n <= sp.size else list(sp.enumerate())
    res = run_metrics(
        archs, names, cache=cache, config=ZCConfig(batch_size=batch_size, seed=seed), workers=workers
    )
    acc = np.array([bench.query(a, ds, "test_acc") for a in archs])
    from rich.table import Table

    t = Table(title=f"{len(archs)} NB201 cells · Spearman with {ds} test accuracy")
    for col in ("metric", "median s", "Spearman ρ", "finite"):
        t.add_column(col, justify="right" if col != "metric" else "left")
    for m in names:
        v = res.table[m].to_numpy(dtype=float)
        ok = np.isfinite(v)
        rho = spearmanr(v[ok], acc[ok]).statistic if ok.sum() > 2 else float("nan")
        t.add_row(m, f"{res.times[m].median():.3f}", f"{rho:.3f}", f"{int(ok.sum())}/{len(v)}")
    _console().print(t)
    _console().print(f"computed {res.computed} values, reused {res.reused} from {cache}")
    if out:
        import os
        from pathlib import Path

        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        res.table.to_csv(tmp, index_label="arch")
        os.replace(tmp, path)


def _method_options(items: list[str] | None) -> dict:
    """``KEY=VALUE`` pairs (values read as JSON where they parse, e.g. numbers) into a dict."""
    out: dict = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"option: {item!r} must be KEY=VALUE (e.g. population_size=20)")
        try:
            out[key.strip().replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = raw
    return out


def _query_row(state, i: int) -> dict:
    rep = state.reports[i]
    return {
        "query": i + 1,
        "phase": state.phases[i],
        "arch": state.archs[i],
        "signal": state.signals[i],
        "feasible": state.feasible[i],
        "cost_s": state.costs[i],
        **rep,
    }


def _print_query(row: dict) -> None:
    cost = "cost    n/a" if row["cost_s"] is None else f"cost {row['cost_s']:6.0f} s"
    flag = "" if row["feasible"] else "  (infeasible)"
    print(
        f"{row['query']:4d}  {row['phase']:8s}  signal {row['signal']:8.3f}  {cost}  {row['arch']}{flag}",
        flush=True,
    )


def _pick(state) -> dict:
    s = state.summary()
    metric = s["report_metric"] or "test_acc"
    rep = s["pick_report"]
    out = {
        "arch": s["pick"],
        "query": s["pick_query"],
        "signal": s["pick_signal"] if s["pick"] is not None else None,
        metric: rep.get(metric) if s["pick"] is not None else None,
        "report": rep,
        f"best_{metric.removesuffix('_acc').removesuffix('_perf') or metric}_among_queried": s[
            "best_report_among_queried"
        ],
        "queries": s["n_queries"],
        "free": s["n_free"],
        "query_cost_s": s["query_cost_s"],
        "cost_known": s["cost_known"],
        "stop_reason": s["stop_reason"],
    }
    if state.config.oracle.get("space") == "nb201" and s["pick"] is not None:
        from nag.spaces import get_space

        sp = get_space("nb201")
        out["index"] = sp.index(sp.parse(s["pick"]))
    return out


def _json_safe(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


@app.command("search")
def search_cmd(
    method: Annotated[
        str,
        typer.Option(
            "--method", help="Search method: random, evolution, local, robot (and registered others)."
        ),
    ] = "robot",
    space: Annotated[
        str, typer.Option("--space", help="Search space with a benchmark: nb201, nb101, nasbench_graph.")
    ] = "nb201",
    dataset: Annotated[str, typer.Option("--dataset", help=_DATASET_HELP)] = "cifar10",
    budget: Annotated[int, typer.Option("--budget", help="Queries (distinct architectures evaluated).")] = 20,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    signal: Annotated[
        str,
        typer.Option(
            "--signal",
            help="nb201: target (the dataset's 12-epoch validation), cifar10 (RoBoT's protocol: CIFAR-10 12-epoch "
            "validation), val200 (200-epoch validation, cifar10 only); nb101 / nasbench_graph: target.",
        ),
    ] = "target",
    constraint: Annotated[
        list[str] | None,
        typer.Option(
            "--constraint", help="e.g. latency:edgegpu<=3.5, energy:eyeriss<2, params<=0.5 (repeatable)."
        ),
    ] = None,
    q: Annotated[int, typer.Option("--q", help="Architectures proposed and evaluated per step.")] = 1,
    executor: Annotated[str, typer.Option("--executor", help="serial, process or ray.")] = "serial",
    workers: Annotated[
        int, typer.Option("--workers", help="Processes (process) or local Ray CPUs (ray).")
    ] = 2,
    ray_address: Annotated[
        str, typer.Option("--ray-address", help="ray.init address of a cluster (default: a local instance).")
    ] = "",
    out: Annotated[
        str,
        typer.Option(
            "--out",
            help="Run directory (default runs/search/<method>-<space>-<dataset>-b<budget>-s<seed>-<time>).",
        ),
    ] = "",
    resume: Annotated[
        str,
        typer.Option("--resume", help="Continue the run in this directory (its saved settings are used)."),
    ] = "",
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Method option KEY=VALUE (repeatable), e.g. population_size=20."),
    ] = None,
    normalisation: Annotated[
        str, typer.Option("--normalisation", help="robot: minmax, log or rank.")
    ] = "minmax",
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar on stderr (default: on a terminal)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON at the end instead of lines.")] = False,
) -> None:
    """Search a space with the benchmark oracle; prints every query, then the final pick with its values.

    The run directory holds config.json, state.json (resumable), queries.csv/jsonl and best_so_far.csv.
    """
    import os
    import time
    from pathlib import Path

    from bo.executors import EXECUTORS
    from bo.loop import method_names

    if executor not in EXECUTORS:
        raise InvalidChoiceError("executor", executor, EXECUTORS)
    if not resume:
        if method not in method_names():
            raise InvalidChoiceError("method", method, method_names())
        from nag.spaces import canonical_space_name

        sp_name = canonical_space_name(space)
        if method == "robot" and sp_name != "nb201":
            raise InvalidChoiceError("space", space, ["nb201"])
        if normalisation not in ("minmax", "log", "rank"):
            raise InvalidChoiceError("normalisation", normalisation, ["minmax", "log", "rank"])
        if budget < 1:
            raise UsageError(f"budget: must be >= 1, got {budget}")
        if q < 1:
            raise UsageError(f"q: must be >= 1, got {q}")
    elif not (Path(resume) / "state.json").is_file():
        raise UsageError(f"resume: {resume!r} holds no state.json")
    if workers < 1:
        raise UsageError(f"workers: must be >= 1, got {workers}")
    import torch

    torch.set_num_threads(1)
    from bo.executors import get_executor
    from bo.loop import RunExistsError, load_state, resume_search, run_search
    from bo.oracles import BenchmarkOracle, parse_constraint

    printed = 0

    def show(state) -> None:
        nonlocal printed
        if not as_json:
            for i in range(printed, state.n_queries):
                _print_query(_query_row(state, i))
        printed = state.n_queries

    show_bar = progress if progress is not None else (sys.stderr.isatty() and as_json)
    try:
        ex_obj = get_executor(executor, workers=workers, address=ray_address or None)
    except ImportError as e:
        raise UsageError(str(e)) from None
    with ex_obj as ex:
        if resume:
            run_dir = Path(resume)
            show(load_state(run_dir))
            print(f"resuming {run_dir}", file=sys.stderr)
            state = resume_search(run_dir, executor=ex, progress=show_bar, callback=show)
        else:
            constraints = [parse_constraint(c) for c in constraint or []]
            oracle = BenchmarkOracle(sp_name, dataset, signal=signal, constraints=constraints)
            opts = _method_options(option)
            if method == "robot":
                opts.setdefault("normalisation", normalisation)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run_dir = Path(
                out
                or f"runs/search/{method}-{sp_name}-{oracle.dataset}-b{budget}-s{seed}-{stamp}-{os.getpid()}"
            )
            if (run_dir / "state.json").exists():
                raise UsageError(str(RunExistsError(run_dir)))
            state = run_search(
                method,
                oracle,
                budget,
                q=q,
                seed=seed,
                run_dir=run_dir,
                executor=ex,
                method_options=opts,
                progress=show_bar,
                callback=show,
            )
    print(f"run directory: {run_dir}", file=sys.stderr)
    pick = _pick(state)
    cfg = state.config
    if as_json:
        rows = [_query_row(state, i) for i in range(state.n_queries)]
        print(
            json.dumps(
                _json_safe(
                    {
                        "method": cfg.method,
                        "space": cfg.oracle.get("space"),
                        "dataset": cfg.oracle.get("dataset"),
                        "signal": cfg.oracle.get("signal"),
                        "constraints": cfg.oracle.get("constraints", []),
                        "budget": cfg.budget,
                        "q": cfg.q,
                        "seed": cfg.seed,
                        "run_dir": str(run_dir),
                        "queries": rows,
                        "pick": pick,
                    }
                )
            )
        )
        return
    if pick["arch"] is None:
        print(f"pick: none — no queried architecture meets the constraints ({state.n_queries} queries)")
        return
    metric = state.summary()["report_metric"] or "test_acc"
    best_key = next(k for k in pick if k.startswith("best_") and k.endswith("_among_queried"))
    val = pick[metric]
    cost = f"{pick['query_cost_s']:.0f} s" if pick["cost_known"] else "unknown"
    sig_name = cfg.oracle.get("signal", "signal")
    print(
        f"pick: {pick['arch']}  {sig_name} {pick['signal']:.3f}  {metric} {val:.2f}  "
        f"best {metric} among queried {pick[best_key]:.2f}  queries {pick['queries']} ({pick['free']} free)  "
        f"query cost {cost}"
    )


@app.command("report")
def report_cmd(
    run_dirs: Annotated[
        list[str], typer.Argument(help="Run directories (or folders holding run directories).")
    ],
    out: Annotated[
        str, typer.Option("--out", help="Write report.md, best_so_far.png and cost.png here (default: none).")
    ] = "",
) -> None:
    """Markdown table over search runs (mean ± sd over seeds), and PNG plots with --out."""
    from bo.report import write_report

    try:
        text, files = write_report(run_dirs, out or None)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    print(text, end="")
    for f in files:
        print(f"wrote {f}", file=sys.stderr)


def _write_archs(path, lines: list[str]) -> None:
    import csv
    import io
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["arch"])
        w.writerows([[ln] for ln in lines])
        text = buf.getvalue()
    else:
        text = "".join(json.dumps({"arch": ln}) + "\n" for ln in lines)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn expected input errors into one line on stderr with exit code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except (InvalidChoiceError, InvalidArchitectureError, UsageError, DataNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyError as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except Exception as e:
        # usage errors of typer's (vendored) click come through here in non-standalone mode
        if hasattr(e, "show") and hasattr(e, "exit_code"):
            e.show()
            sys.exit(e.exit_code)
        raise


if __name__ == "__main__":
    main()
