"""Reports over search runs: a markdown table per (method, dataset, budget, ...) group and PNG plots.

Runs are read from their directories (`bo.loop` writes ``config.json`` and ``state.json``); runs that differ only in
their seed form one group. Per group (``shared/PROTOCOL.md``):

* pick test — the report value (test accuracy) of the pick (best feasible signal), mean ± standard deviation
  over seeds;
* best test among queried — the best report value of any feasible queried architecture, mean ± sd;
* signal ceiling — the report value of the architecture maximising the signal over the whole (feasible) space:
  what the signal allows (with the range over architectures tied at the maximum, where several are);
  best in space — the best report value over the whole (feasible) space;
* found max — seeds whose pick reaches the signal's global maximum (ties within `SIGNAL_TIE_TOL` count);
* query cost — summed oracle cost per run (table training seconds where known), mean; search overhead — the
  method's own proposal time; one-off costs (training a generator or predictors) on a separate line;
* with constraints: the mean number of infeasible queries (zero for cheap constraints, settled before a query), of
  cheap-constraint measurements (and of candidates they ruled out) and the measurements' cost.

Plots: ``best_so_far.png`` (the pick's report value against queries, mean with a ±sd band, one panel per
dataset) and ``cost.png`` (query cost, search overhead and one-off cost per group, log scale); for runs whose
queries report a latency (``latency_local`` measured on this machine, or a table's ``latency_<device>``),
``accuracy_latency.png``: every query's report value against its latency, the candidates a latency measurement ruled
out as ticks on the latency axis, the bound as a vertical line and each run's pick highlighted.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bo.loop import BOState, load_config, load_state
from bo.oracles import SIGNAL_TIE_TOL
from nag.io import atomic_path, atomic_write_text

__all__ = [
    "RunRecord",
    "Group",
    "load_runs",
    "group_runs",
    "markdown",
    "plot_best_so_far",
    "plot_costs",
    "plot_accuracy_latency",
    "accuracy_latency_data",
    "write_report",
    "method_label",
    "seeds_label",
]


@dataclass
class RunRecord:
    """What a report needs from one run directory."""

    path: Path
    state: BOState
    reference: dict[str, Any]

    @property
    def config(self):
        """The run's `bo.loop.RunConfig`."""
        return self.state.config

    @property
    def report_metric(self) -> str:
        """The headline report metric (the oracle's first report)."""
        rep = self.config.oracle.get("report") or []
        if rep:
            return rep[0]
        return self.reference.get("report_metric") or next(iter(self.state.reports[0]), "test_acc")

    def pick_curve(self) -> np.ndarray:
        """The pick's report value after each query (``n_queries``; NaN before the first feasible query)."""
        out = []
        for k in range(1, self.state.n_queries + 1):
            i = self.state.pick_index(k)
            out.append(math.nan if i is None else self.state.reports[i].get(self.report_metric, math.nan))
        return np.asarray(out, dtype=np.float64)


