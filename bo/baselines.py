"""Baseline search methods in the `bo.loop` harness (same budgets, cache, cost accounting as every other method).

* `RandomSearch` (``random``) — uniform samples of the domain, skipping architectures already queried.
* `RegularisedEvolution` (``evolution``) — Real et al., "Regularized Evolution for Image Classifier Architecture
  Search", AAAI 2019: aging evolution with tournament selection.
* `LocalSearch` (``local``) — White et al., "Exploring the Loss Landscape in Neural Architecture Search" (UAI 2021;
  arXiv 2005.02960 "Local Search is State of the Art for NAS Benchmarks"): best-improvement hill climbing over
  the one-edit neighbourhood, restarting from a random architecture at local optima.
* `RobotMethod` (``robot``) — `bo.robot.robot_search` (He et al., ICLR 2024) replayed query by query.

Every method keeps its memory in ``state.method_state`` with architectures as native text, so runs resume exactly;
selection compares `BOState.fitness` (the signal if the architecture meets the constraints, else ``-inf``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from bo.loop import BOState
from bo.oracles import BenchmarkOracle, Domain, Evaluation, Oracle
from nag.errors import InvalidChoiceError
from nag.spaces.base import sample_distinct

__all__ = ["RandomSearch", "RegularisedEvolution", "LocalSearch", "RobotMethod", "sample_new"]

Arch = Any


def sample_new(domain: Domain, state: BOState, n: int, rng: np.random.Generator) -> list[Arch]:
    """Up to ``n`` uniformly drawn architectures neither queried yet nor ruled out by a cheap measurement
    (``state.rejected_keys``), and distinct (rejection sampling).

    Fewer come back only when the domain is (nearly) exhausted: after ``200 * n + 1000`` rejected draws.
    """
    seen = [*state.keys, *state.rejected_keys] if state.measured else state.keys
    return sample_distinct(lambda: domain.sample(1, rng), domain.key, n, seen=seen, max_draws=200 * n + 1000)


def _fitness(e: Evaluation) -> float:
    return e.signal if e.feasible and math.isfinite(e.signal) else -math.inf


class RandomSearch:
    """Random search: each step, ``q`` architectures drawn uniformly from the domain among those not queried.

    Drawing i.i.d. and skipping known architectures is sampling without replacement, so every query is new.
    """

    name = "random"

    def __init__(self, domain: Domain, oracle: Oracle) -> None:
        self.domain = domain

    def propose(self, state: BOState, q: int, rng: np.random.Generator) -> list[Arch]:
        state.method_state["phase"] = "random"
        return sample_new(self.domain, state, q, rng)

    def observe(self, state: BOState, archs: Sequence[Arch], evaluations: Sequence[Evaluation]) -> None:
        """Random search learns nothing."""


class RegularisedEvolution:
    """Regularised (aging) evolution, Real et al. 2019 (Algorithm 1).

    ``population_size`` random architectures start the population; then each child is the mutation
    (`Domain.mutate`: one edit, uniform over the neighbours) of the fittest of ``sample_size`` members drawn
    uniformly without replacement, and joins the population while its oldest member dies. With ``q > 1`` the ``q``
    children of a step come from independent tournaments on the same population.

    Defaults (population 10, sample 3) suit budgets of 10..100 queries: the paper's population 100 / sample 25 would
    spend whole budgets on the random initial population. Measured on NAS-Bench-201 (30 seeds, target 12-epoch
    signal), population 20 / sample 5 is as good or slightly better from 50 queries on but is random search up to
    20 (a budget within the initial population is warned about: `bo.loop.InitialDesignWarning`). A child already
    queried is answered free from the cache and still joins the population (the algorithm's
    own dynamics).

    Args:
        domain: where to search.
        oracle: unused (the harness evaluates).
        population_size: ``P``.
        sample_size: ``S`` (``1 <= S <= P``).
    """

    name = "evolution"

    def __init__(
        self, domain: Domain, oracle: Oracle, population_size: int = 10, sample_size: int = 3
    ) -> None:
        if population_size < 1 or not 1 <= sample_size <= population_size:
            raise ValueError(
                f"population_size, sample_size: need 1 <= sample_size <= population_size, got "
                f"{population_size}, {sample_size}"
            )
        self.domain = domain
        self.population_size = population_size
        self.sample_size = sample_size

    @property
    def initial_design(self) -> tuple[str, int]:
        """The random initial population (`bo.loop.initial_design`): a budget within it is random search."""
        return ("population_size", self.population_size)

    def propose(self, state: BOState, q: int, rng: np.random.Generator) -> list[Arch]:
        pop = state.method_state.setdefault("population", [])  # [[arch text, fitness], ...], oldest first
        n_init = self.population_size - len(pop)
        if n_init > 0:
            state.method_state["phase"] = "init"
            return sample_new(self.domain, state, min(q, n_init), rng)
        state.method_state["phase"] = "evolve"
        parse = self.domain.space.parse
        out = []
        for _ in range(q):
            idx = rng.choice(len(pop), size=self.sample_size, replace=False)
            best = max(idx, key=lambda i: (pop[i][1] if pop[i][1] is not None else -math.inf, -i))
            out.append(self.domain.mutate(parse(pop[int(best)][0]), rng))
        return out

    def observe(self, state: BOState, archs: Sequence[Arch], evaluations: Sequence[Evaluation]) -> None:
        pop = state.method_state.setdefault("population", [])
        fmt = self.domain.space.format
        for a, e in zip(archs, evaluations, strict=True):
            if e.rejected:  # ruled out by a cheap measurement before any query: never born
                continue
            f = _fitness(e)
            pop.append([fmt(a), f if f > -math.inf else None])
        del pop[: max(len(pop) - self.population_size, 0)]  # aging: the oldest die


class LocalSearch:
    """Local search (White et al. 2020): best-improvement hill climbing with random restarts.

    1. ``n_init`` random architectures; the best becomes the current point.
    2. Evaluate every neighbour of the current point (`Domain.neighbours`, in a random order; known ones are free).
    3. If the best neighbour beats the current point, it becomes the current point (go to 2); otherwise the current
       point is a local optimum: restart from one new random architecture (go to 2).

    ``n_init = 1`` is the paper's description (start from one random architecture); the default ``n_init = 10`` is
    NASLib's setting for it, and measured better here on NAS-Bench-201 at every budget 20..100 (30 seeds, target
    12-epoch signal; e.g. CIFAR-100 at 50 queries: pick test 71.65 ± 0.93 vs 70.98 ± 1.45 with ``n_init = 1``).
    With a budget of at most ``n_init`` queries local search is random search (the harness warns:
    `bo.loop.InitialDesignWarning`).

    Args:
        domain: where to search.
        oracle: unused.
        n_init: random architectures before the first climb.
    """

    name = "local"

    def __init__(self, domain: Domain, oracle: Oracle, n_init: int = 10) -> None:
        if n_init < 1:
            raise ValueError(f"n_init: must be >= 1, got {n_init}")
        self.domain = domain
        self.n_init = n_init

    def propose(self, state: BOState, q: int, rng: np.random.Generator) -> list[Arch]:
        ms = state.method_state
        ms.setdefault("start", [])  # [[arch text, fitness or None], ...] drawn for the current (re)start
        ms.setdefault("restarts", 0)
        while True:
            if ms.get("current") is None:
                need = (self.n_init if ms["restarts"] == 0 else 1) - len(ms["start"])
                if need > 0:
                    ms["phase"] = "init" if ms["restarts"] == 0 else "restart"
                    return sample_new(self.domain, state, min(q, need), rng)
                text, f = max(ms["start"], key=lambda c: _f(c[1]))
                ms["start"] = []
                self._climb_to(ms, text, f, rng)
            if ms["queue"]:
                ms["phase"] = "climb"
                out, ms["queue"] = ms["queue"][:q], ms["queue"][q:]
                return [self.domain.space.parse(t) for t in out]
            if ms["best_nb"] is not None and _f(ms["best_nb_f"]) > _f(ms["current_f"]):
                self._climb_to(ms, ms["best_nb"], ms["best_nb_f"], rng)
            else:  # every neighbour is evaluated and none is better: a local optimum
                ms["optima"] = [*ms.get("optima", []), [ms["current"], ms["current_f"]]]
                ms["current"] = None
                ms["restarts"] += 1

    def _climb_to(self, ms: dict[str, Any], text: str, f: float | None, rng: np.random.Generator) -> None:
        nb = self.domain.neighbours(self.domain.space.parse(text))
        ms["current"], ms["current_f"] = text, f
        ms["best_nb"], ms["best_nb_f"] = None, None
        ms["queue"] = [self.domain.space.format(nb[int(i)]) for i in rng.permutation(len(nb))]

    def observe(self, state: BOState, archs: Sequence[Arch], evaluations: Sequence[Evaluation]) -> None:
        ms = state.method_state
        fmt = self.domain.space.format
        for a, e in zip(archs, evaluations, strict=True):
            f = _fitness(e)
            rec = [fmt(a), f if f > -math.inf else None]
            if e.rejected and ms["phase"] in ("init", "restart"):  # not a start point; another is drawn
                continue
            if ms["phase"] in ("init", "restart"):
                ms["start"].append(rec)
            elif f > _f(ms["best_nb_f"]):
                ms["best_nb"], ms["best_nb_f"] = rec


def _f(v: float | None) -> float:
    return -math.inf if v is None else v


#: RoBoT's options on a training oracle besides `bo.robot.robot_steps`'s, with their defaults (see `RobotMethod`).
LIVE_ROBOT_OPTIONS: dict[str, Any] = {"pool": 256, "zc_metrics": ""}


def check_live_robot_options(options: dict[str, Any]) -> tuple[int, tuple[str, ...]]:
    """``pool`` (an integer >= 2) and ``zc_metrics`` (registered names, comma-separated or a list; default
    `bo.live_metrics.DEFAULT_LIVE_METRICS`) of a live RoBoT run, checked.

    Raises:
        InvalidChoiceError: naming ``pool`` or ``zc_metrics`` and what is accepted.
    """
    from bo.live_metrics import DEFAULT_LIVE_METRICS
    from predictors.zero_cost import list_metrics

    pool = options.get("pool", LIVE_ROBOT_OPTIONS["pool"])
    if isinstance(pool, bool) or not isinstance(pool, int) or pool < 2:
        raise InvalidChoiceError("pool", pool, ["an integer >= 2"])
    metrics = options.get("zc_metrics") or DEFAULT_LIVE_METRICS
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    bad = [m for m in metrics if m not in list_metrics()]
    if bad or not metrics:
        raise InvalidChoiceError("zc_metrics", ",".join(bad), list_metrics())
    return pool, tuple(metrics)


def _finite(signal: float | None) -> float:
    """A signal RoBoT's GP can take: a failed query (``None`` / NaN) counts as 0 (accuracy of nothing learnt)."""
    return float(signal) if signal is not None and math.isfinite(signal) else 0.0


