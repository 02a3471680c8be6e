"""Oracles: whatever returns the true value of an architecture, with its cost.

Every search in `bo.loop` talks to one `Oracle`: ``evaluate(archs) -> list[Evaluation]``. An `Evaluation` holds

* ``signal`` — the value the search may see and maximise (a validation accuracy, a training-free metric; never a test
  accuracy, see ``shared/PROTOCOL.md``);
* ``report`` — values reported about the architecture but hidden from the search (test accuracy, constraint metrics);
* ``cost_s`` — seconds the evaluation costs (training time from the table, measured wall time, metric time), or
  ``None`` where unknown;
* ``feasible`` — whether the architecture meets every constraint, checked against the table's true values.

Implementations:

* `BenchmarkOracle` — table lookup (NAS-Bench-201, NAS-Bench-101, NAS-Bench-Graph), cost from the table where known.
* `TrainingFreeOracle` — a training-free metric as the signal (RoBoT-style), from the benchmark's precomputed tables
  or computed on the real untrained network with a Fashion-MNIST minibatch; the report still comes from the table.
* `TrainingOracle` — really trains the space's network (``to_module``) on Fashion-MNIST with Lightning for a few
  epochs; signal = validation accuracy, report = test accuracy on held-out images, cost = measured seconds.

Constraints are parsed in one place, `parse_constraint` (``"latency:edgegpu<=3.5"``, ``"params<=0.5"``).
Oracles are rebuilt from `Oracle.describe` by `build_oracle`, so a run directory alone can resume a search, and they
pickle cheaply (benchmark tables are re-opened in the receiving process), so process and Ray executors can ship them.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from nag.errors import InvalidChoiceError
from nag.guidance import CONSTRAINT_FORMS, Condition, parse_condition
from nag.registry import Registry
from nag.spaces import SearchSpace, canonical_space_name, get_space

__all__ = [
    "Evaluation",
    "Measurement",
    "Constraint",
    "is_cheap",
    "CONSTRAINT_SOURCES",
    "MEASURE_RUNS",
    "BUILD_S",
    "parse_constraint",
    "CONSTRAINT_FORMS",
    "Oracle",
    "Domain",
    "BenchmarkOracle",
    "TrainingFreeOracle",
    "TrainingOracle",
    "SIGNAL_TIE_TOL",
    "ORACLES",
    "build_oracle",
    "benchmark_signal",
]

Arch = Any


# ---------------------------------------------------------------------------------------------------------- values
@dataclass(frozen=True)
class Evaluation:
    """What one oracle call returns for one architecture.

    Attributes:
        signal: the search signal (higher is better); NaN where the oracle has no value.
        report: values hidden from the search (``test_acc``, constraint metrics, ...); NaN where unknown.
        cost_s: seconds this evaluation costs, or ``None`` where unknown.
        feasible: ``True`` when every constraint holds on the true values.
        rejected: the harness settled a cheap constraint before any query and found it broken: the architecture was
            measured, not queried (no signal, no query cost; ``report`` holds the measured values).
    """

    signal: float
    report: dict[str, float] = field(default_factory=dict)
    cost_s: float | None = None
    feasible: bool = True
    rejected: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (NaN written as ``None``)."""
        d = {
            "signal": _num(self.signal),
            "report": {k: _num(v) for k, v in self.report.items()},
            "cost_s": self.cost_s,
            "feasible": self.feasible,
        }
        if self.rejected:
            d["rejected"] = True
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Evaluation:
        """Inverse of `to_json`."""
        return cls(
            signal=_float(d["signal"]),
            report={k: _float(v) for k, v in d.get("report", {}).items()},
            cost_s=d.get("cost_s"),
            feasible=bool(d.get("feasible", True)),
            rejected=bool(d.get("rejected", False)),
        )