@dataclass
class Group:
    """Runs that differ only in their seed."""

    key: dict[str, Any]
    runs: list[RunRecord] = field(default_factory=list)

    def values(self) -> dict[str, Any]:
        """The group's figures (see the module docstring); NaN where unknown."""
        picks, bests, hits, qcost, over = [], [], [], [], []
        for r in self.runs:
            s = r.state.summary()
            picks.append(s["pick_report"].get(r.report_metric, math.nan))
            bests.append(s["best_report_among_queried"])
            smax = r.reference.get("signal_max")
            hits.append(
                smax is not None and s["pick"] is not None and s["pick_signal"] >= smax - SIGNAL_TIE_TOL
            )
            qcost.append(s["query_cost_s"] if s["cost_known"] else math.nan)
            over.append(s["propose_s"])
        ref = self.runs[0].reference
        one_off: dict[str, float | None] = {}
        for r in self.runs:
            one_off.update(r.state.one_off_cost_s)
        return {
            "seeds": sorted(r.config.seed for r in self.runs),
            "pick_known": _known(picks),
            "best_known": _known(bests),
            "pick_mean": _mean(picks),
            "pick_sd": _sd(picks),
            "best_mean": _mean(bests),
            "best_sd": _sd(bests),
            "found_max": int(sum(hits)),
            "signal_ceiling": ref.get("signal_ceiling", math.nan),
            "signal_ties": ref.get("signal_max_ties", 1),
            "signal_ceiling_range": ref.get("signal_ceiling_range"),
            "best_in_space": ref.get("best_report", math.nan),
            "feasible_share": ref.get("feasible_share", math.nan),
            "query_cost_mean": _mean(qcost),
            "measurements_mean": _mean([len(r.state.measured) for r in self.runs]),
            "measure_cost_mean": _mean([r.state.measure_cost_s for r in self.runs]),
            "rejected_mean": _mean([len(r.state.rejected_keys) for r in self.runs]),
            "infeasible_queries_mean": _mean([r.state.infeasible_queries for r in self.runs]),
            "overhead_mean": _mean(over),
            "n_queries_mean": _mean([r.state.n_queries for r in self.runs]),
            "one_off": one_off,
        }


def _mean(v: Sequence[float]) -> float:
    a = np.asarray([x for x in v if x is not None and math.isfinite(x)], dtype=np.float64)
    return float(a.mean()) if a.size else math.nan


def _sd(v: Sequence[float]) -> float:
    a = np.asarray([x for x in v if x is not None and math.isfinite(x)], dtype=np.float64)
    return float(a.std(ddof=1)) if a.size > 1 else (0.0 if a.size else math.nan)


def load_runs(run_dirs: Sequence[str | Path]) -> list[RunRecord]:
    """Read run directories; a directory holding no ``state.json`` but run sub-directories contributes those.

    Raises:
        FileNotFoundError: a path holds no run at all.
    """
    out = []
    for d in run_dirs:
        p = Path(d)
        dirs = [p] if (p / "state.json").is_file() else sorted(x.parent for x in p.glob("*/state.json"))
        if not dirs:
            raise FileNotFoundError(f"run_dir: {str(p)!r} holds no state.json (nor sub-directories with one)")
        for x in dirs:
            cfg = load_config(x) if (x / "config.json").is_file() else {}
            out.append(RunRecord(x, load_state(x), cfg.get("reference", {})))
    return out


def _group_key(r: RunRecord) -> dict[str, Any]:
    c = r.config
    o = c.oracle
    dataset, signal = o.get("dataset", ""), o.get("signal", o.get("metric", ""))
    if o.get("kind") == "training":  # real training (`bo.oracles.TrainingOracle`) on a split of its data
        dataset = f"{o.get('data', 'fashion-mnist')} {o.get('n_train')}/{o.get('n_val')}/{o.get('n_test')}"
        signal = f"val_acc ({o.get('epochs')} epochs)"
    return {
        "method": c.method,
        "options": json.dumps(c.method_options, sort_keys=True) if c.method_options else "",
        "space": o.get("space", ""),
        "dataset": dataset,
        "signal": signal,
        "oracle": o.get("kind", ""),
        "constraints": ", ".join(o.get("constraints", [])),
        "budget": c.budget,
        "q": c.q,
    }


def group_runs(runs: Sequence[RunRecord]) -> list[Group]:
    """Runs grouped by everything but the seed, in first-seen order."""
    groups: dict[str, Group] = {}
    for r in runs:
        k = _group_key(r)
        groups.setdefault(json.dumps(k, sort_keys=True), Group(k)).runs.append(r)
    return list(groups.values())


def _fmt(v: float, nd: int = 2) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:.{nd}f}"


def _pm(m: float, s: float, known: int | None = None, n: int | None = None) -> str:
    """``mean ± sd``; with ``known`` of ``n`` runs having the value, says how many where some lack it."""
    if not math.isfinite(m):
        return "n/a (not in the table)" if n else "—"
    text = f"{m:.2f} ± {s:.2f}"
    return text if known is None or known == n else f"{text} ({known} of {n} known)"


