"""The search harness: one loop for every method, with the same query and cost accounting, resumable from disk.

A search alternates two things until its budget of queries is spent:

1. the method *proposes* up to ``q`` architectures (`SearchMethod.propose`);
2. the harness evaluates the new ones with the oracle (concurrently through an executor), answers known ones from
   its cache, records the queries, and lets the method *observe* the results (`SearchMethod.observe`).

`step` does one such round on a `BOState` and returns the next state (the input is not modified; no file I/O);
`run_search` loops `step`, writing the run directory after every evaluation, and `resume_search` continues a run
from its directory alone.

**Query accounting** (``shared/PROTOCOL.md``): one query = one new architecture evaluated by the oracle; re-proposing
a known architecture is answered from the cache, free (no budget, no cost; counted in ``n_free``). Identity is the
oracle's `Domain.key`: the native text (`SearchSpace.format`) on NAS-Bench-201, where isomorphic cells have their own
table rows and trained values, so two arch strings are two queries even when they compute the same function; the
isomorphism class (`SearchSpace.canonical`) on NAS-Bench-101 and NAS-Bench-Graph, whose tables key by class.

**Cheap constraints are settled before a query** (the same rule for every method, so comparisons stay fair): a
constraint on a metric obtained without training (`bo.oracles.is_cheap`: parameters, FLOPs, latency or energy on a
device) is measured for each new candidate, once, before it can be queried (`Oracle.measure`, charged its stated
measurement cost, cached in ``BOState.measured``). A candidate that breaks one is *rejected*: never queried, no budget
spent, observed by the method with no signal (`Evaluation.rejected`). A method may propose more than ``q``
architectures, best first: the harness walks them in order and stops after ``q`` that are not rejected (the rest are
alternates, never measured). Expensive constraints (anything that needs training) are checked on the query's values.

**Pick**: the queried architecture with the best signal among those meeting the constraints (the first on ties).

**Resume**: the state holds everything a step depends on (queries, method memory, the random generator's state),
and the evaluations of a step in flight are saved as they complete (``pending``). A resumed run re-proposes the
same batch from the same state and takes already-paid evaluations from ``pending``: nothing is lost or repeated.

Run directory::

    config.json        the run configuration, the oracle's description and whole-space reference values
    state.json         the `BOState` (atomic rewrite after every evaluation)
    queries.jsonl      one record per query: step, phase, arch, signal, feasibility, cost, report values
    queries.csv        the same as a table
    measurements.csv   with cheap constraints: every candidate measured before it could be queried, its values,
                       cost, whether it was feasible and queried (rejected ones never were)
    best_so_far.csv    after each query: best signal so far, the pick, its report values, cumulative cost
"""

from __future__ import annotations

import copy
import csv
import inspect
import io
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bo.oracles import Domain, Evaluation, Measurement, Oracle, build_oracle
from bo.rundir import RunFileError, RunLock, expect, expect_int, expect_list, expect_number, read_json_file
from nag.config import Config, ConfigError
from nag.errors import InvalidChoiceError, NagInputError
from nag.io import atomic_write_text, remove_stale_temps
from nag.registry import Registry

__all__ = [
    "RunConfig",
    "BOState",
    "SearchMethod",
    "METHODS",
    "register_method",
    "method_names",
    "get_method",
    "step",
    "run_search",
    "resume_search",
    "load_state",
    "load_config",
    "write_run",
    "RunExistsError",
    "InitialDesignWarning",
    "initial_design",
    "load_run",
]

Arch = Any
STATE_VERSION = 1


