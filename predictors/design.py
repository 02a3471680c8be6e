"""Design by guided generation: objectives and constraints as text in, architectures with predicted and true values
out — the library behind ``nag generate --maximize / --constraint / --pareto`` (the CLI parses and prints only).

* `parse_request` reads and checks every condition before anything is trained: the target exists for the space,
  the dataset / device exists, and a bound that no architecture of the space can meet (where a table or an exact
  formula gives the reachable range cheaply) is refused.
* `design` builds the predictors (`predictors.objectives.build_target`), guides the sampler with them
  (`nag.guidance.guided_generate`; a Pareto sweep with `nag.guidance.pareto_generate`), re-checks hard constraints on
  the decoded architectures and ranks by the clean predictors. True values are read from the benchmark for the
  report only; they never steer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nag.diffusion.schedules import DEFAULT_SOLVER, DEFAULT_STEPS
from nag.errors import InvalidChoiceError, NagInputError
from nag.guidance import Condition, parse_condition

__all__ = ["DesignRequest", "DesignResult", "parse_request", "check_condition", "reachable_range", "design"]

#: The heads a table spells with an underscore (``latency_edgegpu``) that also read as ``latency:edgegpu``.
_UNDERSCORE_HEADS = ("latency", "energy", "accuracy")


@dataclass(frozen=True)
class DesignRequest:
    """Checked conditions of one design.

    Attributes:
        maximize: objectives (summed for ranking; the first one guides a Pareto sweep).
        constraints: hard constraints (guided towards, then enforced exactly on the predictors' values).
        pareto_cost: the cost swept against ``maximize[0]`` (``--pareto``), or ``None``.
    """

    maximize: tuple[Condition, ...] = ()
    constraints: tuple[Condition, ...] = ()
    pareto_cost: Condition | None = None

    @property
    def empty(self) -> bool:
        return not (self.maximize or self.constraints or self.pareto_cost)


@dataclass
class DesignResult:
    """What `design` returns.

    Attributes:
        archs: the ``K`` architectures (guided: feasible, distinct, best predicted first; Pareto: the non-dominated
            set, best objective first).
        targets: the targets shown per architecture (`predictors.objectives.Target`): objectives, then constraints
            (Pareto: objective, cost).
        predicted: per target, ``K`` clean predictions in its unit, clipped to its valid range (`Target.shown`).
        true: per target, ``K`` true benchmark values, or ``None`` where no table exists.
        pareto: whether this was a Pareto sweep.
        attempts: samples drawn.
        seconds: sampling wall time (predictor training excluded).
        infeasible: decoded candidates rejected by the hard constraints (guided only).
        duplicates: repeats dropped (guided only).
        hypervolume: Pareto only, the hypervolume of the returned set on true values.
        hypervolume_true_front: Pareto only, that of the space's true front (same reference point).
    """

    archs: list[Any]
    targets: list[Any]
    predicted: list[np.ndarray]
    true: list[np.ndarray | None]
    pareto: bool = False
    attempts: int = 0
    seconds: float = 0.0
    infeasible: int = 0
    duplicates: int = 0
    hypervolume: float | None = None
    hypervolume_true_front: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _condition(space, text: str, field_name: str, kind: str) -> Condition:
    """One condition from text; ``latency_edgegpu`` (the table's spelling) reads as ``latency:edgegpu``."""
    from predictors.objectives import guided_spaces, targets_of

    cond = parse_condition(
        text, field_name=field_name, require_bound={"maximize": False, "constraint": True}.get(kind)
    )
    head, sep, tail = cond.target.partition("_")
    if sep and cond.qualifier is None and head in _UNDERSCORE_HEADS:
        cond = Condition(head, tail, cond.op, cond.bound)
    from predictors.local_latency import LOCAL_MODEL_SPACES
    from predictors.objectives import is_local_latency

    if is_local_latency(cond):  # measured on this machine: any space with a local latency model
        if space.name not in LOCAL_MODEL_SPACES:
            raise InvalidChoiceError("space", space.name, LOCAL_MODEL_SPACES)
        if kind != "constraint":
            raise NagInputError(f"{field_name}: {text!r} is a cost; accepted: --constraint latency:local<=MS")
        return cond
    accepted = targets_of(space.name)
    if not accepted:
        raise InvalidChoiceError("space", space.name, guided_spaces())
    if cond.target not in accepted:
        raise InvalidChoiceError("target", cond.target, accepted)
    return cond


def reachable_range(space, cond: Condition) -> tuple[float, float] | None:
    """``(min, max)`` of a condition's true values over the whole space, where a table or an exact formula gives
    them cheaply: a benchmark that labels the whole space (`BenchmarkSpec.exhaustive`: NB201's parameters,
    latencies, energies, accuracies); ``None`` elsewhere."""
    from nag.benchmarks import find_spec, get_benchmark

    spec = find_spec(space.name)
    if spec is None or not spec.exhaustive:
        return None
    bench = get_benchmark(space.name)
    if cond.target == "params":
        v = np.asarray(space.num_params(list(space.enumerate())), dtype=float) / 1e6
    elif cond.target in ("latency", "energy"):
        v = bench.column(spec.default_dataset, f"{cond.target}_{cond.qualifier}")
    elif cond.target == "accuracy" and spec.accuracy_label:
        v = bench.column(bench.resolve_dataset(cond.qualifier or spec.default_dataset), spec.accuracy_label)
    else:
        return None
    return float(np.nanmin(v)), float(np.nanmax(v))


def check_condition(space, cond: Condition, field_name: str, text: str) -> None:
    """Unknown datasets / devices and bounds nothing in the space can meet, refused before any predictor trains.

    Raises:
        InvalidChoiceError: an unknown dataset or device (field ``dataset`` / ``device``), or a latency / energy
            condition without a device (field ``field_name``, listing the accepted spellings).
        NagInputError: a bound outside the space's reachable range (field ``field_name``).
    """
    from nag.benchmarks import get_benchmark
    from predictors.objectives import is_local_latency

    if is_local_latency(cond):  # measured here: no table gives its range
        if cond.bound is not None and not cond.bound > 0:
            raise NagInputError(
                f"{field_name}: {text!r} bounds a latency; accepted: latency:local<=MS with MS > 0"
            )
        return
    if cond.target == "accuracy" and cond.qualifier:
        get_benchmark(space.name).resolve_dataset(cond.qualifier)
    if cond.target in ("latency", "energy"):
        from predictors.latency import latency_metrics

        devices = sorted(
            {m.split("_", 1)[1] for m in latency_metrics("cifar10") if m.startswith(cond.target + "_")}
        )
        if not cond.qualifier:
            raise InvalidChoiceError(field_name, text, [f"{cond.target}:{d}" for d in devices])
        if cond.qualifier not in devices:
            raise InvalidChoiceError("device", cond.qualifier, devices)
    if cond.op is None:
        return
    rng = reachable_range(space, cond)
    if rng is None:
        return
    lo, hi = rng
    if (cond.upper and cond.bound < lo) or (not cond.upper and cond.bound > hi):
        need = f"{cond.name}<=b with b >= {lo:.4g}" if cond.upper else f"{cond.name}>=b with b <= {hi:.4g}"
        raise NagInputError(f"{field_name}: {text!r} cannot be met by any architecture of {space.name} (values "
                            f"{lo:.4g}..{hi:.4g}); accepted: {need}")  # fmt: skip


def parse_request(
    space, maximize: Sequence[str] = (), constraints: Sequence[str] = (), pareto: str = ""
) -> DesignRequest:
    """Every condition of a design read and checked (see `check_condition`), before a model is loaded.

    Args:
        space: the search space.
        maximize: objectives, e.g. ``["accuracy:cifar10"]``.
        constraints: e.g. ``["latency:edgegpu<=3.5", "params<=0.8"]``.
        pareto: ``"OBJECTIVE,COST"`` (e.g. ``"accuracy:cifar10,latency:pixel3"``): sweep the cost's bound and keep
            the non-dominated set; excludes ``maximize``. Needs an enumerable space (the sweep's bounds come from
            the cost over the whole space).

    Raises:
        InvalidChoiceError | NagInputError: naming the field (``maximize``, ``constraint``, ``pareto``, ``target``,
            ``dataset``, ``device``) and what is accepted.
    """
    maximize = list(maximize)
    pareto_cost = None
    if pareto:
        parts = [p.strip() for p in pareto.split(",")]
        if len(parts) != 2 or not all(parts):
            raise NagInputError(f"pareto: {pareto!r} must name two targets; accepted: OBJECTIVE,COST, e.g. "
                                "accuracy:cifar10,latency:pixel3")  # fmt: skip
        if maximize:
            raise NagInputError(f"maximize: {maximize[0]!r} cannot be combined with --pareto, whose first part "
                                "is the objective; accepted: --pareto OBJECTIVE,COST alone")  # fmt: skip
        maximize = [parts[0]]
        pareto_cost = _condition(space, parts[1], "pareto", "maximize")
        check_condition(space, pareto_cost, "pareto", parts[1])
        if not hasattr(space, "enumerate"):
            raise NagInputError(f"pareto: space {space.name!r} has no enumeration to set the sweep's bounds; "
                                "accepted: nb201")  # fmt: skip
    objs = [_condition(space, m, "maximize", "maximize") for m in maximize]
    cons = [_condition(space, c, "constraint", "constraint") for c in constraints]
    for cond, text in zip(objs, maximize, strict=True):
        check_condition(space, cond, "maximize", text)
    for cond, text in zip(cons, constraints, strict=True):
        check_condition(space, cond, "constraint", text)
    return DesignRequest(tuple(objs), tuple(cons), pareto_cost)


def design(
    space,
    model,
    request: DesignRequest,
    n: int,
    *,
    n_train: int = 100,
    guidance_scale: float | None = None,
    constraint_scale: float = 20.0,
    schedule: str = "cosine",
    pool: int = 0,
    seed: int = 0,
    steps: int = DEFAULT_STEPS,
    solver: str = DEFAULT_SOLVER,
    predictors: Sequence[Any] = (),
    progress: Callable[[str], None] | None = None,
    transfer_from: Sequence[str] | str | None = None,
    local_latency: dict[str, Any] | None = None,
) -> DesignResult:
    """``n`` architectures generated for ``request`` (see the module docstring).

    Args:
        space: the search space.
        model: the `nag.diffusion.model.GraphDiffusionModel` of ``space``.
        request: from `parse_request`.
        n: architectures wanted (Pareto: the sweep draws about ``n`` samples and returns the front).
        n_train: labelled architectures the accuracy predictor is trained on (seeded random draw).
        guidance_scale: scale of the objective terms (``None``: each objective's own, `Target.guide_scale`: 3
            for a trained predictor, `predictors.objectives.TRANSFER_GUIDANCE_SCALE` for a transfer prior);
            ``constraint_scale``: of each constraint term.
        schedule: guidance-scale schedule over time (``constant``, ``linear``, ``cosine``).
        pool: distinct feasible candidates collected and re-ranked by the clean predictors (default ``4 n`` with
            an objective, ``n`` without). Measured on NB201 (`experiments/guided_defaults.py`, 6 seeds, n = 100):
            share in the true top 5% 0.72 / 0.75 / 0.76 with pools of 400 / 1,000 / 2,000 (spread 0.05-0.09), best
            94.35 / 94.28 / 94.34, sampling 8 / 20 / 40 s; ranking the whole space with the same predictor gives
            0.75 — the re-ranker, not the pool, is the limit, so the fastest pool is the default.
        seed, steps, solver: the sampler's.
        predictors: fitted accuracy predictors to use instead of training (``nag generate --predictor``, files of
            ``nag train predictor --out``): a noise-aware one guides (and re-ranks at ``t = 0`` unless a clean one is
            given), a clean one re-ranks; each is checked against the objective's space, dataset and target.
        progress: called with a short line before each long step (predictor training, sampling).
        transfer_from: source datasets of the space (``nag generate --transfer-from``): the first accuracy
            objective is a transfer prior (`predictors.objectives.transfer_accuracy_target`) adapted from
            ``n_train >= 0`` target labels instead of a predictor trained on them; ``info["transfer"]`` then says
            which sources were used and what building the prior cost.
        local_latency: how ``latency:local`` is measured (keyword arguments of
            `predictors.objectives.local_latency_target`: ``backend``, ``input_size``, ``module_kwargs``, ...).

    Returns:
        A `DesignResult` with per-architecture predicted and true values.
    """
    from nag.guidance import constraint as constraint_term
    from nag.guidance import (
        guided_generate,
        hypervolume_2d,
        objective,
        pareto_generate,
        pareto_mask,
        scale_schedule,
    )
    from predictors.objectives import build_target

    say = progress or (lambda _msg: None)
    given: dict[str, Any] = {}
    for p in predictors:
        key = "guide_predictor" if getattr(p, "noise_aware", False) else "predictor"
        if key in given:
            raise NagInputError(f"predictor: two {'noise-aware' if key == 'guide_predictor' else 'clean'} "
                                "predictors given; accepted: at most one clean and one noise-aware")  # fmt: skip
        given[key] = p
    sched = scale_schedule(schedule, model.schedule.num_train_timesteps)
    objs = []
    info: dict[str, Any] = {}
    for i, m in enumerate(request.maximize):
        if transfer_from and i == 0 and m.target == "accuracy":
            say(f"{m}: building the transfer prior from {transfer_from} ({n_train} target labels)")
            objs.append(build_target(space, m, model, kind="maximize", transfer_from=transfer_from,
                                     n_train=n_train, seed=seed))  # fmt: skip
            info["transfer"] = objs[-1].info
            continue
        reuse = given if (i == 0 and m.target == "accuracy") else {}
        to_train = [k for k in ("predictor", "guide_predictor") if k not in reuse]
        say(f"{m}: training {' and '.join('the clean' if k == 'predictor' else 'the noise-aware' for k in to_train)}"
            f" predictor ensemble on {n_train} labelled architectures" if to_train and m.target == "accuracy"
            else f"{m}: loading the predictors")  # fmt: skip
        objs.append(build_target(space, m, model, kind="maximize", n_train=n_train, seed=seed, **reuse))
    if given and not any(m.target == "accuracy" for m in request.maximize[:1]):
        raise NagInputError("predictor: a predictor file serves an accuracy objective; accepted: --predictor "
                            "with --maximize accuracy:<dataset> first")  # fmt: skip
    if request.constraints:
        say("fitting the constraints' models")
    cons = [build_target(space, c, model, kind="constraint", seed=seed, **(local_latency or {}))
            for c in request.constraints]  # fmt: skip
    say("sampling with guidance")
    terms = [objective(t.guide, scale=t.guide_scale if guidance_scale is None else guidance_scale, schedule=sched,
                       name=str(t.condition)) for t in objs]  # fmt: skip
    for c in cons:
        width = 0.05 * max(abs(c.condition.bound), 1e-6)
        terms.append(constraint_term(c.guide, c.condition.bound, c.condition.op, width=width, margin=c.margin,
                                     scale=constraint_scale, schedule=sched, name=str(c.condition)))  # fmt: skip

    def feasible(archs):
        ok = np.ones(len(archs), dtype=bool)
        for (
            c
        ) in cons:  # a prediction must clear the bound by the target's margin (0 but for measured targets)
            shift = c.margin if c.condition.upper else -c.margin
            ok &= c.condition.satisfied(c.predict(archs) + shift)
        return ok

    rank = (lambda archs: sum(t.predict(archs) for t in objs)) if objs else None
    if request.pareto_cost is not None:
        cost = build_target(space, request.pareto_cost, model)
        everything = list(space.enumerate())
        bounds = np.quantile(cost.predict(everything), np.linspace(0.02, 0.98, max(3, min(12, n // 5))))

        def evaluate(archs):
            return np.stack([objs[0].predict(archs), cost.predict(archs)], 1)

        res = pareto_generate(model, space, terms[0], cost.guide, bounds, evaluate,
                              n_per_bound=max(1, n // len(bounds)), schedule=sched, cost_scale=constraint_scale,
                              seed=seed, steps=steps, solver=solver)  # fmt: skip
        archs, shown = res.front_archs, [objs[0], cost]
        out = DesignResult(archs, shown, [t.shown(t.predict(archs)) for t in shown],
                           [t.truth(archs) if t.truth else None for t in shown], pareto=True,
                           attempts=res.attempts, seconds=res.seconds, info=info)  # fmt: skip
        if all(v is not None for v in out.true) and all(t.truth for t in shown):
            allv = np.stack([shown[0].truth(everything), shown[1].truth(everything)], 1)
            ref = (float(np.nanmin(allv[:, 0])), float(np.nanmax(allv[:, 1])))
            out.hypervolume = hypervolume_2d(np.stack(out.true, 1), ref)
            out.hypervolume_true_front = hypervolume_2d(allv[pareto_mask(allv, (True, False))], ref)
        return out
    res = guided_generate(model, space, n, terms, feasible=feasible if cons else None, rank=rank,
                          pool=pool or _default_pool(space, n, bool(objs)), seed=seed, steps=steps, solver=solver)  # fmt: skip
    shown = objs + cons
    return DesignResult(res.archs, shown, [t.shown(t.predict(res.archs)) for t in shown],
                        [t.truth(res.archs) if t.truth else None for t in shown], attempts=res.attempts,
                        seconds=res.seconds, infeasible=res.infeasible, duplicates=res.duplicates, info=info)  # fmt: skip


def _default_pool(space, n: int, ranked: bool) -> int:
    """``4 n`` candidates to re-rank with an objective (``n`` without), at most half an enumerable space (a
    larger pool is all of it: the sampler would only repeat itself) and never below ``n``."""
    want = 4 * n if ranked else n
    size = getattr(space, "size", None)
    return max(n, min(want, size // 2)) if size else want
