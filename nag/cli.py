"""The ``nag`` command: thin wrappers that parse options, call library functions and print.

Heavy libraries are imported inside commands, so ``nag --help`` answers quickly. Every argument is checked before
any expensive work. Exit codes (`main`): 0 success; 2 bad input (one line naming the field, the value and the
accepted values); 1 a runtime failure (one line naming the file or step; the traceback only with ``--debug``);
130 on SIGINT (Ctrl-C) and 143 on SIGTERM.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from nag.diffusion.schedules import DEFAULT_SOLVER, DEFAULT_STEPS
from nag.errors import (
    DataNotFoundError,
    InvalidArchitectureError,
    InvalidChoiceError,
    NagInputError,
    NagRuntimeError,
    Terminated,
)

app = typer.Typer(
    name="nag",
    help="NAG: predictor-guided generative neural-architecture design. Exit codes: 0 success, 1 runtime failure, "
    "2 bad input, 130 interrupted (SIGINT), 143 terminated (SIGTERM).",
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
#: Seeds feed numpy and torch generators, which take 32-bit unsigned seeds.
SEED_MAX = 2**32 - 1
_SEED_HELP = f"Random seed, 0..{SEED_MAX}."
#: ``--constraint`` of generate and search: the one constraint grammar (`nag.guidance.parse_condition`).
_ConstraintOption = Annotated[
    list[str] | None,
    typer.Option(
        "--constraint",
        help='Constraint, e.g. "latency:edgegpu<=3.5", "energy:eyeriss<2" or "params<=0.8" (repeatable).',
    ),
]
#: Lightning accelerators the CLI passes through.
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")
#: Upper bound of i.i.d. samples / queries / pools where the space does not bound them: beyond it a command would
#: run for hours, which is never what a typo like ``-n 1e10`` meant.
COUNT_MAX = 1_000_000
#: Options of `main` that the root callback sets (``--debug``).
_GLOBAL = {"debug": False}


class UsageError(NagInputError):
    """Bad input found by the CLI itself (kept for callers; it is a `NagInputError`): one line, exit code 2."""


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="On a runtime failure, print the traceback (exit code 1).")
    ] = False,
) -> None:
    """NAG: predictor-guided generative neural-architecture design."""
    _GLOBAL["debug"] = debug


def _console(stderr: bool = False):
    """A rich console; off a terminal (pipes, CI logs) wide enough that tables and paths are never cut."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 1000)


# ---------------------------------------------------------------------------------------------------- argument checks
def _check_int(field: str, value: int, lo: int, hi: int | None = None, why: str = "") -> None:
    """``value`` within ``lo..hi`` (inclusive) or `NagInputError` naming ``field`` and the range."""
    if value < lo or (hi is not None and value > hi):
        accepted = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise NagInputError(f"{field}: {value} is out of range; accepted: {accepted}{why}")


def _check_float(field: str, value: float, lo: float | None = None, hi: float | None = None, *,
                 lo_open: bool = False) -> None:  # fmt: skip
    """A finite ``value`` in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``), or `NagInputError`."""
    ok = math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        if lo is None and hi is None:
            rng = "a finite number"
        elif hi is None:
            rng = f"a finite number {'>' if lo_open else '>='} {lo:g}"
        else:
            rng = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
        raise NagInputError(f"{field}: {value} is out of range; accepted: {rng}")


def _check_seed(seed: int, field: str = "--seed") -> None:
    _check_int(field, seed, 0, SEED_MAX)


def _check_choice(field: str, value: str, accepted) -> None:
    if value not in accepted:
        raise InvalidChoiceError(field, value, accepted)


def _writable_dir(folder: Path) -> Path | None:
    """The nearest existing ancestor of ``folder`` if a file can be created there, else ``None``.

    Tries it (a hidden temporary file, removed at once) rather than trusting permission bits, which lie for root,
    read-only mounts and ``/proc``.
    """
    import tempfile

    p = folder
    while not p.exists():
        if p.parent == p:
            return None
        p = p.parent
    if not p.is_dir():
        return None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".nag-probe-", dir=p)
    except OSError:
        return None
    os.close(fd)
    os.unlink(tmp)
    return p


def _check_out_file(field: str, out: str, suffixes: tuple[str, ...] = ()) -> Path:
    """An output file that can be written: right suffix, not a folder, inside a folder we may create files in.

    Checked before any work, so a long run never ends in an unwritable path.
    """
    if suffixes and not out.endswith(suffixes):
        raise NagInputError(
            f"{field}: {out!r} has the wrong suffix; accepted: FILE{' or FILE'.join(suffixes)}"
        )
    path = Path(out)
    if path.is_dir():
        raise NagInputError(f"{field}: {out!r} is a folder; accepted: a file path")
    if path.exists() and not os.access(path, os.W_OK):
        raise NagInputError(f"{field}: {out!r} is not writable; accepted: a writable file path")
    if _writable_dir(path.parent) is None:
        raise NagInputError(f"{field}: {out!r} cannot be created (its folder is not writable or is a file); "
                            "accepted: a path in a writable folder")  # fmt: skip
    return path


def _check_out_dir(field: str, out: str) -> Path:
    """An output folder that exists as a folder or can be created."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise NagInputError(f"{field}: {out!r} is a file; accepted: a folder path")
    if _writable_dir(path) is None:
        raise NagInputError(
            f"{field}: {out!r} cannot be created or written; accepted: a writable folder path"
        )
    return path


def _space_size(sp) -> int | None:
    size = getattr(sp, "size", None)
    return int(size) if isinstance(size, int) else None


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
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help="Only these metrics (repeatable); latency_edgegpu or latency:edgegpu, params_mb or params.",
        ),
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
    names = [_metric_name(bench, ds, m) for m in metric or []]
    rec = bench.record(a, ds) if not names else {m: bench.query(a, ds, m) for m in names}
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
        _GLOBAL["data_noted"] = True


def _metric_name(bench, dataset: str, name: str) -> str:
    """A benchmark metric named as in the table (``latency_edgegpu``) or as in ``--constraint``
    (``latency:edgegpu``, ``params`` for ``params_mb``)."""
    names = bench.metrics(dataset)
    for cand in (name, name.replace(":", "_", 1), {"params": "params_mb"}.get(name, name)):
        if cand in names:
            return cand
    raise InvalidChoiceError("metric", name, names)


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


def _data_root_and_targets(dest: str | None, only: list[str] | None):
    """The fetch/build root (``--dest``, else ``$NAG_DATA_DIR``, else ``~/.cache/nag``) and the selected targets."""
    import fnmatch
    import os
    from pathlib import Path

    from nag.benchmarks.sources import TARGETS

    root = Path(dest or os.environ.get("NAG_DATA_DIR") or Path.home() / ".cache" / "nag").expanduser()
    names = list(TARGETS)
    if only:
        names = [n for n in names if any(fnmatch.fnmatch(n, pat) for pat in only)]
        if not names:
            raise UsageError(f"--only: no table matches {', '.join(only)}; accepted: {', '.join(TARGETS)}")
    return root, names


_ONLY_HELP = "Only the tables whose path matches this glob (repeatable), e.g. 'nb201/*'."
_DEST_HELP = "Data root to fill (default: $NAG_DATA_DIR if set, else ~/.cache/nag)."


@data_app.command("fetch")
def data_fetch_cmd(
    mirror: Annotated[
        str | None,
        typer.Option(
            "--mirror",
            envvar="NAG_DATA_MIRROR",
            help="URL base (file://, http://) or folder laid out as host/path (like wget -x) to download from "
            "instead of GitHub/Debian/PyPI ($NAG_DATA_MIRROR).",
        ),
    ] = None,
    dest: Annotated[str | None, typer.Option("--dest", help=_DEST_HELP)] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help=_ONLY_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Download the pinned public source files of the benchmark tables into <root>/sources (resumable; every
    file checked against its pinned SHA-256 and size); exit 1 if any fails."""
    from pathlib import Path

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from nag.benchmarks.fetch import fetch_source
    from nag.benchmarks.sources import sources_for
    from nag.errors import NagRuntimeError

    root, names = _data_root_and_targets(dest, only)
    if mirror and "://" not in mirror:
        mirror = Path(mirror).expanduser().resolve().as_uri()
    sources = sources_for(names)
    results, errors = [], []
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bars:
        for src in sources:
            task = bars.add_task(src.key.rsplit("/", 1)[-1], total=src.size)
            try:
                r = fetch_source(
                    src, root, mirror, progress=lambda done, _t, task=task: bars.update(task, completed=done)
                )
                results.append(
                    {"key": r.key, "status": r.status, "bytes": r.transferred, "path": str(r.path)}
                )
            except NagRuntimeError as e:
                errors.append(str(e))
                results.append({"key": src.key, "status": "failed", "bytes": 0, "path": ""})
            bars.remove_task(task)
    if as_json:
        print(json.dumps({"root": str(root), "files": results, "errors": errors}))
    else:
        counts = {
            s: sum(r["status"] == s for r in results) for s in ("downloaded", "resumed", "present", "failed")
        }
        mb = sum(r["bytes"] for r in results) / 1e6
        print(
            f"{len(results)} source files in {root / 'sources'}: {counts['downloaded']} downloaded, "
            f"{counts['resumed']} resumed, {counts['present']} already present, {counts['failed']} failed "
            f"({mb:.1f} MB transferred)"
        )
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if errors:
        # SystemExit, not typer.Exit: click returns typer.Exit's code in non-standalone mode, SystemExit gets out
        sys.exit(1)


