"""Sweep of malformed ``nag`` invocations: exit codes, tracebacks, bad values accepted, timeouts per subcommand.

Each invocation runs as a subprocess of the checkout given by ``--repo`` (default: this one) in a fresh temporary
working directory with ``$NAG_CACHE_DIR`` inside it (a cold cache: each invocation parses the tables it reads), under
a per-invocation timeout; a timed-out invocation is killed with its whole process group. Every case is an input error
(expected exit 2) unless it says otherwise (a damaged run file is a runtime failure, exit 1 or 2). The table counts,
per subcommand: invocations, exits 0 / 1 / 2 / other, tracebacks on stderr, bad values accepted (exit 0 on invalid
input), input errors that did not exit 2, and timeouts. It also reports whether a planted checkpoint payload ran and
whether anything was written into the working directory (outside the cache) or the data directory.

    .venv/bin/python experiments/bench/cli_sweep.py [--repo PATH] [--timeout 30] [--jobs 2] [--only generate]

The data directory is the checkout's ``../shared/data`` or ``$NAG_DATA_DIR``; give ``--data`` for a checkout without one.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@dataclass
class Case:
    """One invocation: the subcommand it belongs to, its arguments, and the accepted exit codes."""

    group: str
    args: list[str]
    expect: frozenset[int] = frozenset({2})


@dataclass
class Result:
    case: Case
    code: int | None  # None: timed out
    traceback: bool
    seconds: float
    err_tail: str = ""


@dataclass
class Row:
    n: int = 0
    exits: dict[str, int] = field(default_factory=lambda: {"0": 0, "1": 0, "2": 0, "other": 0})
    tracebacks: int = 0
    accepted: int = 0
    wrong_code: int = 0
    timeouts: int = 0


def cases(fx: dict[str, str]) -> list[Case]:
    """The malformed invocations; ``fx`` maps fixture names to paths made by `make_fixtures`."""
    c: list[Case] = []

    def add(group: str, *argsets: list[str], expect: frozenset[int] = frozenset({2})) -> None:
        c.extend(Case(group, list(a), expect) for a in argsets)

    # ---- top level
    add("nag", ["frobnicate"], ["--no-such-flag"], ["spaces", "--bogus"], ["spaces", "extra-arg"])
    # ---- query
    add(
        "query",
        ["query"],
        ["query", "--arch", ""],
        ["query", "--arch", "not an arch"],
        ["query", "--arch", "|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|"],
        ["query", "--arch", "(4, 3, 3, 0, 0)"],
        ["query", "--arch", "(9, 3, 3, 0, 0, 0)"],
        ["query", "--arch", "(-1, 3, 3, 0, 0, 0)"],
        ["query", "--arch", "[1,2,3]"],
        ["query", "--arch", "{}"],
        ["query", "--arch", "|" * 500],
        ["query", "--arch", BEST, "--space", "nb999"],
        ["query", "--arch", BEST, "--space", ""],
        ["query", "--arch", BEST, "--dataset", "mnist"],
        ["query", "--arch", BEST, "--dataset", ""],
        ["query", "--arch", BEST, "-m", "accuracy"],
        ["query", "--arch", BEST, "-m", ""],
        ["query", "--arch", BEST, "-m", "latency:nodevice"],
        ["query", "--arch", BEST, "--space", "nb101"],
        ["query", "--arch", BEST, "--space", "mbv3"],
        ["query", "--arch", BEST, "--space", "nasbench_graph", "--dataset", "cifar10"],
        ["query", "--arch", "\x01\x02"],
        ["query", "--arch", BEST, "--json", "--json=1"],
    )
    # ---- data check
    add("data", ["data"], ["data", "check", "--bogus"], ["data", "check", "extra"], ["data", "nosuch"])
    # ---- generate
    g = ["generate", "--space", "nb201"]
    add(
        "generate",
        [*g, "-n", "0"],
        [*g, "-n", "-5"],
        [*g, "-n", "1e10"],
        [*g, "-n", "10000000000"],
        [*g, "-n", "abc"],
        [*g, "-n", "20000", "--unique"],
        [*g, "--steps", "0"],
        [*g, "--steps", "-3"],
        [*g, "--steps", "100000000"],
        [*g, "--steps", "1e8"],
        [*g, "--seed", "-1"],
        [*g, "--seed", str(2**70)],
        [*g, "--seed", "1.5"],
        [*g, "--solver", "euler"],
        [*g, "--solver", ""],
        [*g, "--space", "nb999"],
        [*g, "--checkpoint", "/nonexistent/m.pt"],
        [*g, "--checkpoint", fx["dir"]],
        [*g, "--checkpoint", fx["payload"]],
        [*g, "--checkpoint", fx["lightning"]],
        [*g, "--checkpoint", fx["truncated"]],
        [*g, "--checkpoint", fx["random"]],
        [*g, "--checkpoint", fx["text"]],
        [*g, "--checkpoint", fx["empty"]],
        [*g, "--checkpoint", fx["wrongformat"]],
        [*g, "--checkpoint", fx["missingkey"]],
        [*g, "--checkpoint", fx["list"]],
        ["generate", "--space", "nb101", "--checkpoint", fx["nb201"]],
        ["generate", "--space", "mbv3"],
        [*g, "--out", "x.txt"],
        [*g, "--out", fx["dir_jsonl"], "-n", "3", "--steps", "2"],
        [*g, "--out", "/proc/nag/x.jsonl", "-n", "3", "--steps", "2"],
        [*g, "--out", fx["text"] + "/x.jsonl", "-n", "3", "--steps", "2"],
        [*g, "--maximize", "flops"],
        [*g, "--maximize", ""],
        [*g, "--maximize", "accuracy:mnist"],
        [*g, "--maximize", "accuracy:cifar10", "--guidance-scale", "nan"],
        [*g, "--maximize", "accuracy:cifar10", "--guidance-scale", "inf"],
        [*g, "--maximize", "accuracy:cifar10", "--guidance-scale", "-inf"],
        [*g, "--maximize", "accuracy:cifar10", "--constraint-scale", "nan"],
        [*g, "--maximize", "accuracy:cifar10", "--n-train", "0"],
        [*g, "--maximize", "accuracy:cifar10", "--n-train", "-1"],
        [*g, "--maximize", "accuracy:cifar10", "--n-train", "100000"],
        [*g, "--maximize", "accuracy:cifar10", "--pool", "-1"],
        [*g, "--maximize", "accuracy:cifar10", "--schedule", "exp"],
        [*g, "--constraint", "latency:edgegpu"],
        [*g, "--constraint", "latency:nokia<=3"],
        [*g, "--constraint", "latency:edgegpu<=-1"],
        [*g, "--constraint", "latency_edgegpu<=-1"],
        [*g, "--constraint", "params<=0"],
        [*g, "--constraint", "params<=0.00001"],
        [*g, "--constraint", "params>=1000"],
        [*g, "--constraint", "latency:edgegpu<=nan"],
        [*g, "--constraint", "latency:edgegpu<=inf", "--constraint", "params<=-3"],
        [*g, "--constraint", "<=3"],
        [*g, "--constraint", ""],
        [*g, "--pareto", "accuracy:cifar10"],
        [*g, "--pareto", "accuracy:cifar10,latency:nodevice"],
        [*g, "--pareto", "accuracy:mnist,latency:pixel3"],
        [*g, "--pareto", ",,"],
        [*g, "--pareto", "accuracy:cifar10,latency:pixel3,params"],
    )
    # ---- train diffusion
    td = ["train", "diffusion", "--space", "nb201"]
    add(
        "train diffusion",
        [*td, "--steps", "0"],
        [*td, "--steps", "-2"],
        [*td, "--steps", "1e8"],
        [*td, "--minutes", "-1"],
        [*td, "--minutes", "0"],
        [*td, "--minutes", "nan"],
        [*td, "--train-fraction", "0"],
        [*td, "--train-fraction", "1.5"],
        [*td, "--train-fraction", "nan"],
        [*td, "--seed", "-1"],
        [*td, "--seed", str(2**70)],
        [*td, "--accelerator", "tpu"],
        [*td, "--accelerator", ""],
        [*td, "--devices", "0"],
        [*td, "--devices", "-1"],
        [*td, "--devices", "many"],
        [*td, "--threads", "0"],
        [*td, "--threads", "-4"],
        [*td, "--strategy", "nonsense"],
        [*td, "--space", "nb999"],
        [*td, "--space", ""],
        [*td, "--out", fx["text"]],
        [*td, "--out", "/proc/nag/run"],
    )
    # ---- train predictor
    tp = ["train", "predictor", "--space", "nb201"]
    add(
        "train predictor",
        [*tp, "--target", "foo"],
        [*tp, "--target", "cifar10_bogus"],
        [*tp, "--target", ""],
        [*tp, "--target", "mnist_test_acc"],
        [*tp, "--n-train", "0"],
        [*tp, "--n-train", "1"],
        [*tp, "--n-train", "-5"],
        [*tp, "--n-train", "1000000"],
        [*tp, "--ensemble", "0"],
        [*tp, "--ensemble", "-1"],
        [*tp, "--seed", "-1"],
        [*tp, "--seed", str(2**70)],
        [*tp, "--features", "bogus"],
        [*tp, "--features", ""],
        [*tp, "--accelerator", "tpu"],
        [*tp, "--noise-aware", "/nonexistent.pt"],
        [*tp, "--noise-aware", fx["payload"]],
        [*tp, "--noise-aware", fx["lightning"]],
        [*tp, "--noise-aware", fx["random"]],
        [*tp, "--out", fx["text"] + "/p.pt"],
        [*tp, "--out", fx["dir"]],
        [*tp, "--out", "/proc/nag/p.pt"],
        [*tp, "--space", "mbv3"],
        [*tp, "--space", "nb999"],
    )
    # ---- zc compute
    z = ["zc", "compute", "--n", "3", "--batch-size", "4"]
    add(
        "zc compute",
        [*z, "--metrics", ""],
        [*z, "--metrics", ","],
        [*z, "--metrics", "synflow,nope"],
        [*z, "--space", "mbv3"],
        [*z, "--space", "nb999"],
        ["zc", "compute", "--n", "0"],
        ["zc", "compute", "--n", "-3"],
        ["zc", "compute", "--n", "1e9"],
        [*z, "--batch-size", "0"],
        [*z, "--batch-size", "-8"],
        [*z, "--seed", "-1"],
        [*z, "--seed", str(2**70)],
        [*z, "--workers", "-1"],
        [*z, "--dataset", "mnist"],
        [*z, "--out", "x.txt"],
        [*z, "--out", fx["dir_csv"]],
        [*z, "--out", fx["text"] + "/zc.csv"],
        [*z, "--out", "/proc/nag/zc.csv"],
        [*z, "--cache", fx["dir"]],
        [*z, "--cache", fx["text"] + "/c.jsonl"],
    )
    # ---- search
    s = ["search", "--method", "random"]
    add(
        "search",
        ["search", "--method", "no-such-method"],
        ["search", "--method", ""],
        ["search", "--space", "nb101", "--method", "robot"],
        ["search", "--space", "nb999"],
        [*s, "--space", "mbv3"],
        [*s, "--signal", "test"],
        [*s, "--signal", "val200", "--dataset", "cifar100"],
        [*s, "--dataset", "mnist"],
        [*s, "--budget", "0"],
        [*s, "--budget", "-5"],
        [*s, "--budget", "1e26"],
        [*s, "--budget", str(10**26)],
        [*s, "--budget", "100000"],
        [*s, "--seed", "-1"],
        [*s, "--seed", str(2**70)],
        [*s, "--q", "0"],
        [*s, "--q", "-2"],
        [*s, "--q", "1000000"],
        [*s, "--constraint", "latency<=fast"],
        [*s, "--constraint", "latency:toaster<=3"],
        [*s, "--constraint", "latency:edgegpu<=-1"],
        [*s, "--constraint", "params<=0"],
        [*s, "--constraint", "latency:edgegpu<=nan"],
        [*s, "--executor", "dask"],
        [*s, "--workers", "0"],
        [*s, "--workers", "-1"],
        [*s, "--option", "population_size"],
        [*s, "--option", "=3"],
        [*s, "--option", "beta=NaN", "--out", "opt-nan"],
        [*s, "--option", "pool=-5", "--out", "opt-pool"],
        ["search", "--method", "evolution", "--option", "population_size=-3", "--out", "opt-pop"],
        ["search", "--method", "evolution", "--option", "population_size=abc", "--out", "opt-pop2"],
        ["search", "--method", "robot", "--option", "beta=NaN", "--out", "opt-robot"],
        ["search", "--method", "robot", "--normalisation", "zscore"],
        ["search", "--method", "diffusion-bo", "--option", "pool=-5", "--out", "opt-dbo"],
        ["search", "--method", "diffusion-bo", "--option", "beta=inf", "--out", "opt-dbo2"],
        ["search", "--method", "bananas", "--option", "nonsense=1", "--out", "opt-ban"],
        [*s, "--out", fx["text"]],
        [*s, "--out", "/proc/nag/run"],
        ["search", "--resume", "/nonexistent/run"],
        ["search", "--resume", fx["text"]],
        ["search", "--resume", fx["dir"]],
    )
    damaged = frozenset({1, 2})
    for name in ("run_truncated", "run_empty", "run_random", "run_null", "run_lists"):
        add("search", ["search", "--resume", fx[name]], expect=damaged)
    # ---- report
    add(
        "report",
        ["report"],
        ["report", "/nonexistent/run"],
        ["report", fx["text"]],
        ["report", fx["dir"]],
        ["report", fx["run_null"], "--out", fx["text"] + "/rep"],
    )
    for name in ("run_truncated", "run_empty", "run_random", "run_null", "run_lists"):
        add("report", ["report", fx[name]], expect=damaged)
    return c


def make_fixtures(root: Path, repo: Path, marker: Path) -> dict[str, str]:
    """Files the cases point at: hostile, damaged and misplaced checkpoints, damaged run directories, a file and
    folders in the way of outputs. (No read-only folder: run as root, permission bits do not stop writes.)"""
    code = f"""