# ---------------------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class RunConfig(Config):
    """Everything a search run depends on (written to ``config.json`` and inside ``state.json``).

    Attributes:
        method: registered method name (`METHODS`).
        oracle: the oracle's `Oracle.describe` output (rebuilt by `bo.oracles.build_oracle`).
        budget: queries (distinct new architectures) the run may make.
        q: architectures proposed per step (evaluated concurrently by the executor).
        seed: seeds the run's random generator (all of a method's randomness comes from it).
        method_options: keyword options of the method (e.g. ``{"population_size": 10}``).
        max_stall: steps in a row without a new architecture before the run stops (``None``: ``100 + 10 * budget``).
    """

    method: str
    oracle: dict[str, Any]
    budget: int
    q: int = 1
    seed: int = 0
    method_options: dict[str, Any] = field(default_factory=dict)
    max_stall: int | None = None

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ValueError(f"budget: must be >= 1, got {self.budget}")
        if self.q < 1:
            raise ValueError(f"q: must be >= 1, got {self.q}")

    @property
    def stall_limit(self) -> int:
        """`max_stall` with its default filled in."""
        return self.max_stall if self.max_stall is not None else 100 + 10 * self.budget

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (`Config.to_dict`)."""
        return self.to_dict()

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunConfig:
        """Inverse of `to_json`, checking every field (`Config.from_dict`, with the run files' messages).

        Raises:
            ValueError: a field is unknown, missing or of the wrong type or range; the message names it
                (``config.budget``).
        """
        if not isinstance(d, dict):
            raise ValueError(f"'config' must be an object, got {type(d).__name__}")
        p = "config."
        accepted = [f.name for f in fields(cls)]
        unknown = [k for k in d if k not in accepted]
        if unknown:
            raise ConfigError(f"'config.{unknown[0]}': unknown key; accepted: {', '.join(accepted)}")
        kw: dict[str, Any] = {
            "method": expect(d, "method", str, "a method name", p),
            "oracle": expect(d, "oracle", dict, "an object (the oracle's description)", p),
            "budget": expect_int(d, "budget", 1, p),
            "q": expect_int(d, "q", 1, p) if "q" in d else 1,
            "seed": expect_int(d, "seed", 0, p) if "seed" in d else 0,
            "method_options": expect(d, "method_options", dict, "an object", p)
            if "method_options" in d
            else {},
        }
        if d.get("max_stall") is not None:
            kw["max_stall"] = expect_int(d, "max_stall", 1, p)
        if not isinstance(kw["oracle"].get("kind"), str):
            raise ValueError("'config.oracle.kind' must be a string naming the oracle")
        return cls(**kw)


# ---------------------------------------------------------------------------------------------------------- state
@dataclass
class BOState:
    """The whole state of a search: its queries, the method's memory, the random generator; JSON-serialisable.

    Per-query lists (one entry per query, in query order):
        archs: native text notation; keys: cache identity (`Domain.key`); signals; reports; costs (seconds or
        ``None`` where unknown); feasible; phases (the method's phase that proposed it); steps (step index).

    Attributes:
        config: the run's `RunConfig`.
        n_steps: `step` calls completed.
        n_free: proposals answered from the cache (known architectures; no budget, no cost).
        stall: consecutive steps that brought no new architecture.
        rng_state: ``numpy`` bit-generator state after the last step (``None`` before the first).
        method_state: the method's JSON-able memory (population, current point, plan, ...).
        one_off_cost_s: one-off costs a method reports (training its generator or predictors), by name.
        pending: evaluations of the step in flight, by key (saved for resume; empty between steps).
        measured: cheap-constraint measurements (`bo.oracles.Measurement` as JSON plus ``arch``, its native text), by
            key, in the order they were made: every candidate the harness settled before it could be queried.
            Those that broke a cheap constraint were never queried (*rejected*).
        pending_measured: the measurements of the step in flight (saved for resume, so a resumed step neither pays
            for them again nor lets the method see them before it proposes; empty between steps).
        done: the run has finished; stop_reason says why.
        propose_s / evaluate_s: wall seconds spent proposing / evaluating, summed over steps.
        run_id: identifies the run directory's run (also in its ``config.json``, so a state and a config that do not
            belong together are told apart); empty for a run kept in memory.
    """

    config: RunConfig
    archs: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    signals: list[float] = field(default_factory=list)
    reports: list[dict[str, float]] = field(default_factory=list)
    costs: list[float | None] = field(default_factory=list)
    feasible: list[bool] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    n_steps: int = 0
    n_free: int = 0
    stall: int = 0
    rng_state: dict[str, Any] | None = None
    method_state: dict[str, Any] = field(default_factory=dict)
    one_off_cost_s: dict[str, float | None] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    measured: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending_measured: dict[str, dict[str, Any]] = field(default_factory=dict)
    done: bool = False
    stop_reason: str = ""
    propose_s: float = 0.0
    evaluate_s: float = 0.0
    run_id: str = ""

    # ------------------------------------------------------------------ queries
    @property
    def n_queries(self) -> int:
        """Queries made (distinct architectures evaluated by the oracle)."""
        return len(self.archs)

    @property
    def remaining(self) -> int:
        """Queries left in the budget."""
        return max(self.config.budget - self.n_queries, 0)

    def index_of(self, key: str) -> int | None:
        """Query index of the architecture with cache key ``key``, or ``None`` if not queried."""
        try:
            return self.keys.index(key)
        except ValueError:
            return None

    def evaluation(self, i: int) -> Evaluation:
        """The `Evaluation` of query ``i``."""
        return Evaluation(self.signals[i], dict(self.reports[i]), self.costs[i], self.feasible[i])

    def fitness(self, i: int) -> float:
        """Signal of query ``i`` if it is feasible and finite, else ``-inf`` (what selection compares)."""
        s = self.signals[i]
        return s if self.feasible[i] and math.isfinite(s) else -math.inf

    @property
    def best_so_far(self) -> list[float]:
        """Best feasible signal after each query (NaN until the first feasible one)."""
        out, best = [], -math.inf
        for i in range(self.n_queries):
            best = max(best, self.fitness(i))
            out.append(best if best > -math.inf else math.nan)
        return out

    def pick_index(self, upto: int | None = None) -> int | None:
        """Index of the pick among the first ``upto`` queries (all by default): best feasible signal, first on ties."""
        n = self.n_queries if upto is None else min(upto, self.n_queries)
        best, idx = -math.inf, None
        for i in range(n):
            f = self.fitness(i)
            if f > best:
                best, idx = f, i
        return idx

    @property
    def rejected_keys(self) -> list[str]:
        """Keys of the candidates a cheap measurement ruled out (never queried), in measurement order."""
        return [k for k, m in self.measured.items() if not m["feasible"]]

    @property
    def rejected_archs(self) -> list[str]:
        """Native text of the rejected candidates (`rejected_keys`' architectures)."""
        return [m["arch"] for m in self.measured.values() if not m["feasible"]]

    @property
    def measure_cost_s(self) -> float:
        """Summed cost of the cheap-constraint measurements (unknown costs count 0)."""
        return float(sum(m["cost_s"] or 0.0 for m in self.measured.values()))

    @property
    def infeasible_queries(self) -> int:
        """Queries that broke a constraint (with only cheap constraints: none, they are settled first)."""
        return int(sum(not f for f in self.feasible))

    @property
    def query_cost_s(self) -> float:
        """Summed query cost (unknown costs count 0; see `cost_known`)."""
        return float(sum(c for c in self.costs if c is not None))

    @property
    def cost_known(self) -> int:
        """Queries whose cost is known."""
        return sum(c is not None for c in self.costs)

    def summary(self) -> dict[str, Any]:
        """The pick (native notation, signal, report values), best report among queried, costs, counts."""
        i = self.pick_index()
        report_metric = (
            self.config.oracle.get("report", [None])[0] if self.config.oracle.get("report") else None
        )
        if report_metric is None and self.reports:
            report_metric = next(iter(self.reports[0]), None)
        best_rep = math.nan
        if report_metric is not None:
            vals = [
                r.get(report_metric, math.nan)
                for r, ok in zip(self.reports, self.feasible, strict=True)
                if ok and math.isfinite(r.get(report_metric, math.nan))
            ]
            best_rep = max(vals) if vals else math.nan
        return {
            "n_queries": self.n_queries,
            "n_free": self.n_free,
            "n_steps": self.n_steps,
            "pick": None if i is None else self.archs[i],
            "pick_query": None if i is None else i + 1,
            "pick_signal": math.nan if i is None else self.signals[i],
            "pick_report": {} if i is None else dict(self.reports[i]),
            "report_metric": report_metric,
            "best_report_among_queried": best_rep,
            "feasible_queries": int(sum(self.feasible)),
            "infeasible_queries": self.infeasible_queries,
            "measurements": len(self.measured),
            "rejected": len(self.rejected_keys),
            "measure_cost_s": self.measure_cost_s,
            "query_cost_s": self.query_cost_s,
            "cost_known": self.cost_known,
            "one_off_cost_s": dict(self.one_off_cost_s),
            "propose_s": self.propose_s,
            "evaluate_s": self.evaluate_s,
            "done": self.done,
            "stop_reason": self.stop_reason,
        }

    def pick(self) -> dict[str, Any]:
        """The search's answer as one record (what ``nag search`` prints last and writes as ``pick`` in ``--json``):
        the pick (native notation), its query number, signal and report values, the best report among queried, the
        query count and cost, and the pick's index in the space's enumeration where the space has one."""
        s = self.summary()
        metric = s["report_metric"] or "test_acc"
        rep = s["pick_report"]
        found = s["pick"] is not None
        short = metric.removesuffix("_acc").removesuffix("_perf") or metric
        out: dict[str, Any] = {
            "arch": s["pick"],
            "query": s["pick_query"],
            "signal": s["pick_signal"] if found else None,
            metric: rep.get(metric) if found else None,
            "report": rep,
            f"best_{short}_among_queried": s["best_report_among_queried"],
            "queries": s["n_queries"],
            "free": s["n_free"],
            "query_cost_s": s["query_cost_s"],
            "cost_known": s["cost_known"],
            "stop_reason": s["stop_reason"],
        }
        if self.measured:
            out.update(measurements=s["measurements"], rejected=s["rejected"], measure_cost_s=s["measure_cost_s"],
                       infeasible_queries=s["infeasible_queries"])  # fmt: skip
        space_name = self.config.oracle.get("space")
        if found and space_name:
            from nag.spaces import get_space

            sp = get_space(space_name)
            if hasattr(sp, "index"):
                out["index"] = sp.index(sp.parse(s["pick"]))
        return out

    # ------------------------------------------------------------------ (de)serialisation
    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (NaN written as ``null``)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["config"] = self.config.to_json()
        d["signals"] = [_num(s) for s in self.signals]
        d["reports"] = [{k: _num(v) for k, v in r.items()} for r in self.reports]
        d["best_so_far"] = [_num(b) for b in self.best_so_far]  # derived; for readers of the file
        d["version"] = STATE_VERSION
        for k in ("measured", "pending_measured"):  # only runs with cheap constraints have them
            if not d[k]:
                del d[k]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BOState:
        """Inverse of `to_json`, checking every field (a damaged ``state.json`` must not reach the search).

        Raises:
            ValueError: a field is missing, of the wrong type or range, or the per-query lists disagree in length;
                the message names the field.
        """
        if not isinstance(d, dict):
            raise ValueError(f"expected an object, got {type(d).__name__}")
        kw: dict[str, Any] = {"config": RunConfig.from_json(expect(d, "config", dict, "an object"))}
        kw["archs"] = expect_list(d, "archs", str, "architecture strings")
        kw["keys"] = expect_list(d, "keys", str, "strings")
        kw["signals"] = [
            math.nan if v is None else float(expect_number(v, f"signals[{i}]"))
            for i, v in enumerate(expect_list(d, "signals", None, "numbers or null"))
        ]
        kw["reports"] = [
            {k: math.nan if v is None else float(expect_number(v, f"reports[{i}].{k}")) for k, v in r.items()}
            for i, r in enumerate(expect_list(d, "reports", dict, "objects"))
        ]
        kw["costs"] = [
            expect_number(v, f"costs[{i}]", minimum=0)
            for i, v in enumerate(expect_list(d, "costs", None, "numbers"))
        ]
        kw["feasible"] = expect_list(d, "feasible", bool, "booleans")
        kw["phases"] = expect_list(d, "phases", str, "strings")
        kw["steps"] = expect_list(d, "steps", int, "integers")
        lengths = {
            k: len(kw[k])
            for k in ("archs", "keys", "signals", "reports", "costs", "feasible", "phases", "steps")
        }
        if len(set(lengths.values())) > 1:
            raise ValueError(
                "the per-query lists differ in length: " + ", ".join(f"{k} {n}" for k, n in lengths.items())
            )
        if len(set(kw["keys"])) != len(kw["keys"]):
            raise ValueError("'keys' holds an architecture twice (every query is a new architecture)")
        if len(kw["archs"]) > kw["config"].budget:
            raise ValueError(
                f"{len(kw['archs'])} queries recorded, more than the budget {kw['config'].budget}"
            )
        for k in ("n_steps", "n_free", "stall"):
            kw[k] = expect_int(d, k, 0) if k in d or k == "n_steps" else 0
        if any(s < 0 or s > kw["n_steps"] for s in kw["steps"]):
            raise ValueError(f"'steps' must lie in 0..n_steps ({kw['n_steps']})")
        kw["rng_state"] = d.get("rng_state")
        if kw["rng_state"] is not None:
            try:
                np.random.default_rng(0).bit_generator.state = copy.deepcopy(kw["rng_state"])
            except (TypeError, ValueError, KeyError) as e:
                raise ValueError(f"'rng_state' is not a numpy generator state ({e})") from None
        kw["method_state"] = expect(d, "method_state", dict, "an object")
        kw["one_off_cost_s"] = expect(d, "one_off_cost_s", dict, "an object") if "one_off_cost_s" in d else {}
        for k, v in kw["one_off_cost_s"].items():
            expect_number(v, f"one_off_cost_s.{k}", minimum=0)
        kw["pending"] = expect(d, "pending", dict, "an object") if "pending" in d else {}
        for k, v in kw["pending"].items():
            if not isinstance(v, dict) or "signal" not in v:
                raise ValueError(f"'pending.{k}' must be an evaluation object with a 'signal'")
            try:
                Evaluation.from_json(v)
            except (TypeError, ValueError, AttributeError) as e:
                raise ValueError(f"'pending.{k}' is not an evaluation ({e})") from None
        kw["measured"] = expect(d, "measured", dict, "an object") if "measured" in d else {}
        kw["pending_measured"] = (
            expect(d, "pending_measured", dict, "an object") if "pending_measured" in d else {}
        )
        for k, v in [*kw["measured"].items(), *kw["pending_measured"].items()]:
            if (
                not isinstance(v, dict)
                or not isinstance(v.get("arch"), str)
                or not isinstance(v.get("feasible"), bool)
            ):
                raise ValueError(f"'measured.{k}' must be a measurement object with 'arch' and 'feasible'")
            try:
                Measurement.from_json(v)
                if v.get("cost_s") is not None:
                    expect_number(v["cost_s"], f"measured.{k}.cost_s", minimum=0)
            except (TypeError, ValueError, AttributeError, KeyError) as e:
                raise ValueError(f"'measured.{k}' is not a measurement ({e})") from None
        if any(kw["measured"].get(k, {}).get("feasible") is False for k in kw["keys"]):
            raise ValueError("'measured' rules out an architecture that 'keys' holds as a query")
        kw["done"] = expect(d, "done", bool, "a boolean") if "done" in d else False
        kw["stop_reason"] = expect(d, "stop_reason", str, "a string") if "stop_reason" in d else ""
        for k in ("propose_s", "evaluate_s"):
            kw[k] = float(expect_number(d.get(k, 0.0), k, allow_none=False, minimum=0))
        kw["run_id"] = expect(d, "run_id", str, "a string") if "run_id" in d else ""
        return cls(**kw)


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


# ---------------------------------------------------------------------------------------------------------- methods
@runtime_checkable
class SearchMethod(Protocol):
    """A search strategy the harness drives. Register a class with `register_method`; `get_method` builds it as
    ``cls(domain, oracle, **method_options)``.

    Contract (what makes runs reproducible and resumable):

    * all randomness comes from the ``rng`` passed to `propose`;
    * all memory lives in ``state.method_state`` (JSON-able; architectures as native text, ``domain.space.format``)
      or is a pure cache recomputable from ``state`` (e.g. a surrogate refitted on ``state.archs``/``state.signals``);
    * architectures come from ``domain`` (`Domain.sample`, `Domain.mutate`, `Domain.neighbours`, or a generator
      decoding into ``domain.space`` and checking ``arch in domain``);
    * the oracle is never called by a method: the harness evaluates, counts and charges every query. A method may
      read ``oracle.describe()`` (dataset, signal) and, to plan from a whole table, ``oracle.signal_values()``.

    Attributes:
        name: the registry name.
    """

    name: str

    def propose(self, state: BOState, q: int, rng: np.random.Generator) -> list[Arch]:
        """Up to ``q`` architectures to evaluate next (native objects of ``domain.space``), best first; with cheap
        constraints more may follow as alternates for those a measurement rules out (the harness walks the list and
        stops after ``q`` that are not rejected; candidates already rejected, ``state.rejected_keys``, are better
        left out).

        Known architectures may be proposed again (answered free from the cache). An empty list ends the run.
        A method may set ``state.method_state["phase"]`` to a label (or a list of one label per architecture),
        recorded with each query; and ``state.one_off_cost_s[name] = seconds`` for one-off costs (e.g. training
        its generator), reported on a separate line.
        """
        ...

    def observe(self, state: BOState, archs: Sequence[Arch], evaluations: Sequence[Evaluation]) -> None:
        """Results of the proposed architectures the harness walked (same order; cached and rejected ones included:
        a rejected one has ``Evaluation.rejected`` and no signal); update ``state.method_state``.

        ``state`` already holds the new queries and measurements.
        """
        ...


#: Method name -> ``"module:Class"`` (imported on first use) or a factory ``(domain, oracle, **options)``.
METHODS: dict[str, str | Callable[..., SearchMethod]] = {
    "random": "bo.baselines:RandomSearch",
    "evolution": "bo.baselines:RegularisedEvolution",
    "local": "bo.baselines:LocalSearch",
    "robot": "bo.baselines:RobotMethod",
    "diffusion-bo": "bo.candidates:DiffusionBO",
    "bananas": "bo.candidates:Bananas",
}


#: The resolver behind `get_method` (exact names).
METHOD_REGISTRY: Registry[Callable[..., SearchMethod]] = Registry("method", METHODS)


def register_method(name: str, target: str | Callable[..., SearchMethod]) -> None:
    """Make a method available by name: ``"module:Class"`` or a callable ``(domain, oracle, **options)``."""
    METHOD_REGISTRY.register(name, target)


def method_names() -> list[str]:
    """Registered method names."""
    return METHOD_REGISTRY.names()


def get_method(name: str, domain: Domain, oracle: Oracle, **options: Any) -> SearchMethod:
    """Build the method registered as ``name`` as ``factory(domain, oracle, **options)``, or as
    ``factory(domain, oracle, factory.config_type.from_options(**options))`` where the factory declares a typed
    configuration (``config_type``, a frozen dataclass; e.g. `bo.candidates.DiffusionBO`).

    Raises:
        InvalidChoiceError: unknown ``name`` (field ``method``) or an option the method does not take (``option``).
    """
    target = METHOD_REGISTRY.load(name)
    config_type = getattr(target, "config_type", None)
    if config_type is not None:  # a typed configuration: its options are that dataclass's fields
        return target(domain, oracle, config_type.from_options(**options))
    params = inspect.signature(target).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        accepted = list(params)[2:]  # after (domain, oracle)
        for k in options:
            if k not in accepted:
                raise InvalidChoiceError("option", k, accepted or ["(none)"])
    return target(domain, oracle, **options)


class InitialDesignWarning(UserWarning):
    """The budget does not reach past a method's initial design: the run is (nearly) random search."""


def initial_design(method: SearchMethod) -> tuple[str, int] | None:
    """``(option, size)`` of a method's initial design (random or unguided queries before it starts to learn), if
    it has one: the method's ``initial_design`` attribute, else its ``n_init`` option."""
    design = getattr(method, "initial_design", None)
    if design is None and isinstance(getattr(method, "n_init", None), int):
        design = ("n_init", method.n_init)
    return design


def _warn_initial_design(method: SearchMethod, budget: int) -> None:
    design = initial_design(method)
    if design is not None and budget <= design[1]:
        option, size = design
        warnings.warn(
            f"{method.name}: budget {budget} <= its initial design ({option}={size}): every query is an initial "
            f"(random or unguided) sample, so the method never uses what it learns; lower it (--option {option}={max(budget // 2, 1)}) or raise "
            "the budget",
            InitialDesignWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------------------------------------------------- step
def _rng(state: BOState) -> np.random.Generator:
    rng = np.random.default_rng(state.config.seed)
    if state.rng_state is not None:
        rng.bit_generator.state = copy.deepcopy(state.rng_state)
    return rng


def step(
    state: BOState,
    method: SearchMethod,
    oracle: Oracle,
    domain: Domain,
    executor: Any = None,
    on_evaluation: Callable[[BOState], None] | None = None,
) -> BOState:
    """One round: propose, evaluate the new architectures, record, observe. Returns the next state.

    ``state`` is not modified. ``on_evaluation`` is called with ``state`` plus the step's completed evaluations in
    ``pending`` after each one (what `run_search` saves, so a killed step resumes without re-paying).

    Args:
        state: the current state (not ``done``).
        method: proposes and observes.
        oracle: evaluates.
        domain: the oracle's domain (identity of architectures, membership).
        executor: a `bo.executors.Executor` (default: serial, in this process).
        on_evaluation: progress hook, see above.
    """
    from bo.executors import SerialExecutor

    if state.done:
        return state
    executor = executor if executor is not None else SerialExecutor()
    new = copy.deepcopy(state)
    rng = _rng(new)
    q = min(new.config.q, new.remaining)
    t0 = time.perf_counter()
    archs = list(method.propose(new, q, rng))
    new.propose_s += time.perf_counter() - t0
    if not archs:
        new.rng_state = rng.bit_generator.state
        new.done, new.stop_reason = True, "the method proposed nothing more"
        return new
    phase = new.method_state.get("phase", method.name)
    phases = phase if isinstance(phase, list) else [phase] * len(archs)

    # Walk the proposals in order: known architectures are answered free, new ones first have their cheap constraints
    # settled (measured once, cached in ``measured``): those that break one are rejected (observed, never queried);
    # the walk ends after ``q`` architectures that are not rejected (the rest were alternates).
    cheap = tuple(getattr(oracle, "cheap_constraints", ()) or ())
    known = {k: i for i, k in enumerate(new.keys)}
    keys: list[str] = []
    first: dict[str, int] = {}  # key -> position of its first proposal in this batch (new architectures only)
    taken = 0
    measured_now = False
    step_measured = dict(
        state.pending_measured
    )  # this step's measurements (from the saved state when resumed)
    new.pending_measured = {}
    for j, a in enumerate(archs):
        if a not in domain:
            raise ValueError(
                f"method {method.name!r} proposed {domain.space.format(a)!r}, outside {domain!r}"
            )
        k = domain.key(a)
        keys.append(k)
        if cheap and k not in known and k not in first:
            if k not in new.measured and k not in step_measured:
                m = oracle.measure([a])[0]
                step_measured[k] = {"arch": domain.space.format(a), **m.to_json()}
                measured_now = True
            if not new.measured.get(k, step_measured.get(k))["feasible"]:
                continue
        if k not in known and k not in first:
            first[k] = j
        taken += 1
        if taken >= q:
            break
    archs, phases = archs[: len(keys)], phases[: len(keys)]
    if measured_now and on_evaluation is not None:  # measurements are paid for: saved before any training
        on_evaluation(_replace_pending(state, dict(state.pending), step_measured))
    todo = [j for j in first.values() if keys[j] not in state.pending]
    pending = dict(state.pending)
    results: dict[str, Evaluation] = {k: Evaluation.from_json(v) for k, v in pending.items() if k in first}

    def record(pos: int, ev: Evaluation) -> None:
        k = keys[todo[pos]]
        results[k] = ev
        pending[k] = ev.to_json()
        if on_evaluation is not None:
            on_evaluation(_replace_pending(state, pending, step_measured))

    t0 = time.perf_counter()
    try:
        for pos, ev in executor.imap(oracle, [archs[j] for j in todo]):
            record(pos, ev)
    except KeyboardInterrupt:
        # Ctrl-C / SIGTERM: keep what is paid for. Evaluations that finished but were not consumed yet are
        # recorded, and the pending set is saved once more (the interrupt may have cut the last save short).
        for pos, ev in getattr(executor, "harvest", lambda: [])():
            if keys[todo[pos]] not in results:
                record(pos, ev)
        if on_evaluation is not None and (pending or measured_now):
            on_evaluation(_replace_pending(state, pending, step_measured))
        raise
    new.evaluate_s += time.perf_counter() - t0

    for k, j in first.items():  # queries in proposal order, whatever order evaluations completed in
        ev = results[k]
        new.archs.append(domain.space.format(archs[j]))
        new.keys.append(k)
        new.signals.append(float(ev.signal))
        new.reports.append(dict(ev.report))
        new.costs.append(ev.cost_s)
        new.feasible.append(bool(ev.feasible))
        new.phases.append(str(phases[j]))
        new.steps.append(new.n_steps)
    new.measured.update(step_measured)
    n_rejected = sum(k not in known and k not in first for k in keys)
    new.n_free += len(archs) - len(first) - n_rejected
    new.pending = {}

    def evaluation(k: str) -> Evaluation:
        if k in results:
            return results[k]
        if k in known:
            return new.evaluation(known[k])
        m = Measurement.from_json(new.measured[k])
        return Evaluation(math.nan, dict(m.values), None, False, rejected=True)

    evals = [evaluation(k) for k in keys]
    method.observe(new, archs, evals)
    new.rng_state = rng.bit_generator.state
    new.n_steps += 1
    new.stall = 0 if first else new.stall + 1
    if new.n_queries >= new.config.budget:
        new.done, new.stop_reason = True, "budget spent"
    elif domain.size is not None and new.n_queries + len(new.rejected_keys) >= domain.size:
        new.done, new.stop_reason = (
            True,
            (
                "every architecture of the domain queried or ruled out"
                if new.measured
                else "every architecture of the domain queried"
            ),
        )
    elif new.stall >= new.config.stall_limit:
        new.done, new.stop_reason = True, f"{new.stall} steps in a row brought no new architecture"
    return new


def _replace_pending(
    state: BOState, pending: dict[str, dict[str, Any]], measured: dict[str, dict[str, Any]] | None = None
) -> BOState:
    snap = copy.copy(state)
    snap.pending = dict(pending)
    if measured is not None:
        snap.pending_measured = dict(measured)
    return snap


# ---------------------------------------------------------------------------------------------------------- files
class RunExistsError(NagInputError):
    """``run_dir`` already holds a run (``state.json``) and ``resume`` was not asked for (CLI exit 2)."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(
            f"out: {str(run_dir)!r} already holds a run; resume it (nag search --resume {run_dir}) or pick another "
            "directory"
        )


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, allow_nan=False, default=_json_default) + "\n"


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return _num(float(o))
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def load_config(run_dir: str | Path) -> dict[str, Any]:
    """``config.json`` of a run directory: ``{"config", "reference", "run_id", ...}``, checked.

    Raises:
        RunFileError: the file is missing or damaged (names the file and what is wrong).
    """
    path = Path(run_dir) / "config.json"
    doc = read_json_file(path)
    try:
        RunConfig.from_json(expect(doc, "config", dict, "an object (the run configuration)"))
        if "reference" in doc:
            expect(doc, "reference", dict, "an object")
        if "run_id" in doc:
            expect(doc, "run_id", str, "a string")
    except ValueError as e:
        raise RunFileError(path, str(e)) from None
    return doc


def load_state(run_dir: str | Path) -> BOState:
    """The `BOState` saved in ``run_dir/state.json``, checked field by field.

    Raises:
        RunFileError: ``state.json`` is missing or damaged (names the file and what is wrong).
    """
    path = Path(run_dir) / "state.json"
    doc = read_json_file(path)
    try:
        return BOState.from_json(doc)
    except ValueError as e:
        raise RunFileError(path, str(e)) from None


def load_run(run_dir: str | Path) -> tuple[BOState, dict[str, Any]]:
    """A run's state and ``config.json``, checked to belong together.

    A run stopped after writing ``config.json`` but before its first ``state.json`` (nothing queried yet) comes
    back as a fresh state of that configuration.

    Raises:
        RunFileError: a file is missing or damaged, or ``state.json`` belongs to another run than ``config.json``
            (another run id or another configuration).
    """
    d = Path(run_dir)
    doc = load_config(d)
    run_id = doc.get("run_id", "")
    if not (d / "state.json").exists():
        return BOState(RunConfig.from_json(doc["config"]), run_id=run_id), doc
    state = load_state(d)
    if run_id and state.run_id and run_id != state.run_id:
        raise RunFileError(
            d / "state.json",
            f"belongs to run {state.run_id}, not to run {run_id} of {str(d / 'config.json')!r}; "
            "the files come from different runs",
        )
    if _canon(state.config.to_json()) != _canon(RunConfig.from_json(doc["config"]).to_json()):
        raise RunFileError(
            d / "state.json",
            f"its configuration {_canon(state.config.to_json())} differs from config.json's "
            f"{_canon(doc['config'])}; the files come from different runs",
        )
    return state, doc


def _query_rows(state: BOState) -> list[dict[str, Any]]:
    rows, best, cum = [], state.best_so_far, 0.0
    for i in range(state.n_queries):
        cum += state.costs[i] or 0.0
        row = {
            "query": i + 1,
            "step": state.steps[i],
            "phase": state.phases[i],
            "arch": state.archs[i],
            "signal": _num(state.signals[i]),
            "feasible": state.feasible[i],
            "cost_s": state.costs[i],
            "best_signal": _num(best[i]),
            "cum_cost_s": cum,
        }
        row.update({k: _num(v) for k, v in state.reports[i].items()})
        rows.append(row)
    return rows


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_run(run_dir: str | Path, state: BOState, extra: dict[str, Any] | None = None) -> None:
    """Write ``state.json`` and the query tables of ``run_dir`` (each atomically); ``config.json`` too if ``extra``
    (its other entries, e.g. ``reference``) is given."""
    d = Path(run_dir)
    if extra is not None:
        doc = {"config": state.config.to_json(), "run_id": state.run_id, **extra}
        atomic_write_text(d / "config.json", _dump(doc))
    rows = _query_rows(state)
    report_cols = list(dict.fromkeys(k for r in state.reports for k in r))
    cols = ["query", "step", "phase", "arch", "signal", "feasible", "cost_s", *report_cols]
    atomic_write_text(d / "queries.jsonl", "".join(json.dumps(r, allow_nan=False) + "\n" for r in rows))
    atomic_write_text(d / "queries.csv", _csv(rows, cols))
    best_rows, p, best = [], None, -math.inf
    for i, r in enumerate(rows):
        if state.fitness(i) > best:  # the running pick, in one pass
            p, best = i, state.fitness(i)
        row = {"query": r["query"], "best_signal": r["best_signal"], "cum_cost_s": r["cum_cost_s"]}
        row["pick"] = state.archs[p] if p is not None else ""
        for k in report_cols:
            row[f"pick_{k}"] = _num(state.reports[p].get(k, math.nan)) if p is not None else None
        best_rows.append(row)
    best_cols = ["query", "best_signal", "pick", *(f"pick_{k}" for k in report_cols), "cum_cost_s"]
    atomic_write_text(d / "best_so_far.csv", _csv(best_rows, best_cols))
    if state.measured:
        queried = set(state.keys)
        m_rows, cum = [], 0.0
        for n, (k, m) in enumerate(state.measured.items(), 1):
            cum += m["cost_s"] or 0.0
            row = {"measurement": n, "arch": m["arch"], "feasible": m["feasible"], "queried": k in queried,
                   "cost_s": m["cost_s"], "cum_cost_s": cum}  # fmt: skip
            row.update({c: _num(v) for c, v in m["values"].items()})
            m_rows.append(row)
        value_cols = list(dict.fromkeys(c for m in state.measured.values() for c in m["values"]))
        cols = ["measurement", "arch", "feasible", "queried", "cost_s", "cum_cost_s", *value_cols]
        atomic_write_text(d / "measurements.csv", _csv(m_rows, cols))
    atomic_write_text(d / "state.json", _dump(state.to_json()))


def _save_pending(run_dir: Path, state: BOState) -> None:
    atomic_write_text(run_dir / "state.json", _dump(state.to_json()))


# ---------------------------------------------------------------------------------------------------------- runs
def run_search(
    method: str,
    oracle: Oracle,
    budget: int,
    q: int = 1,
    seed: int = 0,
    run_dir: str | Path | None = None,
    resume: bool = False,
    executor: Any = None,
    method_options: dict[str, Any] | None = None,
    max_stall: int | None = None,
    progress: bool = False,
    callback: Callable[[BOState], None] | None = None,
) -> BOState:
    """Run a search to the end of its budget (or until the method stops), saving ``run_dir`` as it goes.

    Args:
        method: a registered method name (`method_names`).
        oracle: evaluates architectures.
        budget: queries (distinct new architectures).
        q: architectures per step, evaluated concurrently by ``executor``.
        seed: seeds the run.
        run_dir: where to write the run (``None``: in memory only).
        resume: continue the run in ``run_dir`` (its configuration must match these arguments); without it an
            existing run there raises `RunExistsError`.
        executor: a `bo.executors.Executor` (default serial); closed by the caller.
        method_options: keyword options of the method.
        max_stall: see `RunConfig`.
        progress: show a rich progress bar (on stderr).
        callback: called with the state after every step (e.g. to print the new queries).

    Returns:
        The final `BOState`.
    """
    config = RunConfig(
        method=method,
        oracle=oracle.describe(),
        budget=budget,
        q=q,
        seed=seed,
        method_options=dict(method_options or {}),
        max_stall=max_stall,
    )
    if run_dir is None:
        return _drive(BOState(config), oracle, None, executor, progress, callback)
    path = Path(run_dir)
    with RunLock(path):  # before anything is read or written: a second writer is refused here
        if (path / "state.json").exists() or (resume and (path / "config.json").exists()):
            if not resume:
                raise RunExistsError(path)
            state, _ = load_run(path)
            if _canon(state.config.to_json()) != _canon(config.to_json()):
                raise NagInputError(
                    f"resume: the run in {str(path)!r} has configuration {_canon(state.config.to_json())}, "
                    f"not {_canon(config.to_json())}"
                )
        else:
            state = BOState(config, run_id=_new_run_id())
        remove_stale_temps(path)
        return _drive(state, oracle, path, executor, progress, callback)


def resume_search(
    run_dir: str | Path,
    executor: Any = None,
    progress: bool = False,
    callback: Callable[[BOState], None] | None = None,
) -> BOState:
    """Continue the run saved in ``run_dir`` (oracle and method rebuilt from its configuration).

    Takes the run's lock first (`bo.rundir.RunLock`), removes temporary files a killed writer left, and checks that
    ``state.json`` and ``config.json`` belong together (`load_run`).

    Raises:
        RunLockedError: another process is writing the run.
        RunFileError: a run file is missing or damaged, or the files come from different runs.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RunFileError(path, "no such run directory")
    with RunLock(path):
        remove_stale_temps(path)
        state, _ = load_run(path)
        try:
            oracle = build_oracle(state.config.oracle)
        except (TypeError, ValueError, KeyError) as e:
            raise RunFileError(path / "state.json", f"config.oracle cannot be rebuilt ({e})") from None
        return _drive(state, oracle, path, executor, progress, callback, origin=path / "state.json")


def _new_run_id() -> str:
    return os.urandom(8).hex()


def _canon(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True)


def _drive(
    state: BOState,
    oracle: Oracle,
    path: Path | None,
    executor: Any,
    progress: bool,
    callback: Callable[[BOState], None] | None,
    origin: Path | None = None,
) -> BOState:
    domain = oracle.domain()
    try:
        method = get_method(state.config.method, domain, oracle, **state.config.method_options)
    except (TypeError, ValueError) as e:
        if origin is None:  # arguments of this call: the caller's input error
            raise
        raise RunFileError(origin, f"config.method / method_options cannot be rebuilt ({e})") from None
    if state.n_queries == 0:
        _warn_initial_design(method, state.config.budget)
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        if not (path / "config.json").exists() or state.n_steps == 0:
            write_run(path, state, extra={"reference": oracle.reference(), "created": time.time()})
    save = (lambda s: _save_pending(path, s)) if path is not None else None
    bar = _progress(progress, state)
    try:
        while not state.done:
            state = step(state, method, oracle, domain, executor, on_evaluation=save)
            if path is not None:
                write_run(path, state)
            if bar is not None:
                bar[0].update(bar[1], completed=state.n_queries)
            if callback is not None:
                callback(state)
    finally:
        if bar is not None:
            bar[0].stop()
    return state


def _progress(enabled: bool, state: BOState):
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    p = Progress(
        TextColumn(f"{state.config.method}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    p.start()
    task = p.add_task("queries", total=state.config.budget, completed=state.n_queries)
    return p, task
