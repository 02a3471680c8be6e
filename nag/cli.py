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
        t.add_column(col)
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
            "yes" if r["benchmark"] else "no (no offline table)",
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


@data_app.command("check")
def data_check_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Which data files are found where, with checksums against SHA256SUMS; exit 1 if any is missing or differs."""
    from nag.benchmarks.data import data_dirs, resolve, sha256

    try:
        sums_path = resolve("SHA256SUMS")
    except DataNotFoundError as e:
        raise UsageError(str(e)) from None
    rows = []
    for line in sums_path.read_text().splitlines():
        if not line.strip():
            continue
        digest, rel = line.split(maxsplit=1)
        rel = rel.lstrip("*").removeprefix("./")
        try:
            p = resolve(rel)
            status = "ok" if sha256(p) == digest else "checksum differs"
            where = str(p)
        except DataNotFoundError:
            status, where = "missing", "-"
        rows.append({"file": rel, "status": status, "path": where})
    try:
        from pathlib import Path

        import nas_bench_graph

        nbg = Path(nas_bench_graph.__file__).parent / "light"
        n = len(list(nbg.glob("*.bench")))
        rows.append({"file": "nas-bench-graph (PyPI)", "status": "ok" if n else "missing", "path": str(nbg)})
    except ImportError:
        rows.append(
            {"file": "nas-bench-graph (PyPI)", "status": "missing", "path": "pip install nas-bench-graph"}
        )
    bad = [r for r in rows if r["status"] != "ok"]
    if as_json:
        print(json.dumps({"searched": [str(d) for d in data_dirs()], "files": rows}))
    else:
        from rich.table import Table

        t = Table(title="data check (searched: " + ", ".join(str(d) for d in data_dirs()) + ")")
        for col in ("file", "status", "path"):
            t.add_column(col)
        for r in rows:
            t.add_row(r["file"], r["status"], r["path"])
        _console().print(t)
    if bad:
        raise typer.Exit(1)


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