@dataclass(frozen=True)
class Measurement:
    """The cheap constraints of one architecture, settled without training (`Oracle.measure`).

    Attributes:
        values: the measured value of each cheap constraint's metric (NaN where it could not be measured).
        cost_s: seconds the measurement costs (``None`` where unknown).
        feasible: every cheap constraint holds on ``values``.
    """

    values: dict[str, float]
    cost_s: float | None
    feasible: bool

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (NaN written as ``None``)."""
        return {"values": {k: _num(v) for k, v in self.values.items()}, "cost_s": self.cost_s,
                "feasible": self.feasible}  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Measurement:
        """Inverse of `to_json`."""
        return cls(
            {k: _float(v) for k, v in d.get("values", {}).items()}, d.get("cost_s"), bool(d["feasible"])
        )


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _float(v: float | None) -> float:
    return math.nan if v is None else float(v)


# ---------------------------------------------------------------------------------------------------------- constraints
@dataclass(frozen=True)
class Constraint:
    """``metric op bound`` on a benchmark metric, e.g. ``latency_edgegpu <= 3.5``.

    Attributes:
        metric: the benchmark's metric name (``latency_edgegpu``, ``params_mb``, ...).
        op: ``<=``, ``<``, ``>=`` or ``>``.
        bound: the number on the right.
    """

    metric: str
    op: str
    bound: float

    def holds(self, value: float) -> bool:
        """Whether ``value`` satisfies the constraint (NaN never does)."""
        return bool(self.holds_many(np.array([value]))[0])

    def holds_many(self, values: np.ndarray) -> np.ndarray:
        """Element-wise `holds` (NaN -> ``False``)."""
        return Condition(self.metric, None, self.op, self.bound).satisfied(values)

    @property
    def cheap(self) -> bool:
        """Settled without training (`is_cheap`), before a query."""
        return is_cheap(self.metric)

    def __str__(self) -> str:
        # exact: a run rebuilt from its description (resume, report) must hold the very same bound
        text = f"{self.bound:g}"
        return f"{self.metric}{self.op}{text if float(text) == self.bound else repr(self.bound)}"


#: Metric name prefixes that are settled without training — *cheap*: parameters and FLOPs (exact counts of the built
#: network) and latency / energy on a device (a measurement of seconds). Every other metric (accuracy, robustness)
#: needs training — *expensive* — and is checked on the query's own values (`bo.candidates.FeasibilityModel`).
CHEAP_PREFIXES: tuple[str, ...] = ("latency", "energy", "params", "flops", "help_latency")
#: Network runs of one on-device latency measurement: 10 warm-up + 30 timed at batch 1 (the median is kept).
MEASURE_RUNS = 40
#: Seconds to build a network and count its parameters / FLOPs: NAS-Bench-201's network (C=16, N=5) builds in 0.03 s
#: on this project's 2-core CPU (mean of 8 random cells, 1 thread); 0.05 s is charged.
BUILD_S = 0.05


#: Metrics a `TrainingOracle` measures on this machine for cheap constraints: latency (ms, batch 1), parameters
#: (millions) and FLOPs (millions, one image).
LOCAL_METRICS: tuple[str, ...] = ("latency_local", "params_mb", "flops")
#: How cheap constraints are settled before a query (`BenchmarkOracle`'s ``constraint_source``).
CONSTRAINT_SOURCES: tuple[str, ...] = ("table", "model")


def is_cheap(metric: str) -> bool:
    """Whether a constraint on ``metric`` is settled without training (`CHEAP_PREFIXES`)."""
    return metric.startswith(CHEAP_PREFIXES)


def measurement_cost_s(metrics: Sequence[str], latency_ms: Callable[[str], float]) -> float:
    """Seconds charged for measuring ``metrics`` of one architecture: `BUILD_S` for building the network (parameters
    and FLOPs are exact counts then), plus, per device among the ``latency_<d>`` / ``energy_<d>`` metrics (latency
    and energy of one device come from the same runs), `MEASURE_RUNS` runs at that device's latency
    (``latency_ms(device)``, milliseconds; NaN or unknown: 10 ms)."""
    devices = {m.split("_", 1)[1] for m in metrics if m.startswith(("latency_", "energy_")) and "_" in m}
    devices |= {m.removeprefix("help_latency_ms_") for m in metrics if m.startswith("help_latency_ms_")}
    total = BUILD_S
    for d in sorted(devices):
        ms = latency_ms(d)
        total += MEASURE_RUNS * (ms if math.isfinite(ms) and ms > 0 else 10.0) / 1000.0
    return total


def parse_constraint(text: str) -> Constraint:
    """Read one constraint: ``latency:edgegpu<=3.5``, ``energy:eyeriss<2``, ``params<=0.5`` or ``<metric><op><x>``.

    The grammar is `nag.guidance.parse_condition` (one for guidance and search). ``latency:<device>`` and
    ``energy:<device>`` name the HW-NAS-Bench metrics ``latency_<device>`` (ms) and ``energy_<device>`` (mJ);
    ``params`` is ``params_mb`` (millions). Whether the metric exists is checked by the oracle that uses the
    constraint (it knows its benchmark's metrics).

    Raises:
        InvalidChoiceError: field ``constraint``; the message lists `CONSTRAINT_FORMS`.
    """
    c = parse_condition(text, "constraint", require_bound=True)
    if c.qualifier is not None:
        if c.target not in ("latency", "energy"):
            raise InvalidChoiceError("constraint", text, CONSTRAINT_FORMS)
        metric = f"{c.target}_{c.qualifier}"
    else:
        metric = {"params": "params_mb", "latency": "latency_s"}.get(c.target, c.target)
    return Constraint(metric, c.op, float(c.bound))


# ---------------------------------------------------------------------------------------------------------- domain
class Domain:
    """Where a search may look: a search space, optionally restricted to the architectures an oracle can answer.

    The restriction matters where a benchmark labels only part of its space (NAS-Bench-101's offline tables hold
    530 cells; NAS-Bench-Graph's ``proteins`` 2,021 of 26,206). Methods sample, mutate and list neighbours through the
    domain, never through the space directly, so they never propose an architecture the oracle cannot answer.

    Args:
        space: the search space.
        key: identity of an architecture for the query cache (``space.format`` or ``space.canonical``).
        pool: the answerable architectures, or ``None`` for the whole space.
    """

    def __init__(self, space: SearchSpace, key: str = "format", pool: Sequence[Arch] | None = None) -> None:
        if key not in ("format", "canonical"):
            raise InvalidChoiceError("key", key, ["format", "canonical"])
        self.space = space
        self.key_kind = key
        self.pool = list(pool) if pool is not None else None
        self._pool_keys = {self.key(a) for a in self.pool} if self.pool is not None else None

    def key(self, arch: Arch) -> str:
        """Cache identity of ``arch``: two architectures with the same key are one query."""
        return self.space.format(arch) if self.key_kind == "format" else self.space.canonical(arch)

    def __contains__(self, arch: Arch) -> bool:
        return self._pool_keys is None or self.key(arch) in self._pool_keys

    @property
    def size(self) -> int | None:
        """Distinct architectures the domain holds (by key), or ``None`` when not known cheaply."""
        if self._pool_keys is not None:
            return len(self._pool_keys)
        if self.key_kind == "format":
            return getattr(self.space, "size", None)
        return None

    def enumerate(self, limit: int = 100_000) -> list[Arch] | None:
        """Every architecture of the domain (its pool, or an enumerable space in index order), or ``None`` when the
        domain is not enumerable or holds more than ``limit``."""
        if self.pool is not None:
            return list(self.pool) if len(self.pool) <= limit else None
        from nag.spaces.base import EnumerableSpace

        if isinstance(self.space, EnumerableSpace) and self.space.size <= limit:
            return list(self.space.enumerate())
        return None

    def sample(self, n: int, rng: np.random.Generator) -> list[Arch]:
        """``n`` architectures drawn uniformly (i.i.d.) from the domain."""
        if self.pool is None:
            return list(self.space.sample(n, seed=rng))
        return [self.pool[int(i)] for i in rng.integers(len(self.pool), size=n)]

    def neighbours(self, arch: Arch) -> list[Arch]:
        """The space's neighbours of ``arch`` that lie in the domain."""
        nb = self.space.neighbours(arch)
        return nb if self._pool_keys is None else [a for a in nb if self.key(a) in self._pool_keys]

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """A uniformly random neighbour in the domain; a uniform sample when ``arch`` has none there."""
        nb = self.neighbours(arch)
        if not nb:
            return self.sample(1, rng)[0]
        return nb[int(rng.integers(len(nb)))]

    def __repr__(self) -> str:
        pool = "whole space" if self.pool is None else f"{len(self.pool)} archs"
        return f"Domain({self.space.name}, key={self.key_kind}, {pool})"


# ---------------------------------------------------------------------------------------------------------- oracle ABC
class Oracle(ABC):
    """Returns the true signal, report values and cost of architectures of one search space.

    Subclasses implement `evaluate` and `describe`; `build_oracle(describe())` must rebuild an equal oracle.

    Attributes:
        space_name: registry name of the search space.
        key_kind: ``"format"`` when every native notation is its own query (NAS-Bench-201: isomorphic cells have
            their own table rows), ``"canonical"`` when isomorphic architectures are one (NAS-Bench-101/-Graph).
    """

    space_name: str
    key_kind: str = "format"
    constraints: tuple[Constraint, ...] = ()

    @property
    def space(self) -> SearchSpace:
        """The search space."""
        return get_space(self.space_name)

    @abstractmethod
    def evaluate(self, archs: Sequence[Arch]) -> list[Evaluation]:
        """One `Evaluation` per architecture, in order."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-able ``{"kind": ..., **arguments}`` from which `build_oracle` rebuilds this oracle."""

    def domain(self) -> Domain:
        """Where a search with this oracle may look (default: the whole space)."""
        return Domain(self.space, key=self.key_kind)

    @property
    def cheap_constraints(self) -> tuple[Constraint, ...]:
        """The constraints settled without training (`Constraint.cheap`): the harness measures them for every
        candidate before it can be queried (`bo.loop.step`)."""
        return tuple(c for c in self.constraints if c.cheap)

    def measure(self, archs: Sequence[Arch]) -> list[Measurement]:
        """One `Measurement` of the cheap constraints per architecture, in order (no training).

        Raises:
            NotImplementedError: the oracle has cheap constraints but no way to measure them.
        """
        if self.cheap_constraints:
            raise NotImplementedError(
                f"{type(self).__name__} cannot measure {list(map(str, self.cheap_constraints))}"
            )
        return [Measurement({}, 0.0, True) for _ in archs]

    def reference(self) -> dict[str, Any]:
        """Whole-space facts for reports (signal maximum and its report value, ...); empty when unknown."""
        return {}

    def signal_values(self) -> np.ndarray | None:
        """The signal of every architecture of an enumerable space in index order, when the oracle is a table.

        Only methods that plan from the whole table (RoBoT, which reads it only at the indices it queries) use it.
        """
        return None

    def __getstate__(self) -> dict[str, Any]:
        # cached tables are re-opened in the receiving process instead of being pickled
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_c_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "kind")
        return f"{type(self).__name__}({args})"


# ---------------------------------------------------------------------------------------------------------- tables
#: Signal values closer than this are ties: the tables store percentages with float noise of about 1e-8.
SIGNAL_TIE_TOL = 1e-6
# What each benchmark means (its signals, report metric, identity rule, ...) lives in its `BenchmarkSpec`
# (`nag.benchmarks.get_spec`); `SIGNALS`, `SIGNAL_ALIASES`, `REPORTS` below are read-only views of the specs.


def _spec(space: str):
    from nag.benchmarks import get_spec

    return get_spec(space)


def _resolve_signal(space: str, signal: str) -> str:
    return _spec(space).resolve_signal(signal)


def __getattr__(name: str) -> Any:
    # views of the benchmark specs under their former names (computed on access: reading a spec loads no data)
    from nag.benchmarks import BENCHMARKS, get_spec

    views = {
        "SIGNALS": lambda s: dict(s.signals),
        "SIGNAL_ALIASES": lambda s: dict(s.signal_aliases),
        "REPORTS": lambda s: s.report,
    }
    if name in views:
        return {sp: views[name](get_spec(sp)) for sp in BENCHMARKS}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def benchmark_signal(space: str, dataset: str, signal: str) -> tuple[str, str]:
    """``(dataset, metric)`` the benchmark reads for ``signal`` on target ``dataset`` (both resolved)."""
    from nag.benchmarks import get_benchmark

    sp = canonical_space_name(space)
    spec = _spec(sp)
    name = spec.resolve_signal(signal)
    bench = get_benchmark(sp)
    ds = bench.resolve_dataset(dataset)
    sig_ds, metric = spec.signals[name]
    sig_ds = bench.resolve_dataset(sig_ds) if sig_ds else ds
    if metric not in bench.metrics(sig_ds):
        # name the choices by the short names the user types (`--signal`), not the table's internal columns
        def available(n: str) -> bool:
            d, m = spec.signals[n]
            return m in bench.metrics(bench.resolve_dataset(d) if d else ds)

        aliases = spec.signal_aliases
        accepted = [a for a, n in aliases.items() if available(n)]
        signal = next((a for a, n in aliases.items() if n == signal), signal)  # as the user typed it
        raise InvalidChoiceError("signal", signal, accepted or [s for s in spec.signals if available(s)])
    return sig_ds, metric


class _TableMixin:
    """Shared parts of the oracles whose report (and constraints) come from a benchmark table."""

    space_name: str
    dataset: str
    report_metrics: tuple[str, ...]
    constraints: tuple[Constraint, ...]

    @property
    def benchmark(self):
        """The space's benchmark (one instance per process)."""
        from nag.benchmarks import get_benchmark

        return get_benchmark(self.space_name)

    def _check_table_args(self) -> None:
        metrics = set(self.benchmark.metrics(self.dataset))
        for m in self.report_metrics:
            if m not in metrics:
                raise InvalidChoiceError("report", m, sorted(metrics))
        for c in self.constraints:
            if c.metric not in metrics:
                accepted = sorted(m for m in metrics if m.startswith(("latency", "energy", "params")))
                raise InvalidChoiceError("constraint", str(c), [*CONSTRAINT_FORMS, *accepted])

    def _table_values(self, arch: Arch) -> tuple[dict[str, float], bool]:
        bench = self.benchmark
        rep = {m: bench.query(arch, self.dataset, m) for m in self.report_metrics}
        ok = True
        for c in self.constraints:
            v = rep[c.metric] if c.metric in rep else bench.query(arch, self.dataset, c.metric)
            rep[c.metric] = v
            ok = ok and c.holds(v)
        return rep, ok

    def measure(self, archs: Sequence[Arch]) -> list[Measurement]:
        """The cheap constraints' values from the table, standing in for an on-device measurement (HW-NAS-Bench
        measured them without training) and charged as one (`measurement_cost_s`)."""
        bench = self.benchmark
        cheap = self.cheap_constraints
        metrics = set(bench.metrics(self.dataset))
        out = []
        for a in archs:
            vals = {c.metric: float(bench.query(a, self.dataset, c.metric)) for c in cheap}

            def latency_ms(device: str, a=a, vals=vals) -> float:
                m = f"latency_{device}"
                if m in vals:
                    return vals[m]
                if f"help_latency_ms_{device}" in vals:
                    return vals[f"help_latency_ms_{device}"]
                return float(bench.query(a, self.dataset, m)) if m in metrics else math.nan

            ok = all(c.holds(vals[c.metric]) for c in cheap)
            out.append(Measurement(vals, measurement_cost_s(list(vals), latency_ms), ok))
        return out

    @cached_property
    def _c_archs(self) -> list[Arch] | None:
        # the order of the benchmark's whole-table arrays (`BenchmarkSpec.index`)
        return self.benchmark.index_archs(self.dataset)

    def _column(self, dataset: str, metric: str) -> np.ndarray:
        bench = self.benchmark
        if hasattr(bench, "column"):
            return bench.column(dataset, metric)
        return np.array([bench.query(a, dataset, metric) for a in self._c_archs])

    def _feasible_column(self) -> np.ndarray:
        n = len(self._c_archs)
        ok = np.ones(n, dtype=bool)
        for c in self.constraints:
            ok &= c.holds_many(self._column(self.dataset, c.metric))
        return ok

    def _table_domain(self) -> Domain:
        """The whole space where the benchmark labels all of it, else its labelled architectures of the dataset
        (NAS-Bench-101's 530 cells, NAS-Bench-Graph's 2,021 on ``proteins``, TransNAS-Bench-101's 711)."""
        sp = get_space(self.space_name)
        spec = self.benchmark.spec
        if not spec.exhaustive:
            labelled = self.benchmark.labelled(self.dataset)
            size = getattr(sp, "size", None)
            if not isinstance(size, int) or len(labelled) < size:
                return Domain(sp, key=spec.key, pool=labelled)
        return Domain(sp, key=spec.key)

    def _reference(self, signal: np.ndarray) -> dict[str, Any]:
        """Whole-table facts: signal argmax and its report value, best report, feasible share, constrained optimum."""
        if self._c_archs is None:
            return {}
        sp = get_space(self.space_name)
        rep = self._column(self.dataset, self.report_metrics[0])
        ok = self._feasible_column() & np.isfinite(signal)
        out: dict[str, Any] = {"report_metric": self.report_metrics[0], "n_archs": int(len(signal))}
        out["feasible_share"] = float(ok.mean())
        if not ok.any():
            return out
        s = np.where(ok, signal, -np.inf)
        i = int(np.argmax(s))  # the lowest index, as `bo.robot.signal_ceiling`
        out["signal_max"] = float(signal[i])
        out["signal_argmax"] = sp.format(self._c_archs[i])
        # the report value of the signal's best: what the signal allows
        out["signal_ceiling"] = _num(float(rep[i]))
        # several architectures can share the maximum (CIFAR-100's 12-epoch validation: two cells at 61.32 with
        # test 72.28 and 73.09); a search may pick any of them, so the range of their report values is kept too
        ties = np.flatnonzero(s >= out["signal_max"] - SIGNAL_TIE_TOL)
        out["signal_max_ties"] = int(len(ties))
        known = rep[ties][np.isfinite(rep[ties])]  # NAS-Bench-101 lacks the test accuracy of some cells
        out["signal_ceiling_range"] = (
            [_num(float(known.min())), _num(float(known.max()))] if known.size else [None, None]
        )
        r = np.where(ok & np.isfinite(rep), rep, -np.inf)
        j = int(np.argmax(r))
        out["best_report"] = _num(float(rep[j]))  # with constraints: the constrained optimum
        out["best_report_arch"] = sp.format(self._c_archs[j])
        return out


class BenchmarkOracle(_TableMixin, Oracle):
    """Table lookup: signal, report values and cost of a benchmark's architectures.

    Args:
        space: search space with a benchmark (``nb201``, ``nb101``, ``nasbench_graph``).
        dataset: target dataset (aliases accepted).
        signal: what the search sees. NAS-Bench-201: ``val_acc_hp12`` (the target's 12-epoch validation, default),
            ``val_acc`` (200-epoch validation; the table has it for CIFAR-10 only) or ``cifar10:val_acc_hp12``
            (RoBoT's protocol: CIFAR-10 12-epoch validation for every target); aliases ``target``, ``val200``,
            ``cifar10``/``robot``. NAS-Bench-101: ``val_acc`` (108 epochs). NAS-Bench-Graph: ``val_perf``.
            ``None`` picks the space's default.
        report: metrics reported (hidden from the search); the first is the headline (default: test accuracy).
        constraints: `Constraint` objects or their text (`parse_constraint`), checked on the table's values.
        constraint_source: how cheap constraints are settled before a query (`CONSTRAINT_SOURCES`): ``"table"`` —
            the table's value stands in for an on-device measurement and is charged as one
            (`measurement_cost_s`); ``"model"`` — the device's latency / energy model (`predictors.latency.fit_device`,
            a linear model of the operations; parameters and FLOPs stay exact) predicts it at no measurement cost,
            and each query's true value verifies it (a query the model let through may then be infeasible; the
            pick never is).

    Cost: NAS-Bench-201's 12-epoch training seconds (``cost_hp12_s``) for 12-epoch signals; unknown (``None``) for
    the 200-epoch signal, whose training time the table does not hold; NAS-Bench-101's 108-epoch training seconds
    where the full record exists; unknown on NAS-Bench-Graph.
    """

    def __init__(
        self,
        space: str,
        dataset: str,
        signal: str | None = None,
        report: Sequence[str] | None = None,
        constraints: Sequence[Constraint | str] = (),
        constraint_source: str = "table",
    ) -> None:
        from nag.benchmarks import get_benchmark

        sp = canonical_space_name(space)
        spec = _spec(sp)  # a space without a benchmark: InvalidChoiceError listing those with one
        self.space_name = sp
        self.key_kind = spec.key
        self.dataset = get_benchmark(sp).resolve_dataset(dataset)
        self.signal = spec.resolve_signal(signal)
        self._signal_ds, self._signal_metric = benchmark_signal(sp, self.dataset, self.signal)
        self.report_metrics = tuple(report) if report else (spec.report,)
        self.constraints = tuple(c if isinstance(c, Constraint) else parse_constraint(c) for c in constraints)
        if constraint_source not in CONSTRAINT_SOURCES:
            raise InvalidChoiceError("constraint-source", constraint_source, CONSTRAINT_SOURCES)
        self.constraint_source = constraint_source
        self._check_table_args()
        if constraint_source == "model":
            for c in self.cheap_constraints:
                if c.metric.startswith(("latency_", "energy_")):
                    self._device_model(c.metric)  # a device without a model: one line naming it

    def evaluate(self, archs: Sequence[Arch]) -> list[Evaluation]:
        bench = self.benchmark
        out = []
        for a in archs:
            rep, ok = self._table_values(a)
            out.append(
                Evaluation(
                    signal=bench.query(a, self._signal_ds, self._signal_metric),
                    report=rep,
                    cost_s=self.cost(a),
                    feasible=ok,
                )
            )
        return out

    def cost(self, arch: Arch) -> float | None:
        """Seconds of the training run that produces the signal, where the table has it (see the class docstring)."""
        costed = self.benchmark.spec.costed_metrics
        if costed is not None and self._signal_metric not in costed:
            return None
        return self.benchmark.cost(arch, self._signal_ds)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "benchmark",
            "space": self.space_name,
            "dataset": self.dataset,
            "signal": self.signal,
            "report": list(self.report_metrics),
            "constraints": [str(c) for c in self.constraints],
            **({"constraint_source": self.constraint_source} if self.constraint_source != "table" else {}),
        }

    def _device_model(self, metric: str):
        from predictors.latency import fit_device, latency_metrics

        models = self.__dict__.setdefault("_c_device_models", {})
        if metric not in models:
            if metric not in latency_metrics(self.dataset):
                raise InvalidChoiceError(
                    "constraint", f"{metric} with --constraint-source model", latency_metrics(self.dataset)
                )
            models[metric] = fit_device(metric, self.dataset)
        return models[metric]

    def measure(self, archs: Sequence[Arch]) -> list[Measurement]:
        """`_TableMixin.measure` (``constraint_source="table"``), or the device models' predictions at no
        measurement cost (``"model"``; parameters and FLOPs from the table: exact counts)."""
        if self.constraint_source == "table":
            return super().measure(archs)
        out = []
        for a in archs:
            vals = {}
            for c in self.cheap_constraints:
                if c.metric.startswith(("latency_", "energy_")):
                    vals[c.metric] = float(self._device_model(c.metric).predict_archs([a])[0])
                else:
                    vals[c.metric] = float(self.benchmark.query(a, self.dataset, c.metric))
            ok = all(c.holds(vals[c.metric]) for c in self.cheap_constraints)
            out.append(Measurement(vals, 0.0, ok))
        return out

    def domain(self) -> Domain:
        return self._table_domain()

    def signal_values(self) -> np.ndarray | None:
        if self._c_archs is None:
            return None
        return self._column(self._signal_ds, self._signal_metric)

    def reference(self) -> dict[str, Any]:
        sig = self.signal_values()
        return {} if sig is None else self._reference(sig)