class RobotMethod:
    """RoBoT (He et al., ICLR 2024; `bo.robot.robot_search`) as a harness method, on a benchmark with a
    training-free metric matrix (`BenchmarkSpec.training_free`, e.g. NAS-Bench-201).

    `robot_search` reads the signal only at the architectures it queries (BO objective = the signal of a weight's
    top-1 architecture; exploitation walks a ranking of training-free metrics), so running it once on the oracle's
    signal table (`Oracle.signal_values`) and replaying its queries in order is the same search as querying online.
    The plan is computed on the first `propose` (seeded by the run's seed, with the run's budget) and kept in
    ``state.method_state``; the harness evaluates, caches and charges every query as for any method. The metric
    tables are precomputed (NAS-Bench-Suite-Zero); their compute time is unknown and reported as such.

    **On the user's task** (a `bo.oracles.TrainingOracle`, ``nag search --data ... --method robot``) no table exists:
    RoBoT runs online (`bo.robot.robot_steps`, one trained query at a time) over a seeded pool of ``pool`` uniform
    samples of the space, whose training-free metrics are computed live on the task's own minibatch
    (`bo.live_metrics.LiveMetrics`; ``zc_metrics``, default `bo.live_metrics.DEFAULT_LIVE_METRICS`) and charged
    their measured seconds (``training_free_metrics_s``). Cheap constraints are measured as RoBoT checks a weight's
    ranking (cached latency), the ruled-out candidates handed to the harness before the query so that it books them.
    The pool, the metric records and the queries are in the run's state: a resumed run replays the coroutine on
    the signals it already has and recomputes nothing.

    Args:
        domain: a space whose benchmark has a training-free metric matrix, or any space of a training oracle.
        oracle: a `BenchmarkOracle` (a table of the signal over the whole space) or a `TrainingOracle`.
        options: keyword options of `bo.robot.robot_search` other than the data, budget and seed (e.g.
            ``normalisation``, ``bo_iters``, ``acq_optimiser``); omitted ones keep `robot_search`'s defaults. On a
            training oracle also ``pool`` (candidates, default 256) and ``zc_metrics`` (comma-separated names).
    """

    name = "robot"
    #: `robot_search` arguments the harness fills in itself.
    _FIXED = ("metrics", "signal", "budget", "seed", "cost", "metric_cost_s", "normalised")

    def __init__(self, domain: Domain, oracle: Oracle, **options: Any) -> None:
        import inspect

        from bo.live_metrics import supports_live_metrics
        from bo.robot import robot_search
        from nag.benchmarks import find_spec, metric_matrix_spaces

        self.live = supports_live_metrics(oracle)
        if self.live:
            self._init_live(domain, oracle, options)
            return
        spec = find_spec(domain.space.name)
        if spec is None or not spec.training_free:  # RoBoT needs a training-free metric matrix
            raise InvalidChoiceError("space", domain.space.name, metric_matrix_spaces())
        if not isinstance(oracle, BenchmarkOracle):
            raise InvalidChoiceError("oracle", type(oracle).__name__, ["BenchmarkOracle"])
        self.transfer_from = options.pop("transfer_from", None)
        if self.transfer_from:
            from predictors.transfer import check_sources

            self.transfer_from = check_sources(domain.space.name, oracle.dataset, self.transfer_from)
        accepted = [p for p in inspect.signature(robot_search).parameters if p not in self._FIXED]
        for k in options:
            if k not in accepted:
                raise InvalidChoiceError("option", k, accepted)
        self.domain = domain
        self.oracle = oracle
        self.options = options

    def _plan(self, state: BOState) -> dict[str, Any]:
        from bo.robot import robot_search

        oracle = self.oracle
        bench = oracle.benchmark
        names = bench.spec.training_free  # the benchmark's names of RoBoT's metrics (the matrix rows)
        sp = self.domain.space
        archs = bench.index_archs(oracle.dataset)  # the order of the matrix's columns and of the signal
        allowed = None
        if oracle.cheap_constraints:  # the harness measures every cell RoBoT checks (the plan lists them)
            from bo.candidates import ConstraintScreen

            screen = ConstraintScreen(oracle.cheap_constraints, sp)

            def allowed(i: int) -> bool | None:
                if screen.rules_out(
                    archs[i]
                ):  # clearly over the bound by the model of the measurements so far
                    return None
                m = oracle.measure([archs[i]])[0]
                screen.add(archs[i], m.values)
                return m.feasible

        extra: dict[str, Any] = {}
        if self.transfer_from:  # the source tasks choose where phase 1 starts (their tables: prior knowledge)
            import time

            from bo.robot import source_weights
            from predictors.transfer import TransferTask

            t0 = time.perf_counter()
            extra["init_weights"] = source_weights(
                [bench.metric_matrix(d, names) for d in self.transfer_from],
                [TransferTask(sp.name, d).values() for d in self.transfer_from],
                seed=state.config.seed,
                normalisation=self.options.get("normalisation", "minmax"),
                failed=self.options.get("failed", "worst"),
            )
            state.one_off_cost_s["transfer_source_weights_s"] = time.perf_counter() - t0
            state.method_state["transfer_from"] = [str(TransferTask(sp.name, d)) for d in self.transfer_from]
        res = robot_search(
            bench.metric_matrix(oracle.dataset, names),
            oracle.signal_values(),
            state.config.budget,
            seed=state.config.seed,
            **({"names": names, "allowed": allowed} | extra | self.options),
        )
        # the queries in order, each preceded by the cells a measurement ruled out before it
        plan, phases = [], []
        rejected = sorted(res.rejected, key=lambda r: r[1])
        r = 0
        for n, q in enumerate(res.queries):
            while r < len(rejected) and rejected[r][1] <= n:
                plan.append(sp.format(archs[rejected[r][0]]))
                phases.append("rejected")
                r += 1
            plan.append(sp.format(archs[q.index]))
            phases.append(q.phase)
        return {
            "plan": plan,
            "plan_phases": phases,
            "pos": 0,
            "t0": res.t0,
            "best_weights": res.best_weights.tolist(),
        }

    def propose(self, state: BOState, q: int, rng: np.random.Generator) -> list[Arch]:
        if self.live:  # one query at a time: RoBoT's next weight needs the last signal
            return self._propose_live(state)
        ms = state.method_state
        if "plan" not in ms:
            ms.update(self._plan(state))
            state.one_off_cost_s["training-free metrics (precomputed tables)"] = None
        i = ms["pos"]
        # enough of the plan for ``q`` queries: the cells ruled out on the way are measured and rejected
        end, n = i, 0
        while end < len(ms["plan"]) and n < q:
            n += ms["plan_phases"][end] != "rejected"
            end += 1
        texts = ms["plan"][i:end]
        ms["phase"] = ms["plan_phases"][i:end]
        return [self.domain.space.parse(t) for t in texts]

    def observe(self, state: BOState, archs: Sequence[Arch], evaluations: Sequence[Evaluation]) -> None:
        """The plan is fixed; it moves on by the architectures the harness walked. Live: the query's signal goes
        to the coroutine, which answers with the next architecture."""
        if self.live:
            self._observe_live(state, archs, evaluations)
            return
        state.method_state["pos"] += len(archs)

    # ------------------------------------------------------------------ live (a training oracle)
    def _init_live(self, domain: Domain, oracle: Oracle, options: dict[str, Any]) -> None:
        import inspect

        from bo.robot import robot_steps

        if options.pop("transfer_from", None):
            raise InvalidChoiceError("transfer_from", "with a training oracle", ["a benchmark oracle"])
        pool, metrics = check_live_robot_options(options)
        options.pop("pool", None)
        options.pop("zc_metrics", None)
        fixed = ("metrics", "budget", "seed", "normalised", "names", "allowed", "init_weights")
        accepted = [p for p in inspect.signature(robot_steps).parameters if p not in fixed]
        for k in options:
            if k not in accepted:
                raise InvalidChoiceError("option", k, [*accepted, "pool", "zc_metrics"])
        self.domain, self.oracle, self.options = domain, oracle, options
        self.pool_size, self.zc_metrics = pool, tuple(metrics)
        self._steps: Any = None  # the coroutine, rebuilt from the state in a new process
        self._next: tuple[int, str] | None = None
        self._archs: list[Arch] = []
        self._ruled_out: list[Arch] = []
        self._result: Any = None  # the coroutine's `RobotResult`, once it has ended

    def _start_live(self, state: BOState) -> None:
        """Pool, live metrics and the coroutine; a resumed run's queries are replayed into it."""
        from bo.live_metrics import LiveMetrics
        from bo.robot import robot_steps

        ms, sp = state.method_state, self.domain.space
        if "pool" not in ms:
            drawn = self.domain.sample(4 * self.pool_size, np.random.default_rng(state.config.seed))
            texts = list(dict.fromkeys(sp.format(a) for a in drawn))[: self.pool_size]
            ms["pool"] = texts
        self._archs = [sp.parse(t) for t in ms["pool"]]
        live = LiveMetrics(self.oracle, self.zc_metrics)
        live.load(ms.get("zc_live"))
        live.ensure(self._archs)
        ms["zc_live"] = live.dump()
        state.one_off_cost_s["training_free_metrics_s"] = live.seconds(self._archs)
        metrics = live.values(self._archs).T  # M x K
        allowed = None
        if self.oracle.cheap_constraints:
            from bo.candidates import ConstraintScreen

            screen = ConstraintScreen(self.oracle.cheap_constraints, sp)

            def allowed(i: int) -> bool | None:
                a = self._archs[i]
                if screen.rules_out(a):
                    return None
                m = self.oracle.measure([a])[0]
                screen.add(a, m.values)
                if not m.feasible:
                    self._ruled_out.append(a)
                return m.feasible

        self._steps = robot_steps(metrics, state.config.budget, seed=state.config.seed,
                                  names=self.zc_metrics, allowed=allowed, **self.options)  # fmt: skip
        self._advance(None)
        known = {t: s for t, s in zip(state.archs, state.signals, strict=True)}
        while self._next is not None and ms["pool"][self._next[0]] in known:  # resume: replay
            self._advance(_finite(known[ms["pool"][self._next[0]]]))
        rejected = set(state.rejected_archs)
        self._ruled_out = [a for a in self._ruled_out if sp.format(a) not in rejected]

    def _advance(self, signal: float | None) -> None:
        try:
            self._next = next(self._steps) if signal is None else self._steps.send(signal)
        except StopIteration as stop:
            self._next = None
            self._result = stop.value

    def _propose_live(self, state: BOState) -> list[Arch]:
        if self._steps is None:
            self._start_live(state)
        if self._next is None:
            state.method_state["phase"] = []
            return []
        i, phase = self._next
        out = [*self._ruled_out, self._archs[i]]
        state.method_state["phase"] = ["rejected"] * len(self._ruled_out) + [phase]
        self._ruled_out = []
        return out

    def _observe_live(self, state: BOState, archs: Sequence[Arch], evaluations: Sequence[Evaluation]) -> None:
        if self._next is None:
            return
        want = state.method_state["pool"][self._next[0]]
        sp = self.domain.space
        for a, ev in zip(archs, evaluations, strict=True):
            if sp.format(a) == want:
                self._advance(_finite(ev.signal))
                if self._next is None and self._result is not None:
                    state.method_state["best_weights"] = self._result.best_weights.tolist()
                return
