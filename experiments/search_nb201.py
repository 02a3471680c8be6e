"""Search baselines on NAS-Bench-201 (and NAS-Bench-Graph) with the benchmark oracle: markdown tables.

Runs every method x dataset x budget x seed of a YAML config (default ``experiments/configs/search_nb201.yaml``) in
the `bo.loop` harness (`bo.oracles.BenchmarkOracle`; signal = the target dataset's 12-epoch validation accuracy,
report = 200-epoch test accuracy, ``shared/PROTOCOL.md``), and prints per (dataset, budget, method): the pick's test
accuracy (mean ± sd over seeds), the best test accuracy among the queried architectures, how many seeds' picks reach
the signal's global maximum, the signal's ceiling (the test accuracy of the signal's argmax) and the mean query cost.
A second table checks random search at 20 queries over 200 seeds against the published figure.

Results are cached per run in ``<out>/cache.jsonl`` keyed by the run's settings and a hash of the harness source
(`bo/loop.py`, `bo/baselines.py`, `bo/oracles.py`, `bo/robot.py`), so a re-run only computes what changed.

Usage::

    nice .venv/bin/python experiments/search_nb201.py                      # everything in the config
    nice .venv/bin/python experiments/search_nb201.py --parts nb201 --methods random,evolution --budgets 20,50
    nice .venv/bin/python experiments/search_nb201.py --parts reference
    nice .venv/bin/python experiments/search_nb201.py --parts nb201_robot     # RoBoT replayed in the harness (slow)
    nice .venv/bin/python experiments/search_nb201.py --parts nb201 --runs runs/search_runs   # keep run directories
    .venv/bin/nag report runs/search_runs/nb201/cifar10/*/b20 --out runs/report_c10        # table + PNG plots
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from bo.loop import run_search
from bo.oracles import SIGNAL_TIE_TOL, BenchmarkOracle
from nag.typing import parse_seeds

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ("bo/loop.py", "bo/baselines.py", "bo/oracles.py")


def code_hash(method: str = "") -> str:
    """12 hex digits of the harness source (plus `bo/robot.py` for ``robot``): results of older code are not reused."""
    h = hashlib.sha256()
    for rel in HARNESS + (("bo/robot.py",) if method == "robot" else ()):
        h.update((ROOT / rel).read_bytes())
    return h.hexdigest()[:12]


class Cache:
    """JSON-lines result cache (append-only; a torn last line from a killed run is ignored).

    Each record holds the code hash of its method (`code_hash`); records of other code are ignored.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        self._codes: dict[str, str] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                    method = json.loads(rec["key"])[3]
                except (json.JSONDecodeError, KeyError, IndexError, TypeError):
                    continue
                if rec.get("code") == self.code(method):
                    self.rows[rec["key"]] = rec["result"]
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        self._f = open(path, "a")  # noqa: SIM115  (closed in close())
        if torn:
            self._f.write("\n")

    def code(self, method: str) -> str:
        if method not in self._codes:
            self._codes[method] = code_hash(method)
        return self._codes[method]

    def get(self, key: str) -> dict[str, Any] | None:
        return self.rows.get(key)

    def put(self, key: str, result: dict[str, Any]) -> None:
        self.rows[key] = result
        code = self.code(json.loads(key)[3])
        self._f.write(json.dumps({"key": key, "code": code, "result": result}) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def one_run(
    oracle: BenchmarkOracle,
    ref: dict[str, Any],
    method: str,
    options: dict,
    budget: int,
    seed: int,
    run_dir: Path | None = None,
) -> dict:
    """Run one search and summarise it (pick test, best test among queried, hit, cost); ``run_dir``: also write
    the run there (for ``nag report``)."""
    t0 = time.perf_counter()
    if run_dir is not None and run_dir.exists():
        shutil.rmtree(run_dir)  # a run killed half-way: start it again
    st = run_search(method, oracle, budget, seed=seed, method_options=options, run_dir=run_dir)
    s = st.summary()
    metric = oracle.report_metrics[0]
    return {
        "pick": s["pick"],
        "pick_signal": s["pick_signal"],
        "pick_report": s["pick_report"].get(metric, math.nan),
        "best_report": s["best_report_among_queried"],
        "hit": bool(s["pick_signal"] >= ref["signal_max"] - SIGNAL_TIE_TOL),
        "query_cost_s": s["query_cost_s"] if s["cost_known"] else None,
        "n_queries": s["n_queries"],
        "n_free": s["n_free"],
        "wall_s": time.perf_counter() - t0,
    }


def _nan(v: Any) -> float:
    return math.nan if v is None else float(v)


def _ceiling(ref: dict[str, Any], k: float) -> str:
    """Signal ceiling, with the range over architectures tied at the signal's maximum when there are several."""
    text = f"{k * _nan(ref.get('signal_ceiling')):.2f}"
    lo, hi = ref.get("signal_ceiling_range") or (None, None)
    if ref.get("signal_max_ties", 1) > 1 and lo is not None:
        text += f" ({ref['signal_max_ties']} tied: {k * lo:.2f}–{k * hi:.2f})"
    return text


def run_grid(
    part: str,
    space: str,
    spec: dict[str, Any],
    cache: Cache,
    methods: list[str] | None,
    budgets: list[int] | None,
    seeds: list[int] | None,
    datasets: list[str] | None,
    runs: Path | None = None,
) -> list[str]:
    """Run one part of the config; return its markdown table lines. ``runs``: write every run's directory under
    ``runs/<part>/<dataset>/<label>/b<budget>/s<seed>`` (a cached result without its directory is run again)."""
    sig = spec.get("signal", "target")
    k = float(spec.get("scale", 1.0))  # e.g. 100: NAS-Bench-Graph's performance in [0, 1] shown in %
    rows = []
    for ds in datasets or spec["datasets"]:
        oracle = BenchmarkOracle(
            space, ds, signal=sig, report=spec.get("report"), constraints=spec.get("constraints", [])
        )
        ref = oracle.reference()
        for b in budgets or spec["budgets"]:
            for m, opts in spec["methods"].items():
                if methods and m not in methods:
                    continue
                opts = dict(opts or {})
                name = opts.pop("method", m)  # a label may run a registered method with its own options
                res = []
                for s in seeds or parse_seeds(spec["seeds"]):
                    cons = spec.get("constraints") or []
                    extra = ([cons] if cons else []) + (
                        [{"report": spec["report"]}] if spec.get("report") else []
                    )
                    key = json.dumps(
                        [space, oracle.dataset, oracle.signal, name, opts, b, s] + extra, sort_keys=True
                    )
                    rd = None
                    if runs is not None:
                        label = re.sub(r"[^A-Za-z0-9_.+-]+", "_", m)
                        rd = runs / part / oracle.dataset / label / f"b{b}" / f"s{s}"
                    r = cache.get(key)
                    if r is None or (rd is not None and not (rd / "state.json").is_file()):
                        r = one_run(oracle, ref, name, opts, b, s, rd)
                        cache.put(key, r)
                    res.append(r)
                picks = k * np.array([_nan(r["pick_report"]) for r in res])
                bests = k * np.array([_nan(r["best_report"]) for r in res])
                costs = [r["query_cost_s"] for r in res]
                cost = "unknown" if any(c is None for c in costs) else f"{np.mean(costs) / 3600:.2f} h"
                rows.append(
                    f"| {oracle.dataset} | {b} | {m} | {picks.mean():.2f} ± {picks.std(ddof=1):.2f} | "
                    f"{bests.mean():.2f} ± {bests.std(ddof=1):.2f} | {sum(r['hit'] for r in res)}/{len(res)} | "
                    f"{_ceiling(ref, k)} | {k * _nan(ref.get('best_report')):.2f} | {cost} | "
                    f"{np.mean([r['n_free'] for r in res]):.1f} |"
                )
            print(f"[{part}] {oracle.dataset} budget {b} done", flush=True)
    head = (
        "| dataset | budget | method | pick test (mean ± sd) | best test among queried | found signal max | "
        "signal ceiling | best in space | query cost (mean) | free re-queries |"
    )
    return [head, "|" + "---|" * (head.count("|") - 1), *rows]


def run_reference(spec: dict[str, Any], cache: Cache) -> list[str]:
    """Random search at ``budget`` queries over many seeds, for each signal, against the published figure."""
    rows = []
    seeds = parse_seeds(spec["seeds"])
    for sig in spec["signals"]:
        for ds, pub in spec["published"].items():
            oracle = BenchmarkOracle("nb201", ds, signal=sig)
            ref = oracle.reference()
            res = []
            for s in seeds:
                key = json.dumps(
                    ["nb201", oracle.dataset, oracle.signal, "random", {}, spec["budget"], s], sort_keys=True
                )
                r = cache.get(key)
                if r is None:
                    r = one_run(oracle, ref, "random", {}, spec["budget"], s)
                    cache.put(key, r)
                res.append(r)
            picks = np.array([_nan(r["pick_report"]) for r in res])
            rows.append(
                f"| {oracle.dataset} | {oracle.signal} | {len(seeds)} | {picks.mean():.2f} ± {picks.std(ddof=1):.2f} | "
                f"{picks.std(ddof=1) / math.sqrt(len(seeds)):.2f} | {pub:.2f} |"
            )
            print(f"[reference] {oracle.dataset} {oracle.signal} done", flush=True)
    head = "| dataset | signal | seeds | random search pick test (mean ± sd) | standard error | published |"
    return [head, "|" + "---|" * (head.count("|") - 1), *rows]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "experiments/configs/search_nb201.yaml"))
    p.add_argument(
        "--parts", default="nb201,reference,nasbench_graph", help="config sections to run (nb201_robot too)"
    )
    p.add_argument("--methods", default="", help="comma list (default: the config's)")
    p.add_argument("--budgets", default="", help="comma list (default: the config's)")
    p.add_argument("--seeds", default="", help="e.g. 0-9 (default: the config's)")
    p.add_argument("--datasets", default="", help="comma list (default: the config's)")
    p.add_argument("--out", default=str(ROOT / "runs/search_nb201"), help="cache folder")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--runs", default="", help="also write every run's directory under this folder (then: nag report DIR)"
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load(Path(args.config).read_text())
    cache = Cache(Path(args.out) / "cache.jsonl")
    methods = [m for m in args.methods.split(",") if m] or None
    budgets = [int(b) for b in args.budgets.split(",") if b] or None
    seeds = parse_seeds(args.seeds) if args.seeds else None
    datasets = [d for d in args.datasets.split(",") if d] or None
    t0 = time.perf_counter()
    out: list[str] = []
    try:
        for part in args.parts.split(","):
            if part not in cfg:
                raise SystemExit(
                    f"parts: {part!r} is not a section of {args.config}; sections: {', '.join(cfg)}"
                )
            if part == "reference":
                out += [
                    "",
                    f"Random search at {cfg[part]['budget']} queries, NAS-Bench-201 (test accuracy of the pick):",
                    "",
                ]
                out += run_reference(cfg[part], cache)
            else:
                sp = cfg[part].get("space", part)
                n_seeds = len(seeds or parse_seeds(cfg[part]["seeds"]))
                probe = BenchmarkOracle(
                    sp,
                    cfg[part]["datasets"][0],
                    signal=cfg[part].get("signal", "target"),
                    report=cfg[part].get("report"),
                )
                out += [
                    "",
                    f"{part} ({sp}): signal {probe.signal} of the target dataset, report {probe.report_metrics[0]}"
                    f"{' (%)' if cfg[part].get('scale') == 100 else ''}; {n_seeds} seeds; methods "
                    f"{cfg[part]['methods']}",
                    "",
                ]
                out += run_grid(
                    part,
                    sp,
                    cfg[part],
                    cache,
                    methods,
                    budgets,
                    seeds,
                    datasets,
                    Path(args.runs) if args.runs else None,
                )
    finally:
        cache.close()
    print("\n".join(out))
    print(f"\ncode {code_hash()}; cache {cache.path}; {time.perf_counter() - t0:.0f} s; pid {os.getpid()}")


if __name__ == "__main__":
    main()