class TrainingFreeOracle(_TableMixin, Oracle):
    """A training-free (zero-cost) metric as the search signal; report values and constraints from the table.

    Args:
        space: ``nb201`` (``source="table"`` needs its precomputed metrics; ``"compute"`` works for any space
            whose architectures build a network).
        dataset: target dataset of the report values.
        metric: ``source="table"``: a benchmark metric such as ``zc_synflow``, ``naswot``, ``synflow``; ``"compute"``:
            a registered metric of `predictors.zero_cost` (``synflow``, ``naswot``, ``jacob_cov``, ...).
        source: ``"table"`` (precomputed values; cost = NASLib's measured compute time where known, else unknown)
            or ``"compute"`` (the metric on the real untrained network and a Fashion-MNIST minibatch; cost = the
            measured seconds).
        report: report metrics (default: test accuracy).
        constraints: as in `BenchmarkOracle`.
        batch_size: minibatch size for ``"compute"``.
        seed: seeds the network initialisation and the minibatch for ``"compute"``.
        module_kwargs: options of ``space.to_module`` for ``"compute"`` (e.g. ``{"C": 16, "N": 5}``).
    """

    key_kind = "format"
    SOURCES = ("table", "compute")

    def __init__(
        self,
        space: str,
        dataset: str,
        metric: str = "zc_synflow",
        source: str = "table",
        report: Sequence[str] | None = None,
        constraints: Sequence[Constraint | str] = (),
        batch_size: int = 64,
        seed: int = 0,
        module_kwargs: dict[str, Any] | None = None,
    ) -> None:
        from nag.benchmarks import get_benchmark

        if source not in self.SOURCES:
            raise InvalidChoiceError("source", source, self.SOURCES)
        self.space_name = canonical_space_name(space)
        spec = _spec(self.space_name)
        self.key_kind = spec.key
        self.dataset = get_benchmark(self.space_name).resolve_dataset(dataset)
        self.metric = metric
        self.source = source
        self.report_metrics = tuple(report) if report else (spec.report,)
        self.constraints = tuple(c if isinstance(c, Constraint) else parse_constraint(c) for c in constraints)
        self.batch_size = batch_size
        self.seed = seed
        self.module_kwargs = dict(module_kwargs or {})
        if source == "table":
            known = self.benchmark.metrics(self.dataset)
            if metric not in known or metric.startswith(("test", "val", "valid", "train")):
                raise InvalidChoiceError(
                    "metric",
                    metric,
                    [m for m in known if m.startswith(("zc_", "naswot", "synflow", "logsyn"))],
                )
        else:
            from predictors.zero_cost import get_metric

            get_metric(metric)
        self._check_table_args()

    def evaluate(self, archs: Sequence[Arch]) -> list[Evaluation]:
        out = []
        for a in archs:
            rep, ok = self._table_values(a)
            if self.source == "table":
                sig = self.benchmark.query(a, self.dataset, self.metric)
                cost = self._table_time(a)
            else:
                sig, cost = self._compute(a)
            out.append(Evaluation(signal=sig, report=rep, cost_s=cost, feasible=ok))
        return out

    def _table_time(self, arch: Arch) -> float | None:
        # NASLib's 725 NB201 cells carry the measured compute time of each metric (``naslib_zc_<m>_time_s``)
        name = self.metric.removeprefix("zc_")
        t_name = f"naslib_zc_{name}_time_s"
        if t_name not in self.benchmark.metrics(self.dataset):
            return None
        v = self.benchmark.query(arch, self.dataset, t_name)
        return None if math.isnan(v) else float(v)

    def _compute(self, arch: Arch) -> tuple[float, float]:
        import torch

        from predictors.zero_cost import compute
        from predictors.zero_cost.data import fashion_mnist_batch

        size = 16 if self.dataset == "ImageNet16-120" else 32
        batch = fashion_mnist_batch(self.batch_size, seed=self.seed, size=size)
        t0 = time.perf_counter()
        torch.manual_seed(self.seed)
        net = self.space.to_module(arch, **self.module_kwargs)
        value = compute(self.metric, net, batch)
        return value, time.perf_counter() - t0

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "training-free",
            "space": self.space_name,
            "dataset": self.dataset,
            "metric": self.metric,
            "source": self.source,
            "report": list(self.report_metrics),
            "constraints": [str(c) for c in self.constraints],
            "batch_size": self.batch_size,
            "seed": self.seed,
            "module_kwargs": self.module_kwargs,
        }

    def domain(self) -> Domain:
        return self._table_domain()

    def reference(self) -> dict[str, Any]:
        if self.source != "table" or self._c_archs is None or not hasattr(self.benchmark, "column"):
            return {}
        try:
            sig = self.benchmark.column(self.dataset, self.metric)
        except InvalidChoiceError:  # metrics held per cell only (NASLib's 725) have no whole-space column
            return {}
        return self._reference(sig)