def _known(v: Sequence[float]) -> int:
    return sum(x is not None and math.isfinite(x) for x in v)


def method_label(key: dict[str, Any]) -> str:
    """``evolution (population_size=20, sample_size=5)`` from a group key (options are stored as JSON)."""
    opts = json.loads(key["options"]) if key.get("options") else {}
    extra = ", ".join(f"{a}={json.dumps(b) if not isinstance(b, str) else b}" for a, b in opts.items())
    return f"{key['method']} ({extra})" if extra else key["method"]


def seeds_label(seeds: Sequence[int]) -> str:
    """A count and a compact range: ``5 (0–4)``, ``3 (0, 2, 7)``, ``12 (0–40, not contiguous)``."""
    s = sorted(seeds)
    if len(s) == 1:
        return str(s[0])
    if s == list(range(s[0], s[-1] + 1)):
        return f"{len(s)} ({s[0]}–{s[-1]})"
    if len(s) <= 4:
        return f"{len(s)} ({', '.join(map(str, s))})"
    return f"{len(s)} ({s[0]}–{s[-1]}, not contiguous)"


def _cost(v: float) -> str:
    if not math.isfinite(v):
        return "unknown"
    return f"{v / 3600:.2f} h" if v >= 3600 else f"{v:.0f} s"


def _ceiling(v: dict[str, Any]) -> str:
    """The signal ceiling, with the range over architectures tied at the signal's maximum when there are several."""
    text = _fmt(v["signal_ceiling"])
    rng = v.get("signal_ceiling_range")
    if v.get("signal_ties", 1) > 1 and rng:
        text += f" ({v['signal_ties']} tied: {_fmt(rng[0])}–{_fmt(rng[1])})"
    return text