import builtins, io, json, os, sys, torch, zipfile
from pathlib import Path
root, marker = Path({str(root)!r}), {str(marker)!r}
class Payload:
    def __reduce__(self):
        return (builtins.open, (marker, "w"))
src = torch.load({str(repo / "checkpoints" / "diffusion_nb201.pt")!r}, map_location="cpu", weights_only=True)
hostile = dict(src); hostile["extra"] = {{"x": Payload()}}
torch.save(hostile, root / "payload.pt")
torch.save({{"pytorch-lightning_version": "2.4.0", "state_dict": src["weights"], "epoch": 3}}, root / "last.ckpt")
raw = (root / "payload.pt").read_bytes()
buf = io.BytesIO(); torch.save(src, buf)
(root / "truncated.pt").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
(root / "random.pt").write_bytes(os.urandom(4096))
(root / "text.txt").write_text("not a checkpoint\\n")
(root / "empty.pt").write_bytes(b"")
torch.save({{"format": "nag.diffusion/9"}}, root / "wrongformat.pt")
bad = dict(src); del bad["weights"]; torch.save(bad, root / "missingkey.pt")
torch.save([1, 2, 3], root / "list.pt")
"""
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(repo)})
    (root / "somedir").mkdir()
    (root / "out.jsonl").mkdir()
    (root / "out.csv").mkdir()
    cfg = {
        "method": "random",
        "budget": 5,
        "seed": 0,
        "q": 1,
        "oracle": {"space": "nb201", "dataset": "cifar10"},
    }
    states = {
        "run_truncated": '{"archs": ["a", "b"], "signals": [1.0',
        "run_empty": "",
        "run_random": os.urandom(256).decode("latin-1"),
        "run_null": "null",
        "run_lists": json.dumps({"archs": ["a", "b"], "signals": [1.0], "costs": [], "budget": -3}),
    }
    fx: dict[str, str] = {}
    for name, text in states.items():
        d = root / name
        d.mkdir()
        (d / "config.json").write_text(json.dumps(cfg))
        (d / "state.json").write_text(text, encoding="latin-1")
        fx[name] = str(d)
    fx.update(
        payload=str(root / "payload.pt"),
        lightning=str(root / "last.ckpt"),
        truncated=str(root / "truncated.pt"),
        random=str(root / "random.pt"),
        text=str(root / "text.txt"),
        empty=str(root / "empty.pt"),
        wrongformat=str(root / "wrongformat.pt"),
        missingkey=str(root / "missingkey.pt"),
        list=str(root / "list.pt"),
        nb201=str(repo / "checkpoints" / "diffusion_nb201.pt"),
        dir=str(root / "somedir"),
        dir_jsonl=str(root / "out.jsonl"),
        dir_csv=str(root / "out.csv"),
    )
    return fx


def tree_digest(folder: Path) -> str:
    """Names, sizes and mtimes of every file under ``folder`` (detects any write)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(folder)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def run_case(
    case: Case, repo: Path, python: str, timeout: float, base_env: dict[str, str], tmp: Path
) -> Result:
    cwd = Path(tempfile.mkdtemp(prefix="cwd-", dir=tmp))
    env = {**base_env, "NAG_CACHE_DIR": str(cwd / ".cache"), "PYTHONPATH": str(repo)}
    t0 = time.perf_counter()
    # a session of its own, so a timeout kills the command and every worker it started
    p = subprocess.Popen(
        [python, "-m", "nag.cli", *case.args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        _, err = p.communicate()
        return Result(case, None, "Traceback (most recent call last)" in err, time.perf_counter() - t0)
    return Result(
        case,
        p.returncode,
        "Traceback (most recent call last)" in err,
        time.perf_counter() - t0,
        err.strip().splitlines()[-1][:160] if err.strip() else "",
    )


def table(results: list[Result]) -> str:
    rows: dict[str, Row] = {}
    for r in results:
        row = rows.setdefault(r.case.group, Row())
        row.n += 1
        if r.code is None:
            row.timeouts += 1
        else:
            row.exits[str(r.code) if r.code in (0, 1, 2) else "other"] += 1
            if r.code == 0 and 0 not in r.case.expect:
                row.accepted += 1
            if r.code != 0 and r.code not in r.case.expect:
                row.wrong_code += 1
        row.tracebacks += r.traceback
    head = "| subcommand | invocations | exit 0 | exit 1 | exit 2 | other | tracebacks | bad values accepted | input error not exit 2 | timeouts |"
    lines = [head, "|" + "---|" * 10]
    total = Row()
    for g, row in rows.items():
        cells = [g, row.n, *row.exits.values(), row.tracebacks, row.accepted, row.wrong_code, row.timeouts]
        lines.append("| " + " | ".join(str(x) for x in cells) + " |")
        total.n += row.n
        for k, v in row.exits.items():
            total.exits[k] += v
        total.tracebacks += row.tracebacks
        total.accepted += row.accepted
        total.wrong_code += row.wrong_code
        total.timeouts += row.timeouts
    cells = [
        "**all**",
        total.n,
        *total.exits.values(),
        total.tracebacks,
        total.accepted,
        total.wrong_code,
        total.timeouts,
    ]
    lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=str(Path(__file__).resolve().parents[2]), help="checkout to test")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per invocation")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--data", default="", help="data directory ($NAG_DATA_DIR) for a checkout without ../shared/data"
    )
    ap.add_argument("--only", default="", help="run only this subcommand's cases")
    ap.add_argument("--details", default="", help="write every result as JSON lines here")
    args = ap.parse_args()
    repo = Path(args.repo).resolve()
    env = {k: v for k, v in os.environ.items() if k not in ("NAG_CACHE_DIR",)}
    env.setdefault("OMP_NUM_THREADS", "1")
    if args.data:
        env["NAG_DATA_DIR"] = str(Path(args.data).resolve())
    data_dir = Path(env.get("NAG_DATA_DIR") or repo.parent / "shared" / "data")
    data_before = tree_digest(data_dir) if data_dir.is_dir() else ""
    with tempfile.TemporaryDirectory(prefix="nag-sweep-") as tmp_s:
        tmp = Path(tmp_s)
        fx_root = tmp / "fixtures"
        fx_root.mkdir()
        marker = tmp / "PAYLOAD_RAN"
        fx = make_fixtures(fx_root, repo, marker)
        todo = [c for c in cases(fx) if not args.only or c.group == args.only]
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda c: run_case(c, repo, args.python, args.timeout, env, tmp), todo))
        stray = sorted(
            str(p.relative_to(tmp))
            for d in tmp.glob("cwd-*")
            for p in d.rglob("*")
            if p.is_file() and ".cache" not in p.relative_to(d).parts
        )
        payload_ran = marker.exists()
    print(
        f"repo {repo} · {len(results)} invocations in {time.perf_counter() - t0:.0f} s · timeout {args.timeout:.0f} s"
    )
    print(table(results))
    print(f"checkpoint payload executed: {'YES' if payload_ran else 'no'}")
    print(
        f"data directory changed: {'YES' if data_before and tree_digest(data_dir) != data_before else 'no'}"
    )
    print(
        f"files written into the working directory ({len(stray)}): {', '.join(stray[:8])}{' …' if len(stray) > 8 else ''}"
    )
    bad = [r for r in results if r.traceback or r.code is None or r.code not in r.case.expect]
    for r in bad:
        code = "timeout" if r.code is None else r.code
        print(
            f"  [{code}{' traceback' if r.traceback else ''}] nag {' '.join(r.case.args)[:150]}  -> {r.err_tail}"
        )
    if args.details:
        with open(args.details, "w") as f:
            for r in results:
                f.write(
                    json.dumps(
                        {
                            "args": r.case.args,
                            "code": r.code,
                            "traceback": r.traceback,
                            "s": round(r.seconds, 2),
                            "err": r.err_tail,
                        }
                    )
                    + "\n"
                )


if __name__ == "__main__":
    main()