@data_app.command("build")
def data_build_cmd(
    dest: Annotated[str | None, typer.Option("--dest", help=_DEST_HELP)] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help=_ONLY_HELP)] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild tables already in place.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Build the benchmark tables from the fetched sources (`nag data fetch`), each checked against its published
    SHA-256 and placed only if it matches; exit 1 if any differs or lacks an input."""
    from nag.benchmarks.build import build_target
    from nag.benchmarks.sources import NB201_COLUMNS, NOT_BUILT, TARGETS
    from nag.errors import NagRuntimeError

    root, names = _data_root_and_targets(dest, only)
    rows = []
    for name in names:
        try:
            r = build_target(TARGETS[name], root, force=force)
            rows.append(
                {
                    "file": r.relpath,
                    "status": r.status,
                    "expected_sha256": r.expected,
                    "sha256": r.got,
                    "detail": r.detail,
                    "columns_not_rebuilt": [list(c) for c in r.columns_not_rebuilt],
                }
            )
        except NagRuntimeError as e:
            rows.append(
                {
                    "file": name,
                    "status": "failed",
                    "expected_sha256": TARGETS[name].sha256,
                    "sha256": None,
                    "detail": str(e),
                    "columns_not_rebuilt": [],
                }
            )
    bad = [r for r in rows if r["status"] not in ("match", "present")]
    if as_json:
        print(json.dumps({"root": str(root), "files": rows, "not_built": NOT_BUILT}))
    else:
        for r in rows:
            print(
                f"{r['status']:<13} {r['file']}  sha256 {r['sha256'] or '-'}"
                + (f"  ({r['detail']})" if r["status"] not in ("match", "present") else "")
            )
            if r["file"] == "nb201/nb201_table.csv.gz" and r["status"] in ("match", "present", "differs"):
                lost = r["columns_not_rebuilt"]
                print(
                    f"{'':<13} columns rebuilt: {len(NB201_COLUMNS) - len(lost)} of {len(NB201_COLUMNS)}"
                    + "".join(f"; not rebuilt: {c} ({why})" for c, why in lost)
                )
        for rel, why in NOT_BUILT.items():
            print(f"{'not built':<13} {rel}  ({why})")
        print(f"{len(rows) - len(bad)} of {len(rows)} tables reproduce their published sha256 in {root}")
    if bad:
        sys.exit(1)  # as in `data fetch`


_TRAIN_DIFFUSION_OUT = "runs/train_diffusion/<space>_seed<seed>"


def _check_strategy(strategy: str) -> None:
    from lightning.pytorch.strategies import StrategyRegistry

    accepted = ["auto", *sorted(StrategyRegistry.available_strategies())]
    _check_choice("--strategy", strategy, accepted)


def _parse_devices(devices: str) -> int | str:
    """``--devices``: a positive count or ``auto``."""
    if devices == "auto":
        return devices
    try:
        n = int(devices)
    except ValueError:
        raise NagInputError(f"--devices: {devices!r} is not a count; accepted: auto or 1..1024") from None
    _check_int("--devices", n, 1, 1024)
    return n


@train_app.command("diffusion")
def train_diffusion_cmd(
    space: Annotated[str, typer.Option("--space", help=_SPACE_HELP)] = "nb201",
    out: Annotated[
        str,
        typer.Option(
            "--out",
            help=f"Run directory (resumes from its last.ckpt); default {_TRAIN_DIFFUSION_OUT} under the current "
            "directory.",
        ),
    ] = "",
    steps: Annotated[int, typer.Option("--steps", help="Optimiser steps, 1..10000000.")] = 6000,
    minutes: Annotated[float, typer.Option("--minutes", help="Wall-clock cap in minutes (> 0).")] = 10.0,
    train_fraction: Annotated[
        float, typer.Option("--train-fraction", help="Share of the space to train on, in (0, 1].")
    ] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help=_SEED_HELP)] = 0,
    accelerator: Annotated[
        str, typer.Option("--accelerator", help="Lightning accelerator: " + ", ".join(ACCELERATORS) + ".")
    ] = "auto",
    devices: Annotated[str, typer.Option("--devices", help="Number of devices (>= 1) or 'auto'.")] = "auto",
    strategy: Annotated[
        str, typer.Option("--strategy", help="Lightning strategy (auto, ddp, ...).")
    ] = "auto",
    threads: Annotated[int, typer.Option("--threads", help="torch CPU threads, 1..1024.")] = 2,
) -> None:
    """Train the graph diffusion generator of a space with Lightning; writes RUN_DIR/model.pt (pass that file to
    `nag generate --checkpoint`; RUN_DIR/last.ckpt is Lightning's state for resuming)."""
    from nag.spaces import get_space

    sp = get_space(space)
    _check_int("--steps", steps, 1, 10_000_000)
    _check_float("--minutes", minutes, 0.0, 7 * 24 * 60.0, lo_open=True)
    _check_float("--train-fraction", train_fraction, 0.0, 1.0, lo_open=True)
    _check_seed(seed)
    _check_choice("--accelerator", accelerator, ACCELERATORS)
    dev = _parse_devices(devices)
    _check_int("--threads", threads, 1, 1024)
    run_dir = _check_out_dir("--out", out or f"runs/train_diffusion/{sp.name}_seed{seed}")
    _check_strategy(strategy)
    import torch

    torch.set_num_threads(threads)
    from nag.diffusion.lit import TrainConfig, train_diffusion

    cfg = TrainConfig(
        space=sp.name, max_steps=steps, max_minutes=minutes, train_fraction=train_fraction, seed=seed
    )
    existed = run_dir.exists()
    try:
        _, info = train_diffusion(sp, cfg, run_dir, accelerator=accelerator, devices=dev, strategy=strategy)
    except BaseException:
        # a failure before anything was written leaves no empty run directory behind
        if not existed and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()
        raise
    print(
        f"trained {sp.name}: {info['steps']} steps in {info['elapsed_s']:.0f} s, {info['params']:,} parameters, "
        f"train loss {info['train_loss']:.4f}; model: {run_dir / 'model.pt'}"
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
        int,
        typer.Option(
            "--n-train", help="Random labelled architectures to train on (2 .. labelled count - 1)."
        ),
    ] = 100,
    seed: Annotated[int, typer.Option("--seed", help=_SEED_HELP)] = 0,
    features: Annotated[
        str, typer.Option("--features", help="Extra inputs: zc (training-free metrics) or none.")
    ] = "zc",
    noise_aware: Annotated[
        str,
        typer.Option(
            "--noise-aware", help="Diffusion checkpoint: train a noise-aware predictor for guidance."
        ),
    ] = "",
    ensemble: Annotated[int, typer.Option("--ensemble", help="Ensemble members, 1..64.")] = 5,
    accelerator: Annotated[
        str, typer.Option("--accelerator", help="Lightning accelerator: " + ", ".join(ACCELERATORS) + ".")
    ] = "cpu",
    out: Annotated[str, typer.Option("--out", help="Save the predictor to FILE (.pt).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Train an accuracy predictor on --n-train random labelled architectures; test it on all the others."""
    from nag.spaces import canonical_space_name, get_space

    sp = get_space(space)
    _check_int("--n-train", n_train, 2, None if _space_size(sp) is None else _space_size(sp) - 1)
    _check_int("--ensemble", ensemble, 1, 64)
    _check_seed(seed)
    _check_choice("--accelerator", accelerator, ACCELERATORS)
    _check_choice("--features", features, ("zc", "none"))
    if out:
        _check_out_file("--out", out, (".pt", ".pth"))
    from nag.benchmarks import BENCHMARKS

    if canonical_space_name(space) not in BENCHMARKS:  # predictors learn from a benchmark's labelled pool
        raise InvalidChoiceError("space", space, list(BENCHMARKS))
    from predictors.api import split_target

    split_target(canonical_space_name(space), target, None)  # unknown target or dataset: before any training
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
    ctx: typer.Context,
    space: Annotated[str, typer.Option("--space", help=_SPACE_HELP)] = "nb201",
    n: Annotated[int, typer.Option("-n", "--n", help="Architectures to generate.")] = 100,
    unique: Annotated[
        bool, typer.Option("--unique/--no-unique", help="n distinct architectures, or i.i.d.")
    ] = True,
    seed: Annotated[int, typer.Option("--seed", help=_SEED_HELP)] = 0,
    steps: Annotated[int, typer.Option("--steps", help="Denoising steps.")] = DEFAULT_STEPS,
    solver: Annotated[
        str, typer.Option("--solver", help="dpm (DPM-Solver++), ddim, ddpm or pc.")
    ] = DEFAULT_SOLVER,
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Model file (default: checkpoints/).")] = "",
    out: Annotated[str, typer.Option("--out", help="Write the architectures to FILE (.jsonl or .csv).")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
    maximize: Annotated[
        list[str] | None,
        typer.Option("--maximize", help="Objective to maximise, e.g. accuracy:cifar10 (repeatable)."),
    ] = None,
    constraint: _ConstraintOption = None,
    pareto: Annotated[
        str, typer.Option("--pareto", help="Sweep a trade-off, e.g. accuracy:cifar10,latency:pixel3.")
    ] = "",
    n_train: Annotated[
        int, typer.Option("--n-train", help="Labelled architectures for the accuracy predictor.")
    ] = 100,
    guidance_scale: Annotated[
        float | None,
        typer.Option(
            "--guidance-scale", help="Scale of the objective term [default: 3; 20 with --transfer-from]."
        ),
    ] = None,
    constraint_scale: Annotated[
        float, typer.Option("--constraint-scale", help="Scale of each constraint.")
    ] = 20.0,
    schedule: Annotated[
        str, typer.Option("--schedule", help="Guidance-scale schedule: constant, linear, cosine.")
    ] = "cosine",
    pool: Annotated[
        int, typer.Option("--pool", help="Guided candidates re-ranked by the clean predictor.")
    ] = 0,
    predictor: Annotated[
        list[str] | None,
        typer.Option(
            "--predictor",
            help="Reuse a trained accuracy predictor (nag train predictor --out FILE; repeatable: a clean and a "
            "noise-aware one) instead of training here.",
        ),
    ] = None,
    transfer_from: Annotated[
        str,
        typer.Option(
            "--transfer-from",
            help="With --maximize accuracy:<target>: other datasets of the space (comma-separated) whose tables "
            "make a transfer prior that guides and re-ranks, adapted from --n-train k >= 0 target labels (0: the "
            "prior alone).",
        ),
    ] = "",
    latency_backend: Annotated[
        str,
        typer.Option(
            "--latency-backend",
            help="--constraint latency:local<=MS: measure each network with torch or onnxruntime (batch 1, 1 thread, "
            "cached per architecture in ~/.cache/nag).",
        ),
    ] = "torch",
    input_size: Annotated[
        int,
        typer.Option("--input-size", help="--constraint latency:local: input height and width (3 channels)."),
    ] = 32,
    module_option: Annotated[
        list[str] | None,
        typer.Option(
            "--module-option",
            help="--constraint latency:local: network option KEY=VALUE of the space's builder (repeatable), e.g. "
            "width_mult=0.5 (mbv3), C=8 (nb201).",
        ),
    ] = None,
) -> None:
    """Sample architectures from the trained diffusion model; prints one per line, then a summary on stderr.

    With --maximize / --constraint / --pareto, sampling is guided by predictors (accuracy: an ensemble trained here
    on --n-train labelled architectures; latency: a model fitted on the device's table), hard constraints are
    re-checked on the decoded architectures, and each line also shows predicted and true values.
    --constraint latency:local<=MS (nb201, mbv3) is this machine: the space's local latency model (NB201's
    meta-learned device prior, MobileNetV3's per-block table) is fitted on 10 networks measured here, guides, and
    every generated network is then measured: "true" is measured latency.
    """
    from pathlib import Path

    from nag.diffusion.schedules import SOLVERS
    from nag.spaces import get_space

    sp = get_space(space)
    _check_choice("--solver", solver, SOLVERS)
    size = _space_size(sp)
    if unique and size is not None and size < COUNT_MAX:
        _check_int("-n", n, 1, size, f" (--unique: {sp.name} holds {size:,} architectures)")
    else:
        _check_int("-n", n, 1, COUNT_MAX)
    _check_int("--steps", steps, 1)
    _check_seed(seed)
    if guidance_scale is not None:
        _check_float("--guidance-scale", guidance_scale)
    _check_float("--constraint-scale", constraint_scale, 0.0)
    _check_int("--pool", pool, 0, COUNT_MAX)
    out_path = _check_out_file("--out", out, (".jsonl", ".csv")) if out else None
    guided = bool(maximize or constraint or pareto)
    conditions = None
    if transfer_from:
        _check_transfer_generate(sp, maximize or [], pareto, transfer_from, bool(predictor))
    if guided:
        conditions = _check_guided(sp, maximize or [], constraint or [], pareto, n_train, schedule,
                                   bool(transfer_from))  # fmt: skip
    elif predictor:
        raise NagInputError(
            "--predictor: serves guided generation; accepted: with --maximize accuracy:<dataset>"
        )
    given = _load_predictors(predictor or [])
    local = None
    if conditions is not None and any(c.qualifier == "local" for c in conditions.constraints):
        from predictors.measure import BACKENDS

        if latency_backend not in BACKENDS:
            raise InvalidChoiceError("latency-backend", latency_backend, BACKENDS)
        _check_int("--input-size", input_size, 8, 1024)
        local = {"backend": latency_backend, "input_size": input_size,
                 "module_kwargs": _module_options(sp.name, module_option)}  # fmt: skip
    else:
        for name in ("latency_backend", "input_size", "module_option"):
            if _option_given(ctx, name):
                raise NagInputError(f"{_flag(name)}: sets how latency:local is measured; accepted: with "
                                    "--constraint latency:local<=MS")  # fmt: skip
    from nag.checkpoint import default_checkpoint, missing_generator_error

    path = Path(checkpoint) if checkpoint else default_checkpoint(sp.name)
    if not checkpoint and not path.is_file():
        raise missing_generator_error(sp.name, path)
    import torch

    torch.set_num_threads(2)
    from nag.diffusion.metrics import generation_report
    from nag.diffusion.model import GraphDiffusionModel
    from nag.diffusion.sampler import generate

    model, state = GraphDiffusionModel.load_with_state(path, user_given=bool(checkpoint))
    if model.space_name != sp.name:
        raise InvalidChoiceError("checkpoint", f"{path} (a {model.space_name} model)",
                                 [f"a generator trained on {sp.name}"])  # fmt: skip
    _check_int("--steps", steps, 1, model.schedule.num_train_timesteps, " (the model's diffusion timesteps)")
    if guided:
        from predictors.design import design

        with _console(stderr=True).status("guided generation") as status:
            res = design(sp, model, conditions, n, n_train=n_train, guidance_scale=guidance_scale,
                         constraint_scale=constraint_scale, schedule=schedule, pool=pool, seed=seed, steps=steps,
                         solver=solver, predictors=given, progress=status.update,
                         transfer_from=transfer_from or None, local_latency=local)  # fmt: skip
        _print_design(sp, res, out_path, quiet)
        return
    res = generate(model, sp, n, unique=unique, seed=seed, steps=steps, solver=solver)
    lines = [sp.format(a) for a in res.archs]
    if out_path is not None:  # the file first: a write failure must not follow a screenful of output
        _write_archs(out_path, lines)
    print("\n".join(lines))
    if not quiet:
        train = [sp.parse(t) for t in state.get("extra", {}).get("train_archs", [])]
        rep = generation_report(sp, res.archs, train, elapsed_s=res.seconds)
        t = rep.to_table()
        t.caption = (
            f"{res.attempts} samples drawn, {res.solver} {res.steps} steps, {n / res.seconds:.0f} archs/s"
        )
        _console(stderr=True).print(t)


def _load_predictors(paths: list[str]) -> list:
    """The ``--predictor`` files, loaded without executing anything from them (`predictors.base.load_predictor`);
    each must hold an accuracy ensemble (what guided generation uses)."""
    if not paths:
        return []
    if len(paths) > 2:
        raise NagInputError(
            f"--predictor: {len(paths)} files given; accepted: at most a clean and a noise-aware one"
        )
    from predictors.accuracy import EnsemblePredictor
    from predictors.base import load_predictor

    out = []
    for path in paths:
        p = load_predictor(path)
        if not isinstance(p, EnsemblePredictor):
            raise InvalidChoiceError("--predictor", f"{path} (a {type(p).__name__})",
                                     ["an accuracy ensemble from nag train predictor --out"])  # fmt: skip
        out.append(p)
    return out


def _check_guided(sp, maximize: list[str], constraints: list[str], pareto: str, n_train: int, schedule: str,
                  transfer: bool = False):  # fmt: skip
    """Every guided-generation argument checked before the model is loaded or a predictor trained; returns the
    `predictors.design.DesignRequest` (with a transfer prior, ``--n-train`` may be 0)."""
    from nag.guidance import SCHEDULES
    from predictors.design import parse_request

    _check_choice("--schedule", schedule, SCHEDULES)
    size = _space_size(sp)
    _check_int("--n-train", n_train, 0 if transfer else 2, None if size is None else size - 1)
    return parse_request(sp, maximize, constraints, pareto)


def _check_transfer_generate(sp, maximize: list[str], pareto: str, sources: str, predictor: bool) -> None:
    """``nag generate --transfer-from``: an accuracy objective to transfer to and sources of the same space."""
    from predictors.transfer import check_sources

    first = (pareto.split(",")[0] if pareto else (maximize or [""])[0]).strip()
    head, _, target = first.partition(":")
    if head != "accuracy":
        raise NagInputError("--transfer-from: transfers an accuracy objective; accepted: with --maximize "
                            "accuracy:<target dataset> first")  # fmt: skip
    if predictor:
        raise NagInputError("--transfer-from: the transfer prior replaces --predictor; accepted: one of them")
    from nag.benchmarks import get_spec

    check_sources(sp.name, target or get_spec(sp.name).default_dataset, sources)


def _print_design(sp, res, out: Path | None, quiet: bool) -> None:
    """`nag generate`'s guided output: one line per architecture with predicted and true values, then a summary
    table on stderr (``res``: a `predictors.design.DesignResult`)."""
    import numpy as np

    lines = []
    for i, a in enumerate(res.archs):
        parts = [sp.format(a)]
        for t, p, tv in zip(res.targets, res.predicted, res.true, strict=True):
            shown_true = "" if tv is None else f" true {tv[i]:.3f}"
            parts.append(f"{t.condition.name} pred {p[i]:.3f}{shown_true} {t.unit}")
        lines.append(parts)
    if out is not None:  # the file first: a write failure must not follow a screenful of output
        _write_archs(out, [parts[0] for parts in lines])
    for parts in lines:
        print("  ".join(parts))
    for t, tv in zip(res.targets, res.true, strict=True):
        if tv is not None and t.condition.is_constraint and not t.condition.satisfied(tv).any():
            print(f"warning: none of the {len(tv)} architectures truly meets {t.condition} (true values "
                  f"{np.nanmin(tv):.4g}..{np.nanmax(tv):.4g} {t.unit}); the predictors' feasible region misses "
                  "it: relax the bound or train the predictors on more architectures", file=sys.stderr)  # fmt: skip
    tr = res.info.get("transfer")
    if tr:  # which prior knowledge was used, and its cost, is part of every report
        print(f"transfer: prior {tr['prior']} from {', '.join(tr['sources'])} (source tables, built in "
              f"{tr['build_s']:.1f} s), adapted from {tr['n_train']} {tr['dataset']} labels", file=sys.stderr)  # fmt: skip
    if quiet:
        return
    from rich.table import Table

    tab = Table(title=f"{len(res.archs)} architectures ({'Pareto front' if res.pareto else 'guided'})")
    for col in ("target", "predicted mean", "true mean", "true best", "truly feasible"):
        tab.add_column(col)
    for t, p, tv in zip(res.targets, res.predicted, res.true, strict=True):
        lower = t.condition.upper or (res.pareto and t is res.targets[-1])
        best = "" if tv is None else f"{(np.nanmin(tv) if lower else np.nanmax(tv)):.3f}"
        feas = (
            "" if tv is None or not t.condition.is_constraint else f"{t.condition.satisfied(tv).mean():.0%}"
        )
        tab.add_row(str(t.condition), f"{np.mean(p):.3f}", "" if tv is None else f"{np.nanmean(tv):.3f}",
                    best, feas)  # fmt: skip
    caption = f"{res.attempts} samples drawn, {res.seconds:.1f} s"
    if res.pareto:
        if res.hypervolume is not None:
            caption += (f"; hypervolume (true values) {res.hypervolume:.3f} = "
                        f"{res.hypervolume / res.hypervolume_true_front:.1%} of the true front's")  # fmt: skip
    else:
        caption += f"; {res.infeasible} rejected by constraints, {res.duplicates} repeats"
    tab.caption = caption
    _console(stderr=True).print(tab)


@zc_app.command("compute")
def zc_compute_cmd(
    space: Annotated[str, typer.Option("--space", help="Search space (nb201).")] = "nb201",
    metrics: Annotated[
        str, typer.Option("--metrics", help="Comma-separated metric names (at least one).")
    ] = "synflow,naswot",
    n: Annotated[int, typer.Option("--n", help="Distinct random architectures, 2..15625.")] = 100,
    seed: Annotated[
        int, typer.Option("--seed", help=f"Selects the architectures and the minibatch, 0..{SEED_MAX}.")
    ] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Minibatch size, 1..1024.")] = 16,
    dataset: Annotated[
        str, typer.Option("--dataset", help="Accuracy to correlate with. " + _DATASET_HELP)
    ] = "cifar10",
    cache: Annotated[
        str,
        typer.Option(
            "--cache",
            help="JSONL cache (resumes); default: zc/cache.jsonl in the cache directory ($NAG_CACHE_DIR).",
        ),
    ] = "",
    workers: Annotated[int, typer.Option("--workers", help="Worker processes, 0..256 (0: this one).")] = 0,
    out: Annotated[str, typer.Option("--out", help="Write the values to FILE.csv.")] = "",
) -> None:
    """Compute training-free metrics for random NB201 cells; print each metric's time and rank correlation."""
    from nag.benchmarks import benchmark_spaces, get_spec
    from nag.spaces import ModuleSpace, canonical_space_name, get_space

    # the metrics need the space's real networks, and the correlation a benchmark labelling every cell
    accepted = [n for n in benchmark_spaces(exhaustive=True) if isinstance(get_space(n), ModuleSpace)]
    if canonical_space_name(space) not in accepted:
        raise InvalidChoiceError("space", space, accepted)
    sp = get_space(space)
    report = get_spec(sp.name).report
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    _check_int("--n", n, 2, sp.size)
    _check_int("--batch-size", batch_size, 1, 1024)
    _check_seed(seed)
    _check_int("--workers", workers, 0, 256)
    out_path = _check_out_file("--out", out, (".csv",)) if out else None
    from nag.benchmarks.data import cache_dir

    cache_path = _check_out_file("--cache", cache) if cache else cache_dir() / "zc" / "cache.jsonl"
    import numpy as np
    import torch
    from scipy.stats import spearmanr

    from nag.benchmarks import get_benchmark
    from predictors.zero_cost import list_metrics
    from predictors.zero_cost.runner import ZCConfig, run_metrics

    if not names:
        raise InvalidChoiceError("--metrics", metrics, list_metrics())
    for m in names:
        _check_choice("metrics", m, list_metrics())
    bench = get_benchmark(sp.name)
    ds = bench.resolve_dataset(dataset)
    torch.set_num_threads(2)
    archs = sp.unique(sp.sample(4 * n, seed=seed))[:n] if n <= sp.size // 2 else list(sp.enumerate())[:n]
    res = run_metrics(
        archs, names, cache=cache_path, config=ZCConfig(batch_size=batch_size, seed=seed), workers=workers
    )
    acc = np.array([bench.query(a, ds, report) for a in archs])
    from rich.table import Table

    what = "test accuracy" if report == "test_acc" else report
    t = Table(title=f"{len(archs)} {sp.name.upper()} cells · Spearman with {ds} {what}")
    for col in ("metric", "median s", "Spearman ρ", "finite"):
        t.add_column(col, justify="right" if col != "metric" else "left")
    for m in names:
        v = res.table[m].to_numpy(dtype=float)
        ok = np.isfinite(v)
        rho = spearmanr(v[ok], acc[ok]).statistic if ok.sum() > 2 else float("nan")
        t.add_row(m, f"{res.times[m].median():.3f}", f"{rho:.3f}", f"{int(ok.sum())}/{len(v)}")
    _console().print(t)
    _console().print(f"computed {res.computed} values, reused {res.reused} from {cache_path}")
    if out_path is not None:
        from nag.io import atomic_path

        with atomic_path(out_path) as tmp:
            res.table.to_csv(tmp, index_label="arch")


def _method_options(items: list[str] | None) -> dict:
    """``KEY=VALUE`` pairs (values read as JSON where they parse, e.g. numbers) into a dict.

    Numbers must be finite and not negative (every method option is a count, a scale or a probability): a NaN or a
    negative pool would otherwise surface deep inside the run.
    """
    out: dict = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise NagInputError(
                f"option: {item!r} is not KEY=VALUE; accepted: KEY=VALUE, e.g. population_size=20"
            )
        key = key.strip().replace("-", "_")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None if raw.strip().lower() == "none" else raw
        if isinstance(value, float) and not math.isfinite(value):
            raise NagInputError(f"option: {key}={raw} is not a finite number; accepted: finite numbers >= 0")
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise NagInputError(f"option: {key}={raw} is negative; accepted: numbers >= 0")
        out[key] = value
    return out


#: Methods whose factory takes ``**options`` and forwards them: where their accepted options are declared.
_OPTIONS_DECLARED_BY = {"robot": "bo.robot:robot_search"}
#: Parameters of those callables that are not options (the harness fills them).
_NOT_OPTIONS = {
    "self",
    "domain",
    "oracle",
    "metrics",
    "signal",
    "budget",
    "seed",
    "cost",
    "metric_cost_s",
    "normalised",
}


def _check_method_options(method: str, opts: dict) -> None:
    """Option names the method accepts and values of the type of each option's default, before anything runs."""
    import importlib
    import inspect

    from bo.loop import METHODS

    target = _OPTIONS_DECLARED_BY.get(method, METHODS[method])
    if isinstance(target, str):
        module, name = target.split(":")
        target = getattr(importlib.import_module(module), name)
    config_type = getattr(target, "config_type", None)
    target = config_type or target  # a typed configuration declares the options and defaults
    params = inspect.signature(target.__init__ if inspect.isclass(target) else target).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return  # a registered method that declares no options: it checks its own
    defaults = {
        k: p.default for k, p in params.items() if k not in _NOT_OPTIONS and p.kind is not p.VAR_POSITIONAL
    }
    optional = set()  # options that may be None (a typed configuration's ``X | None`` fields)
    if config_type is not None:
        import dataclasses

        optional = {f.name for f in dataclasses.fields(config_type) if "None" in str(f.type)}
    if method == "robot":  # on a training oracle RoBoT also takes its live pool's options
        from bo.baselines import LIVE_ROBOT_OPTIONS, check_live_robot_options

        defaults.update(LIVE_ROBOT_OPTIONS)
        check_live_robot_options({k: v for k, v in opts.items() if k in LIVE_ROBOT_OPTIONS})
    for key, value in opts.items():
        if key not in defaults:
            raise InvalidChoiceError(
                "option", key, sorted(defaults) or [f"(none: {method} takes no options)"]
            )
        if value is None and key in optional:
            continue
        d = defaults[key]
        kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}.get(type(d))
        if kinds is not None and (
            not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
        ):
            article = "an" if type(d).__name__[0] in "aeiou" else "a"
            raise NagInputError(f"option: {key}={value!r} has the wrong type; accepted: {article} "
                                f"{type(d).__name__}{' or none' if key in optional else ''} (default {d!r})")  # fmt: skip
    if config_type is not None:  # and their values, before any run directory exists
        config_type.from_options(**opts)


def _check_search_args(method: str, space: str, budget: int, q: int, seed: int, constraints: list[str],
                       dataset: str, options: list[str] | None, out: str) -> None:  # fmt: skip
    """`nag search`'s plain arguments, before any oracle, executor or run directory exists."""
    from bo.oracles import parse_constraint
    from nag.spaces import canonical_space_name, get_space

    sp = get_space(canonical_space_name(space))
    size = _space_size(sp)
    _check_int("--budget", budget, 1, min(size or COUNT_MAX, COUNT_MAX),
               f" (queries of distinct architectures; {sp.name} holds {size:,})" if size else "")  # fmt: skip
    _check_int("--q", q, 1, budget, " (at most --budget)")
    _check_seed(seed)
    if out:
        _check_out_dir("--out", out)
    _check_method_options(method, _method_options(options))
    from nag.benchmarks import find_spec

    spec = find_spec(sp.name)
    if (
        spec is None or not spec.exhaustive
    ):  # whole-space ranges only where the table labels every architecture
        return
    import numpy as np

    from nag.benchmarks import get_benchmark

    bench = get_benchmark(sp.name)
    ds = bench.resolve_dataset(dataset)
    for text in constraints:
        c = parse_constraint(text)
        if c.metric not in bench.metrics(ds):
            continue  # the oracle names the metric and the accepted ones
        col = bench.column(ds, c.metric)
        lo, hi = float(np.nanmin(col)), float(np.nanmax(col))
        if (c.op.startswith("<") and c.bound < lo) or (c.op.startswith(">") and c.bound > hi):
            raise NagInputError(f"constraint: {text!r} cannot be met by any architecture of {sp.name} on {ds} "
                                f"(values {lo:.4g}..{hi:.4g}); accepted: a bound inside that range")  # fmt: skip


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


def _json_safe(obj):
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


#: `search` options that define a run; with ``--resume`` the run's saved values are used, so giving one is refused.
_RUN_DEFINING = (
    "method", "space", "dataset", "budget", "seed", "signal", "constraint", "constraint_source", "q", "out", "option",
    "normalisation", "data", "epochs", "batch_size", "lr", "n_train", "n_val", "n_test", "input_size", "augment",
    "accelerator", "threads", "module_option", "latency_backend",
)  # fmt: skip


def _given_with_resume(ctx: typer.Context) -> list[str]:
    """The run-defining options given on the command line (not defaults) alongside ``--resume``."""
    # compared by name: typer vendors its own click, whose ParameterSource is not click's
    given = ("COMMANDLINE", "ENVIRONMENT")
    return [
        "--" + name.replace("_", "-")
        for name in _RUN_DEFINING
        if getattr(ctx.get_parameter_source(name), "name", None) in given
    ]


#: The methods `nag search --help` lists (a test keeps it equal to `bo.loop.method_names`; listed here so that
#: help stays free of heavy imports).
_SEARCH_METHODS = ("robot", "diffusion-bo", "bananas", "random", "evolution", "local")

# ----------------------------------------------------------------------------------------- search on a real task
#: Spaces whose architectures build networks: what ``--data`` trains.
_TRAINING_SPACES = ("nb201", "nb101", "mbv3")
#: `search` options of real training (Python names): given without ``--data`` they are refused.
_TRAINING_OPTIONS = (
    "epochs", "batch_size", "lr", "n_train", "n_val", "n_test", "input_size", "augment", "accelerator", "threads",
    "module_option", "latency_backend",
)  # fmt: skip
#: ``--accelerator`` of real training (auto: a GPU where torch sees one, else the CPU).
_TRAIN_ACCELERATORS = ("auto", "cpu", "gpu")
_DATA_HELP = (
    "Train every queried network on this data instead of reading a benchmark table: fashion-mnist (the 10,000 "
    "shipped images), imagefolder:DIR (one sub-folder per class), npz:FILE (arrays x: N x H x W[x C] or N x C x H x "
    "W, y: labels 0..K-1) or torchvision:NAME:ROOT (a dataset already on disk). Signal = validation accuracy, report "
    "= test accuracy, cost = measured wall seconds. Spaces: " + ", ".join(_TRAINING_SPACES) + "."
)


def _option_given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` (Python name) came from the command line or the environment, not its default."""
    return getattr(ctx.get_parameter_source(name), "name", None) in ("COMMANDLINE", "ENVIRONMENT")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _split_size(field: str, text: str | None) -> int | float | None:
    """``--n-train`` / ``--n-val`` / ``--n-test``: a count >= 1 or a fraction in (0, 1); None: the default share."""
    if text is None:
        return None
    value: int | float | None
    try:
        value = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            value = None
    if (
        value is None
        or (isinstance(value, int) and value < 1)
        or (isinstance(value, float) and not 0 < value < 1)
    ):
        raise NagInputError(
            f"{field}: {text!r} is out of range; accepted: a count >= 1 or a fraction in (0, 1)"
        )
    return value


def _train_accelerator(accelerator: str) -> str:
    """``auto`` -> ``gpu`` where torch sees a CUDA device, else ``cpu``; ``gpu`` without one is refused."""
    _check_choice("--accelerator", accelerator, _TRAIN_ACCELERATORS)
    import torch

    has_gpu = torch.cuda.is_available()
    if accelerator == "gpu" and not has_gpu:
        raise NagInputError("--accelerator: 'gpu' but torch sees no GPU on this machine; accepted: auto, cpu")
    return ("gpu" if has_gpu else "cpu") if accelerator == "auto" else accelerator


def _module_options(space_name: str, items: list[str] | None) -> dict:
    """``--module-option KEY=VALUE`` pairs: keyword options of the space's ``to_module`` (values read as JSON where
    they parse), of the type of each option's default."""
    import inspect

    from nag.spaces import get_space

    params = {
        k: p.default
        for k, p in inspect.signature(get_space(space_name).to_module).parameters.items()
        if k not in ("arch", "num_classes") and p.default is not inspect.Parameter.empty
    }
    accepted = ", ".join(f"{k} (default {d!r})" for k, d in params.items())
    out: dict = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise NagInputError(
                f"--module-option: {item!r} is not KEY=VALUE; accepted for {space_name}: {accepted}"
            )
        if key not in params:
            raise InvalidChoiceError("--module-option", key, list(params))
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        d = params[key]
        kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}.get(type(d), (object,))
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if ok and isinstance(value, int | float) and not isinstance(value, bool):
            ok = math.isfinite(value) and value >= 0
        if not ok:
            raise NagInputError(
                f"--module-option: {key}={raw} is not a {type(d).__name__} >= 0; accepted for {space_name}: {accepted}"
            )
        out[key] = value
    return out


def _check_network(
    space_name: str, module_kwargs: dict, num_classes: int, shape: tuple[int, int, int]
) -> None:
    """Build a sampled architecture's network with these options and run it on two ``shape`` images, so that options
    no network accepts (``C=0``, an input too small for its strides) fail before anything is written."""
    import warnings

    import numpy as np
    import torch

    from nag.spaces import get_space

    sp = get_space(space_name)
    arch = sp.sample(1, np.random.default_rng(0))[0]
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch's notes on empty layers: the failure below says it
            net = sp.to_module(arch, num_classes=num_classes, **module_kwargs).eval()
            out = net(torch.zeros(2, *shape))
        out = out[1] if isinstance(out, tuple) else out
        if tuple(out.shape) != (2, num_classes):
            raise ValueError(f"output shape {tuple(out.shape)}, expected (2, {num_classes})")
    except Exception as e:  # noqa: BLE001 - any failure here is the options' fault: say which
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        opts = " ".join(f"{k}={v}" for k, v in module_kwargs.items()) or "default options"
        field = "--module-option" if module_kwargs else "--input-size"
        raise NagInputError(
            f"{field}: a {space_name} network ({opts}) does not run on {shape[1]} x {shape[2]} inputs ({why}); "
            "accepted: options and an --input-size its layers take"
        ) from None


def _data_tag(data: str) -> str:
    """A short name of a data spec for run directory names (``npz:/x/pets.npz`` -> ``npz-pets``)."""
    import re

    from bo.task_data import parse_data_spec

    spec = parse_data_spec(data)
    name = spec.name or (Path(spec.path).stem if spec.path else "")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{spec.scheme}-{name}" if name else spec.scheme)


def _training_oracle_args(ctx: typer.Context, space: str, data: str, constraints: list[str], epochs: int,
                          batch_size: int, lr: float, n_train: str | None, n_val: str | None, n_test: str | None,
                          input_size: int | None, augment: bool, accelerator: str, threads: int,
                          module_option: list[str] | None, seed: int) -> tuple[dict, object]:  # fmt: skip
    """Every argument of a ``--data`` search checked, with the data read and checked (`bo.task_data.check_data`):
    the `bo.oracles.TrainingOracle` keyword arguments and the data's `bo.task_data.DataInfo`."""
    import inspect

    from bo.oracles import TrainingOracle, parse_constraint
    from bo.task_data import DataSpec, check_data, parse_data_spec
    from nag.spaces import canonical_space_name

    for name in ("dataset", "signal", "normalisation"):
        if _option_given(ctx, name):
            raise NagInputError(f"{_flag(name)}: belongs to a benchmark table, and --data trains on the given data "
                                "instead; accepted: one of --data and --" + name)  # fmt: skip
    sp_name = canonical_space_name(space)
    if sp_name not in _TRAINING_SPACES:
        raise NagInputError(f"--space: {space!r} builds no image classifier for --data to train; accepted with "
                            f"--data: {', '.join(_TRAINING_SPACES)}")  # fmt: skip
    _check_int("--epochs", epochs, 1, 10_000)
    _check_int("--batch-size", batch_size, 2, 65_536, " (BatchNorm needs 2 images per batch)")
    _check_float("--lr", lr, 0.0, 10.0, lo_open=True)
    sizes = [
        _split_size(_flag(f), v) for f, v in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test))
    ]
    if input_size is not None:
        _check_int("--input-size", input_size, 1, 1024)
    _check_int("--threads", threads, 1, 1024)
    resolved = _train_accelerator(accelerator)
    module_kwargs = _module_options(sp_name, module_option)
    kwargs: dict = {}
    if constraints:
        if "constraints" not in inspect.signature(TrainingOracle).parameters:
            raise NagInputError("--constraint: the training oracle (--data) measures no constraint yet; accepted: "
                                "no --constraint with --data")  # fmt: skip
        kwargs["constraints"] = [parse_constraint(c) for c in constraints]
    spec = parse_data_spec(data)
    if spec.path:  # absolute, so that `--resume` and `nag export` find the data from any folder
        spec = DataSpec(spec.scheme, str(Path(spec.path).expanduser().absolute()), spec.name)
    try:
        info = check_data(spec, *sizes, size=input_size)
    except NagInputError as e:  # name the command's options, not the library's fields
        msg = str(e)
        for field, flag in (("n_train + n_val + n_test", "--n-train + --n-val + --n-test"), ("n_train", "--n-train"),
                            ("n_val", "--n-val"), ("n_test", "--n-test"), ("size", "--input-size")):  # fmt: skip
            if msg.startswith(field + ":"):
                raise NagInputError(flag + msg[len(field) :]) from None
        raise
    shape = (3, input_size, input_size) if input_size is not None else (3, *info.image_shape[1:])
    _check_network(sp_name, module_kwargs, info.num_classes, shape)
    kwargs.update(
        space=sp_name, data=info.spec, epochs=epochs, n_train=info.n_train, n_val=info.n_val, n_test=info.n_test,
        batch_size=batch_size, lr=lr, seed=seed, size=input_size, module_kwargs=module_kwargs,
        accelerator=resolved, threads=threads, augment=augment,
    )  # fmt: skip
    return kwargs, info


#: Methods that take ``--transfer-from``: diffusion-BO and its BANANAS preset (the prior is their surrogate),
#: RoBoT (source tables choose its initial metric weights).
_TRANSFER_METHODS = ("diffusion-bo", "bananas", "robot")


def _check_transfer_search(method: str, space: str, dataset: str, sources: str) -> None:
    """``nag search --transfer-from``: a method that uses it, and sources of the same space other than the target."""
    from nag.benchmarks import get_benchmark
    from predictors.transfer import check_sources

    if method not in _TRANSFER_METHODS:
        raise NagInputError(f"--transfer-from: {method} does not use a transfer prior; accepted with it: "
                            f"--method {', '.join(_TRANSFER_METHODS)} (or auto)")  # fmt: skip
    check_sources(space, get_benchmark(space).resolve_dataset(dataset), sources)


def _transfer_info(state) -> dict:
    """``{"transfer": {"sources", "build_s"}}`` where the run used a transfer prior (else ``{}``)."""
    sources = state.method_state.get("transfer_from") or state.config.method_options.get("transfer_from")
    if not sources:
        return {}
    build = next((v for k, v in state.one_off_cost_s.items() if k.startswith("transfer")), None)
    return {"transfer": {"sources": list(sources), "build_s": build}}


@app.command("search")
def search_cmd(
    ctx: typer.Context,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="Search method: auto (robot where the space's benchmark has a training-free metric table, "
            "else diffusion-bo; with --data: diffusion-bo where the space has a shipped generator, else evolution), "
            + ", ".join(_SEARCH_METHODS)
            + " (and methods registered with bo.loop.register_method).",
        ),
    ] = "auto",
    space: Annotated[
        str,
        typer.Option(
            "--space",
            help="Search space with a benchmark: nb201, nb101, nasbench_graph; with --data: nb201, nb101, mbv3.",
        ),
    ] = "nb201",
    dataset: Annotated[str, typer.Option("--dataset", help=_DATASET_HELP)] = "cifar10",
    budget: Annotated[
        int, typer.Option("--budget", help="Queries (distinct architectures evaluated), 1..the space's size.")
    ] = 20,
    seed: Annotated[int, typer.Option("--seed", help=_SEED_HELP)] = 0,
    signal: Annotated[
        str,
        typer.Option(
            "--signal",
            help="nb201: target (the dataset's 12-epoch validation), cifar10 (RoBoT's protocol: CIFAR-10 12-epoch "
            "validation), val200 (200-epoch validation, cifar10 only); nb101 / nasbench_graph: target.",
        ),
    ] = "target",
    constraint: _ConstraintOption = None,
    constraint_source: Annotated[
        str,
        typer.Option(
            "--constraint-source",
            help="How cheap constraints (latency, energy, params, FLOPs) are settled before a query: 'table' (the "
            "measured value, charged as a measurement) or 'model' (the device's latency model, free; each query "
            "verifies it).",
        ),
    ] = "table",
    q: Annotated[
        int,
        typer.Option("--q", "--batch", help="Architectures proposed and evaluated per step, 1..--budget."),
    ] = 1,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No line per query; only the final pick (as in generate).")
    ] = False,
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
    data: Annotated[str, typer.Option("--data", help=_DATA_HELP)] = "",
    epochs: Annotated[
        int,
        typer.Option("--epochs", help="--data: training epochs per query."),
    ] = 3,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", help="--data: minibatch size, >= 2."),
    ] = 128,
    lr: Annotated[
        float,
        typer.Option(
            "--lr",
            help="--data: SGD learning rate (Nesterov momentum 0.9, weight decay 5e-4, cosine-annealed to 0).",
        ),
    ] = 0.1,
    n_train: Annotated[
        str | None,
        typer.Option(
            "--n-train",
            help="--data: training images, a count or a fraction in (0, 1) (default 50%; validation and test 25% "
            "each). The split is drawn by --seed.",
        ),
    ] = None,
    n_val: Annotated[
        str | None,
        typer.Option("--n-val", help="--data: validation images (the signal)."),
    ] = None,
    n_test: Annotated[
        str | None,
        typer.Option("--n-test", help="--data: test images (the report)."),
    ] = None,
    input_size: Annotated[
        int | None,
        typer.Option(
            "--input-size",
            help="--data: resize images to SIZE x SIZE (default: their own size).",
        ),
    ] = None,
    augment: Annotated[
        bool,
        typer.Option(
            "--augment/--no-augment",
            help="--data: random crop (padding SIZE/8) and horizontal flip of the training images, seeded.",
        ),
    ] = False,
    accelerator: Annotated[
        str,
        typer.Option(
            "--accelerator",
            help="--data: auto (a GPU where torch sees one, else the CPU), cpu or gpu.",
        ),
    ] = "auto",
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            help="--data: torch CPU threads while training (1 keeps CPU runs bit-for-bit reproducible).",
        ),
    ] = 1,
    module_option: Annotated[
        list[str] | None,
        typer.Option(
            "--module-option",
            help="--data: network option KEY=VALUE of the space's builder (repeatable), e.g. C=8 N=1 (nb201), "
            "stem_channels=32 (nb101), width_mult=0.5 (mbv3).",
        ),
    ] = None,
    transfer_from: Annotated[
        str,
        typer.Option(
            "--transfer-from",
            help="Other datasets of the space (comma-separated) whose benchmark tables make a transfer prior: "
            "diffusion-bo's surrogate and guidance from query 0 (auto picks diffusion-bo), or robot's initial "
            "metric weights. The target's table is read only through queries.",
        ),
    ] = "",
    latency_backend: Annotated[
        str,
        typer.Option(
            "--latency-backend",
            help="--data with --constraint latency:local<=MS: run each untrained network with torch or onnxruntime "
            "(batch 1, warm-up, 30 passes paired with a reference network's, 1 thread; cached per architecture in "
            "~/.cache/nag).",
        ),
    ] = "torch",
) -> None:
    """Search a space with the benchmark oracle, or by training each queried network on your data (--data); prints
    every query, then the final pick with its values.

    The run directory holds config.json, state.json (resumable), queries.csv/jsonl and best_so_far.csv. One process
    at a time writes a run: a second search or resume of a run in progress is refused (exit 1, naming the PID
    holding it). --resume continues with the run's saved settings; options that define a run (--method, --budget,
    --seed, ...) given with it are refused (exit 2). Ctrl-C / SIGTERM save the run and print how to resume it.
    With --data, `nag export RUN_DIR --out pick.onnx` trains the pick again and writes it.
    """
    import os
    import time
    from pathlib import Path

    from bo.executors import EXECUTORS
    from bo.loop import method_names

    if executor not in EXECUTORS:
        raise InvalidChoiceError("executor", executor, EXECUTORS)
    if not resume:
        from nag.benchmarks import find_spec, metric_matrix_spaces
        from nag.spaces import canonical_space_name

        sp_name = canonical_space_name(space)
        spec = find_spec(sp_name)
        has_metrics = spec is not None and bool(spec.training_free)
        if not data:
            for name in _TRAINING_OPTIONS:
                if _option_given(ctx, name):
                    raise NagInputError(f"{_flag(name)}: trains networks, which needs --data SPEC; accepted without "
                                        "--data: none (the benchmark oracle reads its table)")  # fmt: skip
        # no benchmark table describes the user's task: the space's generator, or evolution where it has none
        if data and method == "auto":
            from nag.checkpoint import default_checkpoint

            method = "diffusion-bo" if default_checkpoint(sp_name).is_file() else "evolution"
        if transfer_from and data:
            raise NagInputError("--transfer-from: transfers between a benchmark's datasets; accepted: without "
                                "--data (the benchmark oracle)")  # fmt: skip
        if transfer_from and method == "auto":  # the prior drives the generator's BO from query 0
            method = "diffusion-bo"
        if method == "auto":  # RoBoT where it can run (it measured best there), the generator's BO elsewhere
            method = "robot" if has_metrics else "diffusion-bo"
        if method not in method_names():
            raise InvalidChoiceError("method", method, ["auto", *method_names()])
        if method == "robot" and not has_metrics and not data:  # a metric matrix, or live metrics on --data
            raise NagInputError(f"--method: robot needs a training-free metric table, which {sp_name} lacks; "
                                f"accepted: a space among {', '.join(metric_matrix_spaces())}, or another "
                                f"method ({', '.join(m for m in method_names() if m != 'robot')})")  # fmt: skip
        if normalisation not in ("minmax", "log", "rank"):
            raise InvalidChoiceError("normalisation", normalisation, ["minmax", "log", "rank"])
        from bo.oracles import CONSTRAINT_SOURCES

        if constraint_source not in CONSTRAINT_SOURCES:
            raise InvalidChoiceError("constraint-source", constraint_source, CONSTRAINT_SOURCES)
        if data:
            train_kwargs, data_info = _training_oracle_args(
                ctx, space, data, constraint or [], epochs, batch_size, lr, n_train, n_val, n_test, input_size,
                augment, accelerator, threads, module_option, seed,
            )  # fmt: skip
            from predictors.measure import BACKENDS

            if latency_backend not in BACKENDS:  # checked with or without a latency constraint
                raise InvalidChoiceError("latency-backend", latency_backend, BACKENDS)
            if constraint:
                train_kwargs["latency_backend"] = latency_backend
        _check_search_args(
            method, space, budget, q, seed, [] if data else constraint or [], dataset, option, out
        )
        if transfer_from:
            _check_transfer_search(method, sp_name, dataset, transfer_from)
    else:
        conflicting = _given_with_resume(ctx)
        if conflicting:
            raise NagInputError(
                f"resume: {', '.join(conflicting)} cannot be given with --resume (the run's saved settings are "
                "used); accepted with it: --executor, --workers, --ray-address, --progress, --json"
            )
        if not (Path(resume) / "state.json").is_file() and not (Path(resume) / "config.json").is_file():
            raise NagInputError(f"resume: {resume!r} holds no run (no state.json, no config.json)")
    _check_int("--workers", workers, 1, 256)
    import torch

    torch.set_num_threads(1)
    from bo.executors import get_executor
    from bo.loop import resume_search, run_search
    from bo.oracles import BenchmarkOracle, parse_constraint

    printed = 0

    def show(state) -> None:
        nonlocal printed
        if not (as_json or quiet):
            for i in range(printed, state.n_queries):
                _print_query(_query_row(state, i))
        printed = state.n_queries

    show_bar = progress if progress is not None else (sys.stderr.isatty() and (as_json or bool(data)))
    if resume:
        run_dir = Path(resume)
    elif data:
        from bo.oracles import TrainingOracle

        oracle = TrainingOracle(**train_kwargs)
        opts = _method_options(option)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        tag = _data_tag(oracle.data)
        run_dir = Path(out or f"runs/search/{method}-{sp_name}-{tag}-b{budget}-s{seed}-{stamp}-{os.getpid()}")
        if not quiet:
            d = data_info
            print(
                f"data: {d.spec}: {d.num_images} images, {d.num_classes} classes, {d.image_shape[0]} x "
                f"{d.image_shape[1]} x {d.image_shape[2]}; split {d.n_train} train / {d.n_val} val / {d.n_test} test "
                f"(seed {seed}); input {input_size or 'native size'}; {epochs} epoch(s), batch {batch_size}, lr {lr:g}, "
                f"{'augmented' if augment else 'no augmentation'}; {oracle.accelerator}, {threads} thread(s); "
                f"method {method}",
                file=sys.stderr,
                flush=True,
            )
    else:
        constraints = [parse_constraint(c) for c in constraint or []]
        oracle = BenchmarkOracle(sp_name, dataset, signal=signal, constraints=constraints,
                                 constraint_source=constraint_source)  # fmt: skip
        opts = _method_options(option)
        if method == "robot":
            opts.setdefault("normalisation", normalisation)
        if transfer_from:  # the run's options: config.json says which sources were used
            from predictors.transfer import check_sources

            opts["transfer_from"] = check_sources(sp_name, oracle.dataset, transfer_from)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = Path(
            out or f"runs/search/{method}-{sp_name}-{oracle.dataset}-b{budget}-s{seed}-{stamp}-{os.getpid()}"
        )
    try:
        ex_obj = get_executor(executor, workers=workers, address=ray_address or None)
    except ImportError as e:
        raise UsageError(str(e)) from None
    import warnings

    from bo.loop import InitialDesignWarning

    show_warning = warnings.showwarning

    def one_line(message, category, *args, **kw) -> None:  # the search's own warnings: one line, no source
        if issubclass(category, InitialDesignWarning):
            print(f"warning: {message}", file=sys.stderr, flush=True)
        else:
            show_warning(message, category, *args, **kw)

    try:
        with ex_obj as ex, warnings.catch_warnings():
            warnings.showwarning = one_line
            if resume:
                state = resume_search(run_dir, executor=ex, progress=show_bar, callback=show)
            else:
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
    except KeyboardInterrupt:
        # Ctrl-C, or SIGTERM (nag.errors.Terminated): the run is saved; main() turns it into exit 130 / 143.
        if (run_dir / "state.json").exists() or (run_dir / "config.json").exists():
            print(f"interrupted; resume with `nag search --resume {run_dir}`", file=sys.stderr, flush=True)
        else:
            print("interrupted before the run directory was written", file=sys.stderr, flush=True)
        raise
    show(state)  # a resumed run that had nothing left to do prints its queries here
    print(f"run directory: {run_dir}", file=sys.stderr)
    pick = state.pick()
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
                        **_transfer_info(state),
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

    def num(v) -> str:  # a report value the table lacks (NAS-Bench-101 test accuracy of some cells) is n/a
        return "n/a" if v is None or not math.isfinite(v) else f"{v:.2f}"

    print(
        f"pick: {pick['arch']}  {sig_name} {pick['signal']:.3f}  {metric} {num(val)}  "
        f"best {metric} among queried {num(pick[best_key])}  queries {pick['queries']} ({pick['free']} free)  "
        f"query cost {cost}"
    )
    tr = _transfer_info(state).get("transfer")
    if tr:
        print(f"transfer: sources {', '.join(tr['sources'])} (their tables, prior knowledge); building the prior "
              f"cost {tr['build_s'] or 0:.1f} s, outside the queries")  # fmt: skip
    if "measurements" in pick:
        print(
            f"cheap constraints: {pick['measurements']} measurements ({pick['measure_cost_s']:.0f} s), "
            f"{pick['rejected']} candidates ruled out before a query, {pick['infeasible_queries']} infeasible queries"
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

    if out:
        _check_out_dir("--out", out)
    try:
        text, files = write_report(run_dirs, out or None)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    print(text, end="")
    for f in files:
        print(f"wrote {f}", file=sys.stderr)


@app.command("export")
def export_cmd(
    run_dir: Annotated[str, typer.Argument(help="Run directory of `nag search --data SPEC`.")],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            help="FILE.onnx (ONNX, opset 17, dynamic batch axis; needs the onnx package: pip install 'nag[export]') "
            "or FILE.pt (TorchScript, torch.jit.load). A FILE.json beside it records classes, input layout and "
            "accuracies.",
        ),
    ],
    epochs: Annotated[
        int | None,
        typer.Option(
            "--epochs", help="Training epochs (default: the run's recipe; more trains the pick longer)."
        ),
    ] = None,
    accelerator: Annotated[
        str | None,
        typer.Option("--accelerator", help="auto, cpu or gpu (default: the run's)."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="torch CPU threads while training (default: the run's).")
    ] = None,
) -> None:
    """Train the pick of a --data search run and write it as ONNX or TorchScript; prints its test accuracy.

    A search keeps no weights, so export always trains: the pick's network is rebuilt and trained on the run's data
    with the run's recipe and seed (the same weights the query had, on the CPU), or for --epochs. The file takes
    B x 3 x S x S float32 pixels (uint8 images / 255, grey replicated to 3 channels) and returns B x K logits: the
    training split's normalisation is inside it. A benchmark run trained no network and is refused (exit 2).
    """
    from bo.export import EXPORT_FORMATS, export_pick, load_training_oracle, require_onnx, train_pick

    path = _check_out_file("--out", out, tuple(EXPORT_FORMATS))
    if epochs is not None:
        _check_int("--epochs", epochs, 1, 10_000)
    if threads is not None:
        _check_int("--threads", threads, 1, 1024)
    resolved = _train_accelerator(accelerator) if accelerator is not None else None
    run = Path(run_dir)
    if not run.is_dir() or not (run / "config.json").is_file():
        raise NagInputError(f"RUN_DIR: {run_dir!r} holds no run (no config.json); accepted: a run directory of "
                            "`nag search --data SPEC`")  # fmt: skip
    load_training_oracle(run)  # a benchmark run, or data gone since: refused before training
    if EXPORT_FORMATS[path.suffix] == "onnx":
        require_onnx()
    import torch

    torch.set_num_threads(1)
    trained = train_pick(run, epochs=epochs, accelerator=resolved, threads=threads)
    info = export_pick(trained, path)
    i = trained.info
    shape = " x ".join(map(str, i["input_shape"]))
    print(f"wrote {path} ({info['format']}; input B x {shape} pixels, output B x {i['num_classes']} logits) "
          f"and {path.name}.json", file=sys.stderr)  # fmt: skip
    if info.get("format") == "onnx":
        diff = info.get("onnxruntime_max_abs_diff")
        print("onnxruntime not installed: the file was not run" if diff is None
              else f"onnxruntime: max |logit difference| to PyTorch {diff:.2e}", file=sys.stderr)  # fmt: skip
    print(f"export: {i['arch']}  {i['recipe']['epochs']} epoch(s) in {i['train_s']:.0f} s  val_acc {i['val_acc']:.2f}  "
          f"test_acc {i['test_acc']:.2f}")  # fmt: skip


def _write_archs(path: Path, lines: list[str]) -> None:
    """Architectures to ``path`` (``.csv`` with an ``arch`` column, else JSON lines), atomically."""
    import csv
    import io

    from nag.io import atomic_write_text

    if path.suffix == ".csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["arch"])
        w.writerows([[ln] for ln in lines])
        text = buf.getvalue()
    else:
        text = "".join(json.dumps({"arch": ln}) + "\n" for ln in lines)
    atomic_write_text(path, text)


#: Errors that are the user's input: one line, exit 2.
_INPUT_ERRORS = (NagInputError, InvalidChoiceError, InvalidArchitectureError, DataNotFoundError)


def _on_sigterm(signum, frame) -> None:
    _GLOBAL["terminated"] = True
    raise Terminated(signum)


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """``(ClickException, Exit)`` classes of typer's vendored click and of click itself where installed (typer
    raises the former; a command that uses click directly, the latter)."""
    import importlib

    errors: list[type] = []
    exits: list[type] = [typer.Exit]
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        errors.append(mod.ClickException)
        if hasattr(mod, "Exit"):
            exits.append(mod.Exit)
    return tuple(errors), tuple(exits)


def _exit_code(argv: list[str] | None) -> int:
    """Run the app; map every outcome to the exit-code contract and print at most one line (see the module doc)."""
    click_error, click_exit = _click_exceptions()
    _GLOBAL["debug"] = False
    _GLOBAL["terminated"] = False
    _GLOBAL["data_noted"] = False
    try:
        rc = app(args=argv, standalone_mode=False)
    except _INPUT_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NagRuntimeError as e:
        _traceback_if_debug()
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # raised outside typer's own handling (it turns one inside a command into 130)
        rc = 130
    except typer.Abort:
        rc = 130
    except click_error as e:  # click's usage errors (exit 2) and file errors (exit 1)
        e.show()
        return e.exit_code
    except click_exit as e:
        rc = e.exit_code
    except Exception as e:  # a bug or an unforeseen failure: one line naming the step, exit 1
        _traceback_if_debug()
        step = _step_name(sys.argv[1:] if argv is None else argv)
        msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        hint = "" if _GLOBAL["debug"] else " (run with --debug for the traceback)"
        print(f"error: {step} failed: {type(e).__name__}{': ' + msg if msg else ''}{hint}", file=sys.stderr)
        return 1
    rc = rc if isinstance(rc, int) else 0
    if rc == 0:
        _note_embedded_data()
    if rc == 130:  # typer turns KeyboardInterrupt (and so `Terminated`) into exit code 130
        if _GLOBAL["terminated"]:
            print("terminated (SIGTERM)", file=sys.stderr)
            return 143
        print("interrupted (SIGINT)", file=sys.stderr)
    return rc


def _note_embedded_data() -> None:
    """One stderr line when a command read the package's embedded default instead of the full tables (the data
    resolver's answer; `nag data check` lists every file)."""
    data = sys.modules.get("nag.benchmarks.data")
    if data is None:
        return
    if _GLOBAL.get("data_noted"):  # the command printed its own data line (`nag query`)
        return
    if note := data.describe_sources({f.relpath: f for f in data.data_used() if f.source == "embedded"}):
        print(note, file=sys.stderr)


def _step_name(argv: list[str]) -> str:
    """The subcommand an argument list ran (``train predictor``), for one-line failure messages."""
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        return "nag"
    return " ".join(words[:2]) if words[0] in ("train", "zc", "data") else words[0]


def _traceback_if_debug() -> None:
    if _GLOBAL["debug"]:
        import traceback

        traceback.print_exc()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and exit with the contract's code.

    0 success; 2 bad input (one line: ``error: <field>: <value> ...; accepted: ...``); 1 runtime failure (one line
    naming the file or step; the traceback with ``--debug``); 130 on SIGINT; 143 on SIGTERM, which a handler installed
    here turns into `nag.errors.Terminated` so that state is saved and ``finally`` blocks run as for Ctrl-C.
    """
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = _exit_code(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    sys.exit(code)


if __name__ == "__main__":
    main()