class TrainingOracle(Oracle):
    """Really trains each architecture's network on the task's images with Lightning (`bo.lit`).

    The images of ``data`` (`bo.task_data`: the 10,000 shipped Fashion-MNIST images by default) are split once by a
    seeded permutation into ``n_train`` training, ``n_val`` validation and ``n_test`` test images; the network gets
    as many outputs as the data has classes (`num_classes`). Signal = validation accuracy (%), report ``test_acc`` =
    test accuracy (%) and ``train_loss``; cost = measured wall seconds of training and evaluation. The data and the
    split sizes are checked when the oracle is built (one-line `nag.errors.NagInputError`).

    Args:
        space: a space whose architectures build networks (``nb201``, ``nb101``, ``mbv3``).
        epochs: training epochs.
        n_train / n_val / n_test: split sizes: counts, fractions in (0, 1), or None for 50 / 25 / 25 % of the images
            (their sum at most the number of images); `describe` records the resolved counts.
        batch_size: minibatch size.
        lr: SGD (Nesterov momentum 0.9, weight decay 5e-4) learning rate, cosine-annealed to 0.
        seed: seeds the split, the initial weights and the batch order; the same seed gives the same numbers.
        size: input height/width (Fashion-MNIST is 28; grey replicated to 3 channels).
        module_kwargs: options of ``space.to_module`` (e.g. ``{"C": 8, "N": 1}`` for a small NB201 network).
        accelerator: Lightning accelerator (``cpu``, ``gpu``, ``auto``).
        threads: torch CPU threads while training.
        data: a data spec (`bo.task_data.parse_data_spec`): ``fashion-mnist``, ``imagefolder:DIR``, ``npz:FILE`` or
            ``torchvision:NAME:ROOT``.
        augment: random crop with padding and horizontal flip of the training images, seeded (`bo.lit.Augment`).
        constraints: cheap constraints measured on this machine before a query (`LOCAL_METRICS`):
            ``latency:local<=4`` (ms, `predictors.measure.measure_latency` at batch 1 after warm-up, fastest of
            the timed passes, ``latency_threads`` threads), ``params<=0.5`` (millions, counted) and ``flops<=100``
            (MFLOPs of one image, ``torch.utils.flop_counter``); each charged the seconds it took.
        latency_backend: ``"torch"`` or ``"onnxruntime"`` for ``latency:local``.
        latency_threads: threads the latency is measured with (stated in the run).
        latency_cache: JSON file caching latency measurements per architecture and setting (default
            ``~/.cache/nag/latency_local.json``; ``""``: in memory only).
    """

    def __init__(
        self,
        space: str = "nb201",
        epochs: int = 3,
        n_train: int | float | None = None,
        n_val: int | float | None = None,
        n_test: int | float | None = None,
        batch_size: int = 128,
        lr: float = 0.1,
        seed: int = 0,
        size: int = 28,
        module_kwargs: dict[str, Any] | None = None,
        accelerator: str = "cpu",
        threads: int = 1,
        data: str = "fashion-mnist",
        augment: bool = False,
        constraints: Sequence[Constraint | str] = (),
        latency_backend: str = "torch",
        latency_threads: int = 1,
        latency_cache: str | None = None,
    ) -> None:
        from bo.task_data import check_data

        self.space_name = canonical_space_name(space)
        if not hasattr(get_space(self.space_name), "to_module"):
            raise InvalidChoiceError("space", space, ["nb201", "nb101", "mbv3"])
        if min(epochs, batch_size) < 1:
            raise ValueError("epochs, batch_size: must all be >= 1")
        if "num_classes" in (module_kwargs or {}):
            raise ValueError("module_kwargs: num_classes is inferred from the data; remove it")
        info = check_data(data, n_train, n_val, n_test, size)
        self.data = info.spec
        #: classes of the data, the network's output count
        self.num_classes = info.num_classes
        self.epochs = epochs
        self.n_train, self.n_val, self.n_test = info.n_train, info.n_val, info.n_test
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.size = size
        self.module_kwargs = dict(module_kwargs or {})
        self.accelerator = accelerator
        self.threads = threads
        self.augment = bool(augment)
        #: input height and width of the networks (the data's own where ``size`` is None)
        self.input_hw = (size, size) if size is not None else tuple(info.image_shape[1:])
        self.constraints = tuple(c if isinstance(c, Constraint) else parse_constraint(c) for c in constraints)
        for c in self.constraints:
            if c.metric not in LOCAL_METRICS:
                raise InvalidChoiceError(
                    "constraint", str(c), ["latency:local<=MS", "params<=M", "flops<=MFLOPS"]
                )
        from predictors.measure import BACKENDS

        if latency_backend not in BACKENDS:
            raise InvalidChoiceError("latency-backend", latency_backend, BACKENDS)
        if latency_threads < 1:
            raise InvalidChoiceError("latency-threads", latency_threads, ["an integer >= 1"])
        self.latency_backend = latency_backend
        self.latency_threads = latency_threads
        self.latency_cache = latency_cache

    def settings(self, epochs: int | None = None):
        """The `bo.lit.TrainSettings` of one query (``epochs`` overrides the recipe's, e.g. to retrain a pick)."""
        from bo.lit import TrainSettings

        return TrainSettings(
            epochs=self.epochs if epochs is None else epochs,
            n_train=self.n_train,
            n_val=self.n_val,
            n_test=self.n_test,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=self.seed,
            size=self.size,
            accelerator=self.accelerator,
            threads=self.threads,
            data=self.data,
            augment=self.augment,
        )

    def build_module(self, arch: Arch):
        """The untrained network of ``arch`` this oracle trains (``B x 3 x size x size -> B x num_classes``)."""
        return self.space.to_module(arch, num_classes=self.num_classes, **self.module_kwargs)

    def _cache(self):

        from predictors.measure import LatencyCache

        if "_c_cache" not in self.__dict__:
            path = self.latency_cache
            if path is None:
                path = str(LatencyCache.default_path())
            self.__dict__["_c_cache"] = LatencyCache(path or None)
        return self.__dict__["_c_cache"]

    def local_latency_model(self):
        """The space's local latency model (`predictors.local_latency`) with this oracle's measurement settings,
        unfitted, or ``None`` without a ``latency:local`` constraint or where the space has none. MobileNetV3: the
        per-block table is measured on the first call (a few seconds per round; cached like every latency, so a
        resumed run measures nothing) and ``local_model_s`` holds what measuring it cost. Built once per oracle."""
        from predictors.local_latency import LOCAL_MODEL_SPACES, local_latency_model

        if self.space_name not in LOCAL_MODEL_SPACES or not any(
            c.metric == "latency_local" for c in self.constraints
        ):
            return None
        if "_c_local_model" not in self.__dict__:
            t0 = time.perf_counter()
            model = local_latency_model(
                self.space_name, backend=self.latency_backend, input_size=(3, *self.input_hw),
                num_classes=self.num_classes, threads=self.latency_threads, module_kwargs=self.module_kwargs,
                cache=self._cache(),
            )  # fmt: skip
            # its cost: a table's own measurement time (also when read from the cache), else the time taken here
            table_s = getattr(model, "settings", {}).get("measure_s")
            self.local_model_s = float(table_s if table_s is not None else time.perf_counter() - t0)
            self.__dict__["_c_local_model"] = model
        return self.__dict__["_c_local_model"]

    def _measurer(self):
        """The process latency is measured in (`predictors.measure.IsolatedMeasurer`): this process trains
        networks, which slows its own timings down as a search goes on."""
        if "_c_measurer" not in self.__dict__:
            from predictors.measure import IsolatedMeasurer

            self.__dict__["_c_measurer"] = IsolatedMeasurer()
        return self.__dict__["_c_measurer"]

    def measure(self, archs: Sequence[Arch]) -> list[Measurement]:
        """The cheap constraints measured on this machine (no training): latency of the untrained network at batch
        1 (cached per architecture and setting, so never measured twice), parameters and FLOPs counted; charged
        the wall seconds they took (a cached latency: the seconds of its original measurement)."""
        out = []
        metrics = {c.metric for c in self.constraints}
        for a in archs:
            vals: dict[str, float] = {}
            spent = 0.0
            if "latency_local" in metrics:
                m = self._cache().measure(
                    self.space, a, backend=self.latency_backend, input_size=(3, *self.input_hw),
                    num_classes=self.num_classes, threads=self.latency_threads, module_kwargs=self.module_kwargs,
                    measurer=self._measurer(),
                )  # fmt: skip
                vals["latency_local"] = float(m.ms)
                spent += float(m.wall_s)
            if metrics & {"params_mb", "flops"}:
                t1 = time.perf_counter()
                net = self.build_module(a).eval()
                if "params_mb" in metrics:
                    vals["params_mb"] = sum(p.numel() for p in net.parameters()) / 1e6
                if "flops" in metrics:
                    import torch
                    from torch.utils.flop_counter import FlopCounterMode

                    with FlopCounterMode(display=False) as fc, torch.no_grad():
                        net(torch.zeros(1, 3, *self.input_hw))
                    vals["flops"] = fc.get_total_flops() / 1e6
                spent += time.perf_counter() - t1
            ok = all(c.holds(vals[c.metric]) for c in self.constraints)
            out.append(Measurement(vals, spent, ok))
        return out

    def evaluate(self, archs: Sequence[Arch]) -> list[Evaluation]:
        from bo.lit import train_classifier

        cfg = self.settings()
        out = []
        for a in archs:
            rep, ok = {}, True
            if self.constraints:  # the same values the harness settled before the query (cached latency)
                m = self.measure([a])[0]
                rep, ok = dict(m.values), m.feasible
            t0 = time.perf_counter()
            res = train_classifier(lambda a=a: self.build_module(a), cfg)
            out.append(
                Evaluation(
                    signal=res["val_acc"],
                    report={"test_acc": res["test_acc"], "train_loss": res["train_loss"], **rep},
                    cost_s=time.perf_counter() - t0,
                    feasible=ok,
                )
            )
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "training",
            "space": self.space_name,
            "epochs": self.epochs,
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "seed": self.seed,
            "size": self.size,
            "module_kwargs": self.module_kwargs,
            "accelerator": self.accelerator,
            "threads": self.threads,
            "data": self.data,
            "augment": self.augment,
            **(
                {
                    "constraints": [str(c) for c in self.constraints],
                    "latency_backend": self.latency_backend,
                    "latency_threads": self.latency_threads,
                    "latency_cache": self.latency_cache,
                }
                if self.constraints
                else {}
            ),  # fmt: skip
        }


#: Oracle kinds, as `Oracle.describe` names them.
ORACLES: dict[str, type[Oracle]] = {
    "benchmark": BenchmarkOracle,
    "training-free": TrainingFreeOracle,
    "training": TrainingOracle,
}


#: The resolver behind `build_oracle`.
ORACLE_REGISTRY: Registry[type[Oracle]] = Registry("oracle", ORACLES)


def build_oracle(desc: dict[str, Any]) -> Oracle:
    """Rebuild an oracle from `Oracle.describe` output (e.g. a run directory's ``config.json``)."""
    args = dict(desc)
    kind = args.pop("kind", None)
    if not isinstance(kind, str):
        raise InvalidChoiceError("oracle", kind, ORACLE_REGISTRY.names())
    return ORACLE_REGISTRY.load(kind)(**args)