def markdown(groups: Sequence[Group]) -> str:
    """The report table (one row per group) and the one-off cost lines."""
    constrained = any(g.key["constraints"] for g in groups)
    head = [
        "method",
        "space",
        "dataset",
        "signal",
        *(
            [
                "constraints",
                "feasible share",
                "infeasible queries",
                "measurements (ruled out)",
                "measurement cost",
            ]
            if constrained
            else []
        ),  # fmt: skip
        "budget",
        "q",
        "seeds",
        "pick test (mean ± sd)",
        "best test among queried",
        "signal ceiling",
        "best in space",
        "found signal max",
        "query cost (mean)",
        "search overhead",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    one_off: dict[str, dict[str, float | None]] = {}
    transfer: list[str] = []
    for g in groups:
        v = g.values()
        k = g.key
        method = method_label(k)
        seeds = v["seeds"]
        seed_s = seeds_label(seeds)
        row = [method, k["space"], k["dataset"], k["signal"]]
        if constrained:
            row += [
                k["constraints"] or "—",
                _fmt(100 * v["feasible_share"], 1) + " %",
                _fmt(v["infeasible_queries_mean"], 1),
                f"{_fmt(v['measurements_mean'], 1)} ({_fmt(v['rejected_mean'], 1)})",
                _cost(v["measure_cost_mean"]),
            ]
        row += [
            str(k["budget"]),
            str(k["q"]),
            seed_s,
            _pm(v["pick_mean"], v["pick_sd"], v["pick_known"], len(seeds)),
            _pm(v["best_mean"], v["best_sd"], v["best_known"], len(seeds)),
            _ceiling(v),
            _fmt(v["best_in_space"]),
            f"{v['found_max']}/{len(seeds)}",
            _cost(v["query_cost_mean"]),
            f"{v['overhead_mean']:.2f} s",
        ]
        lines.append("| " + " | ".join(row) + " |")
        if v["one_off"]:
            one_off.setdefault(method, {}).update(v["one_off"])
        for r in g.runs[:1]:  # the sources are in the options, hence the same for the whole group
            sources = r.state.method_state.get("transfer_from") or r.config.method_options.get(
                "transfer_from"
            )
            if sources:
                build = [c for n, c in v["one_off"].items() if n.startswith("transfer") and c is not None]
                transfer.append(f"Transfer ({method}, {k['dataset']}): source tasks {', '.join(sources)} (their "
                                f"tables are prior knowledge); building the prior cost {_cost(max(build, default=0.0))}"
                                ".")  # fmt: skip
    lines.append("")
    lines += transfer
    if one_off:
        for m, items in one_off.items():
            parts = [f"{name}: {_cost(c) if c is not None else 'unknown'}" for name, c in items.items()]
            lines.append(f"Cost outside the queries ({m}): " + "; ".join(parts) + ".")
    else:
        lines.append(
            "Cost outside the queries: none (no generator or predictor trained, no training-free metrics)."
        )
    lines += published_markdown(groups)
    return "\n".join(lines) + "\n"


def published_markdown(groups: Sequence[Group]) -> list[str]:
    """Lines of a table of the published figures (`bo.published`) for the groups' (space, dataset) pairs; none if
    there are none."""
    from bo.published import published_for

    pairs = list(dict.fromkeys((g.key["space"], g.key["dataset"]) for g in groups))
    rows = [p for sp, ds in pairs for p in published_for(sp, ds)]
    if not rows:
        return []
    out = [
        "",
        "Published figures on the same space and datasets (`bo.published`):",
        "",
        "| method | space | dataset | test accuracy | figure | budget (queries) | signal | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in rows:
        budget = "—" if p.budget is None else str(p.budget)
        out.append(
            f"| {p.method} | {p.space} | {p.dataset} | {p.value:.2f} | {p.kind} | {budget} | {p.signal} | {p.source} |"
        )
    return out


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_best_so_far(groups: Sequence[Group], path: str | Path) -> None:
    """The pick's report value against queries (mean ± sd band over seeds), one panel per (space, dataset).

    A run's curve up to query ``k`` is the curve of the same run with budget ``k``, so of the groups that differ
    only in their budget just the largest is drawn."""
    plt = _plt()

    def same_but_budget(g: Group) -> str:
        return json.dumps({k: v for k, v in g.key.items() if k != "budget"}, sort_keys=True)

    largest: dict[str, int] = {}
    for g in groups:
        largest[same_but_budget(g)] = max(largest.get(same_but_budget(g), 0), g.key["budget"])
    groups = [g for g in groups if g.key["budget"] == largest[same_but_budget(g)]]
    panels = list(dict.fromkeys((g.key["space"], g.key["dataset"]) for g in groups))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, (space, ds) in zip(axes[0], panels, strict=True):
        metric = "test"
        lows: list[float] = []
        highs: list[float] = []
        for g in groups:
            if (g.key["space"], g.key["dataset"]) != (space, ds):
                continue
            metric = g.runs[0].report_metric
            n = max(r.config.budget for r in g.runs)
            curves = np.full((len(g.runs), n), np.nan)
            for j, r in enumerate(g.runs):
                c = r.pick_curve()
                if c.size:
                    curves[j, : c.size] = c
                    curves[j, c.size :] = c[-1]  # a run that stopped early keeps its pick
            x = np.arange(1, n + 1)
            with warnings.catch_warnings():
                # queries whose report value the table lacks (NAS-Bench-101 holds no test accuracy for some
                # cells) are all-NaN columns: drawn as gaps, not warned about
                warnings.simplefilter("ignore", RuntimeWarning)
                m, s = np.nanmean(curves, 0), np.nanstd(curves, 0)
            label = f"{method_label(g.key)} (b={g.key['budget']}, {len(g.runs)} seeds)"
            ax.plot(x, m, label=label)
            ax.fill_between(x, m - s, m + s, alpha=0.2)
            tail = m[min(4, n - 1) :]  # the y-range follows the curves after their first few queries
            if np.isfinite(tail).any():
                lows.append(float(np.nanmin(tail - s[min(4, n - 1) :])))
                highs.append(float(np.nanmax(tail + s[min(4, n - 1) :])))
        ceil = next(
            (
                g.runs[0].reference.get("signal_ceiling")
                for g in groups
                if (g.key["space"], g.key["dataset"]) == (space, ds)
            ),
            None,
        )
        if ceil is not None and math.isfinite(ceil):
            ax.axhline(ceil, color="k", ls="--", lw=0.8, label="signal ceiling")
        _plot_published(ax, space, ds)
        if lows:
            from bo.published import published_for

            highs += [p.value for p in published_for(space, ds) if p.kind == "pick"]
            highs += [ceil] if ceil is not None and math.isfinite(ceil) else []
            lo, hi = min(lows), max(highs)
            pad = 0.08 * max(hi - lo, 1e-6)
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(f"{space} · {ds}")
        ax.set_xlabel("queries")
        ax.set_ylabel(f"pick {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _plot_published(ax, space: str, dataset: str) -> None:
    """Published picks (`bo.published`) on a best-so-far panel: a marker at their budget, a dotted line where the
    paper states a time budget instead of queries."""
    from bo.published import published_for

    for p in (x for x in published_for(space, dataset) if x.kind == "pick"):
        label = f"{p.method} (published{'' if p.budget else ', time budget'})"
        if p.budget is not None:
            ax.plot([p.budget], [p.value], marker="*", ms=10, ls="none", color="k", label=label)
        else:
            ax.axhline(p.value, color="0.4", ls=":", lw=1.0, label=label)


def plot_costs(groups: Sequence[Group], path: str | Path) -> None:
    """Mean query cost, search overhead and one-off cost per group (seconds, log scale; unknown costs omitted)."""
    plt = _plt()
    labels, parts = [], {"query cost": [], "search overhead": [], "one-off": []}
    for g in groups:
        v = g.values()
        labels.append(f"{g.key['method']}\n{g.key['dataset']} b={g.key['budget']}")
        parts["query cost"].append(v["query_cost_mean"])
        parts["search overhead"].append(v["overhead_mean"])
        known = [c for c in v["one_off"].values() if c is not None]
        parts["one-off"].append(sum(known) if known else math.nan)
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(labels) + 2), 4))
    x = np.arange(len(labels))
    w = 0.27
    for k, (name, vals) in enumerate(parts.items()):
        ax.bar(x + (k - 1) * w, np.nan_to_num(vals, nan=0.0), w, label=name)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("seconds per run (mean)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _latency_metric(r: RunRecord) -> str | None:
    """The latency a run's queries (or its measurements) report: ``latency_local`` first, else the first
    ``latency_<device>``; None where there is none."""
    names = {k for rep in r.state.reports for k in rep}
    names |= {k for m in r.state.measured.values() for k in m.get("values", {})}
    lat = sorted(k for k in names if k.startswith("latency_"))
    if not lat:
        return None
    return "latency_local" if "latency_local" in lat else lat[0]


def _latency_bound(r: RunRecord, metric: str) -> float | None:
    from bo.oracles import parse_constraint

    for text in r.config.oracle.get("constraints", []) or []:
        c = parse_constraint(text)
        if c.metric == metric:
            return c.bound
    return None


def _float(v: float | None) -> float:
    return math.nan if v is None else float(v)


def accuracy_latency_data(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """What `plot_accuracy_latency` draws, one panel per (space, dataset, latency metric).

    Returns:
        ``[{"space", "dataset", "metric", "report_metric", "bound", "series": [...]}]``; each series (one run):
        ``label``, ``latency`` / ``accuracy`` / ``feasible`` (one entry per query, in query order), ``rejected``
        (latency of every candidate a measurement ruled out, never queried) and ``pick`` (``(latency, accuracy)``
        of the run's pick, or None). Runs without a latency are left out.
    """
    panels: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in runs:
        metric = _latency_metric(r)
        if metric is None:
            continue
        key = _group_key(r)
        p = panels.setdefault(
            (key["space"], key["dataset"], metric),
            {"space": key["space"], "dataset": key["dataset"], "metric": metric, "report_metric": r.report_metric,
             "bound": _latency_bound(r, metric), "series": []},
        )  # fmt: skip
        st = r.state
        lat = [float(rep.get(metric, math.nan)) for rep in st.reports]
        acc = [float(rep.get(r.report_metric, math.nan)) for rep in st.reports]
        rejected = [_float(m["values"].get(metric)) for m in st.measured.values() if not m["feasible"]]
        i = st.pick_index()
        p["series"].append(
            {
                "label": f"{method_label(key)} seed {r.config.seed}",
                "latency": lat,
                "accuracy": acc,
                "feasible": list(st.feasible),
                "rejected": rejected,
                "pick": None if i is None else (lat[i], acc[i]),
            }
        )
    return list(panels.values())


def plot_accuracy_latency(runs: Sequence[RunRecord], path: str | Path) -> list[dict[str, Any]]:
    """Report value (test accuracy) against latency for every query, one panel per (space, dataset, latency).

    Feasible queries are filled circles, infeasible ones crosses; the candidates a latency measurement ruled out (never
    queried, so without an accuracy) are ticks along the latency axis; the constraint's bound is a dashed vertical
    line; each run's pick is a large star. Nothing is written when no run reports a latency.

    Returns:
        The data drawn (`accuracy_latency_data`); empty when nothing was written.
    """
    data = accuracy_latency_data(runs)
    if not data:
        return data
    plt = _plt()
    fig, axes = plt.subplots(1, len(data), figsize=(5.5 * len(data), 4.2), squeeze=False)
    for ax, p in zip(axes[0], data, strict=True):
        for k, s in enumerate(p["series"]):
            color = f"C{k % 10}"
            lat, acc, ok = (
                np.array(s["latency"]),
                np.array(s["accuracy"]),
                np.array(s["feasible"], dtype=bool),
            )
            ax.scatter(lat[ok], acc[ok], s=18, color=color, alpha=0.75, label=s["label"])
            if (~ok).any():
                ax.scatter(lat[~ok], acc[~ok], s=22, color=color, marker="x", alpha=0.75)
            if s["rejected"]:
                # no accuracy (never trained or queried): ticks on the latency axis
                ax.plot(s["rejected"], [0.02] * len(s["rejected"]), ls="none", marker="|", ms=12, color=color,
                        alpha=0.8, transform=ax.get_xaxis_transform())  # fmt: skip
            if s["pick"] is not None:
                ax.scatter([s["pick"][0]], [s["pick"][1]], s=180, marker="*", color=color, edgecolor="k",
                           zorder=5)  # fmt: skip
        if p["bound"] is not None:
            ax.axvline(p["bound"], color="k", ls="--", lw=1.0, label=f"bound {p['bound']:.3g}")
        ax.plot([], [], ls="none", marker="|", ms=10, color="0.3", label="ruled out by measurement")
        ax.plot([], [], ls="none", marker="*", ms=12, color="0.3", mec="k", label="pick")
        unit = " (ms)" if p["metric"].startswith("latency") else ""
        ax.set_xlabel(f"{p['metric']}{unit}")
        ax.set_ylabel(p["report_metric"])
        ax.set_title(f"{p['space']} · {p['dataset']}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return data


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)


def write_report(run_dirs: Sequence[str | Path], out: str | Path | None = None) -> tuple[str, list[Path]]:
    """Markdown of the runs and, when ``out`` is given, ``out/report.md``, ``best_so_far.png``, ``cost.png`` and,
    where the runs' queries report a latency, ``accuracy_latency.png`` (`plot_accuracy_latency`).

    Returns:
        The markdown text and the files written.
    """
    runs = load_runs(run_dirs)
    groups = group_runs(runs)
    text = markdown(groups)
    files: list[Path] = []
    if out is not None:
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        md = d / "report.md"
        atomic_write_text(md, text)
        plot_best_so_far(groups, d / "best_so_far.png")
        plot_costs(groups, d / "cost.png")
        files = [md, d / "best_so_far.png", d / "cost.png"]
        if plot_accuracy_latency(runs, d / "accuracy_latency.png"):
            files.append(d / "accuracy_latency.png")
    return text, files
