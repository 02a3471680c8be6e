"""Guidance: steer the diffusion sampler with differentiable objectives and constraints.

Classifier guidance (Dhariwal & Nichol 2021; DiffusionNAG, An et al. ICLR 2024): at every denoising step the sampler
adds ``s(t) * ∇_{x_t} f(x_t, t)`` to the score, where ``f`` is any differentiable function of the noisy graph — an
objective to increase, or a penalty that is zero inside a constraint and grows outside it. Several terms add up, each
with its own scale and scale schedule. After decoding, hard constraints are checked on the discrete architectures
(rejected samples are resampled) and the survivors can be re-ranked by a clean predictor.

This module knows nothing of concrete predictors: it takes callables ``fn(x_t: ArchGraph, t: LongTensor[B]) ->
Tensor[B]`` (on soft graphs: ``X`` continuous ``B x N x V``) and ``feasible(archs) -> bool[K]`` /
``rank(archs) -> float[K]`` on decoded architectures. `predictors.objectives` builds them from text such as
``"latency:edgegpu<=3.5"``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nag.diffusion.sampler import GuidanceTerm, SampleResult, sample_rounds
from nag.errors import InvalidChoiceError
from nag.graph import ArchGraph

__all__ = [
    "Condition",
    "SCHEDULES",
    "parse_condition",
    "CONSTRAINT_FORMS",
    "OPS",
    "scale_schedule",
    "objective",
    "constraint",
    "GuidedResult",
    "guided_generate",
    "pareto_mask",
    "hypervolume_2d",
    "on_denoised",
    "ParetoResult",
    "pareto_generate",
]

GuidanceFn = Callable[[ArchGraph, torch.Tensor], torch.Tensor]

#: Guidance-scale schedules over the diffusion time ``t`` (``T`` = training timesteps): ``constant``; ``linear``
#: (``1 - t/T``: weak while the sample is mostly noise, full near the data); ``cosine`` (``cos(π t / 2T)``).
SCHEDULES: tuple[str, ...] = ("constant", "linear", "cosine")

_COND = re.compile(
    r"^\s*(?P<target>[A-Za-z_][\w\-.]*)(?::(?P<qual>[\w\-.]+))?\s*"
    r"(?:(?P<op><=|>=|<|>)\s*(?P<bound>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))?\s*$"
)
#: Comparison operators of a constraint; ``<``/``>`` are strict where values are compared exactly (tables), and the
#: same as ``<=``/``>=`` for guidance, whose penalties are continuous.
OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "<=": np.less_equal,
    "<": np.less,
    ">=": np.greater_equal,
    ">": np.greater,
}
#: The accepted forms of a constraint, as error messages list them.
CONSTRAINT_FORMS: tuple[str, ...] = (
    "latency:<device><=<ms>",
    "energy:<device><=<mJ>",
    "params<=<millions>",
    "<metric><op><number> with op one of <=, <, >=, >",
)
_CONDITION_FORMS = ("target", "target:qualifier", "target:qualifier<=bound", "target>=bound")


@dataclass(frozen=True)
class Condition:
    """One condition given at sampling time, e.g. ``accuracy:cifar10`` (maximise) or ``latency:edgegpu<=3.5``.

    Attributes:
        target: what the condition is about (``accuracy``, ``latency``, ``params``, ...).
        qualifier: dataset or device (``cifar10``, ``pixel3``), or ``None``.
        op: ``"<="`` or ``">="`` for constraints; ``None`` for objectives.
        bound: the constraint's bound (in the target's unit), or ``None``.
    """

    target: str
    qualifier: str | None = None
    op: str | None = None
    bound: float | None = None

    @property
    def upper(self) -> bool:
        """The bound is an upper bound (``<=`` / ``<``)."""
        return self.op in ("<=", "<")

    @property
    def is_constraint(self) -> bool:
        return self.op is not None

    @property
    def name(self) -> str:
        return self.target + (f":{self.qualifier}" if self.qualifier else "")

    def satisfied(self, values: np.ndarray) -> np.ndarray:
        """``values`` (``K``) meet the constraint (objectives: always true); NaN never does."""
        v = np.asarray(values, dtype=float)
        if self.op is None:
            return np.ones(v.shape, dtype=bool)
        with np.errstate(invalid="ignore"):
            return np.isfinite(v) & OPS[self.op](np.nan_to_num(v, nan=0.0), self.bound)

    def __str__(self) -> str:
        return self.name + (f"{self.op}{self.bound:g}" if self.op else "")


def parse_condition(
    text: str, field_name: str = "constraint", require_bound: bool | None = None
) -> Condition:
    """Parse ``target[:qualifier][op bound]``, op one of ``<=``, ``<``, ``>=``, ``>`` — the one constraint grammar.

    Objectives (``accuracy:cifar10``), guidance constraints and search constraints (``bo.oracles.parse_constraint``)
    all read text through this function.

    Args:
        text: e.g. ``"latency:edgegpu<=3.5"``, ``"params<=0.8"``, ``"accuracy:cifar10"``.
        field_name: the option name used in error messages.
        require_bound: ``True``: a bound is required (a constraint); ``False``: forbidden (an objective).

    Raises:
        InvalidChoiceError: malformed text, naming ``field_name`` and the accepted forms.
    """
    m = _COND.match(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidChoiceError(field_name, text, CONSTRAINT_FORMS if require_bound else _CONDITION_FORMS)
    op = m["op"]
    if require_bound is True and op is None:
        raise InvalidChoiceError(field_name, text, CONSTRAINT_FORMS)
    if require_bound is False and op is not None:
        raise InvalidChoiceError(field_name, text, ("target", "target:qualifier"))
    bound = float(m["bound"]) if m["bound"] is not None else None
    return Condition(target=m["target"].lower(), qualifier=m["qual"], op=op, bound=bound)


def scale_schedule(name: str, num_train_timesteps: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A guidance-scale schedule ``t (B float) -> weight (B)``; ``None`` for ``constant``.

    Raises:
        InvalidChoiceError: unknown ``name``.
    """
    if name not in SCHEDULES:
        raise InvalidChoiceError("schedule", name, SCHEDULES)
    T = float(num_train_timesteps)
    if name == "constant":
        return None
    if name == "linear":
        return lambda t: (1.0 - t / T).clamp(min=0.0)
    return lambda t: torch.cos(0.5 * math.pi * (t / T).clamp(0.0, 1.0))


def objective(
    fn: GuidanceFn,
    *,
    maximize: bool = True,
    scale: float = 1.0,
    schedule: Callable[[torch.Tensor], torch.Tensor] | None = None,
    name: str = "objective",
) -> GuidanceTerm:
    """A term that pushes ``fn`` up (``maximize``) or down.

    ``fn`` should return values of order one (a standardised prediction) so that scales compare across terms.
    """
    sign = 1.0 if maximize else -1.0
    return GuidanceTerm(fn=lambda g, t: sign * fn(g, t), scale=scale, schedule=schedule, name=name)


def constraint(
    fn: GuidanceFn,
    bound: float,
    op: str = "<=",
    *,
    width: float = 1.0,
    margin: float = 0.0,
    scale: float = 1.0,
    schedule: Callable[[torch.Tensor], torch.Tensor] | None = None,
    name: str = "constraint",
) -> GuidanceTerm:
    """A penalty term for ``fn(x) <= bound`` (or ``>=``): ``-width * softplus(violation / width)``.

    The penalty is ~0 well inside the feasible region (so it does not fight the objective there), and its gradient
    tends to ``-∇ fn`` once violated by more than ``width``. ``margin`` (same unit as ``bound``) aims the guidance
    slightly inside the bound, which pays for predictor error.

    Raises:
        InvalidChoiceError: ``op`` not one of `OPS`.
    """
    if op not in OPS:
        raise InvalidChoiceError("op", op, tuple(OPS))
    upper = op in ("<=", "<")
    if width <= 0:
        raise ValueError(f"width: must be > 0, got {width}")
    target = bound - margin if upper else bound + margin

    def penalty(g: ArchGraph, t: torch.Tensor) -> torch.Tensor:
        v = fn(g, t)
        excess = (v - target) if upper else (target - v)
        return -width * F.softplus(excess / width)

    return GuidanceTerm(fn=penalty, scale=scale, schedule=schedule, name=name)


def on_denoised(model, fn: Callable[[ArchGraph], torch.Tensor]) -> GuidanceFn:
    """Guide with a *clean* differentiable function by evaluating it on the denoiser's posterior graph.

    Reconstruction guidance (Chung et al. 2023, "Diffusion posterior sampling"; Bansal et al. 2023, "Universal
    guidance"): ``f(x_t, t) = fn(p(x_0 | x_t))`` where the posterior graph has ``X = p(op | x_t)`` (``B x N x V``,
    rows summing to one on real nodes) and, for generated topologies, ``A = p(edge | x_t)``. The gradient flows
    through the denoiser, so a predictor trained only on clean graphs (a latency table model, a parameter count)
    gives sensible values at every noise level without a noise-aware version.

    Args:
        model: the `GraphDiffusionModel` that samples.
        fn: ``graph -> B`` on clean (or relaxed) graphs, differentiable in ``graph.X`` / ``graph.A``.
    """

    def wrapped(g: ArchGraph, t: torch.Tensor) -> torch.Tensor:
        x_t = 2 * g.X - 1
        a_t = 2 * g.A - 1 if model.generate_edges else None
        logits_x, logits_a = model.posterior(x_t, t, g.mask, a_t)
        probs = torch.softmax(logits_x.masked_fill(~torch.isfinite(logits_x), -1e9), -1)
        if hasattr(
            model, "support"
        ):  # the posterior mean on the space's valid graphs, as the sampler uses it
            probs = model.support(probs)
        probs = probs * g.mask[..., None].to(probs.dtype)
        if logits_a is None:
            A = g.A
        else:
            n = g.A.shape[-1]
            A = torch.sigmoid(logits_a) * torch.ones(n, n, device=g.A.device).triu(1)
        return fn(ArchGraph(X=probs, A=A, mask=g.mask, ops=g.ops))

    return wrapped


@dataclass
class GuidedResult:
    """What `guided_generate` returns.

    Attributes:
        archs: the ``n`` returned architectures (feasible, distinct; best first when ranked).
        scores: ``n`` rank scores (``NaN`` when no ``rank`` was given).
        attempts: samples drawn in total.
        invalid: samples that decoded to no valid architecture.
        duplicates: valid samples dropped as repeats.
        infeasible: valid distinct samples rejected by ``feasible``.
        pool: distinct feasible candidates collected before ranking.
        seconds: wall time.
        rounds: sampling rounds.
    """

    archs: list[Any]
    scores: np.ndarray
    attempts: int = 0
    invalid: int = 0
    duplicates: int = 0
    infeasible: int = 0
    pool: int = 0
    seconds: float = 0.0
    rounds: int = 0
    samples: list[SampleResult] = field(default_factory=list, repr=False)

    @property
    def feasible_share(self) -> float:
        """Share of valid distinct samples that met the hard constraints."""
        seen = self.pool + self.infeasible
        return self.pool / seen if seen else float("nan")


def guided_generate(
    model,
    space,
    n: int,
    terms: Sequence[GuidanceTerm] = (),
    *,
    feasible: Callable[[list], np.ndarray] | None = None,
    rank: Callable[[list], np.ndarray] | None = None,
    pool: int | None = None,
    exclude: Sequence[Any] = (),
    seed: int = 0,
    max_rounds: int = 30,
    batch: int | None = None,
    **sample_kwargs: Any,
) -> GuidedResult:
    """``n`` distinct valid architectures sampled with guidance, hard-constrained and re-ranked.

    Each round draws a batch with `nag.diffusion.sampler.sample` and ``terms`` as guidance; decoded architectures
    that are invalid, already seen (or in ``exclude``), or fail ``feasible`` are rejected; rounds continue until
    ``pool`` (default ``n``) candidates are collected. With ``rank``, the pool is sorted by it (descending) and the
    best ``n`` are returned — guidance proposes, the clean predictor decides.

    Args:
        model: a trained `GraphDiffusionModel`.
        space: the search space to decode into.
        n: architectures to return.
        terms: guidance terms (objectives and constraint penalties).
        feasible: ``archs -> bool[K]``, the hard constraints on decoded architectures (e.g. a latency model).
        rank: ``archs -> float[K]``, higher is better.
        pool: candidates to collect before ranking (``>= n``).
        exclude: architectures not to return (e.g. already queried ones).
        seed: base seed; round ``r`` uses ``seed + 7919 r``.
        max_rounds: give up after this many rounds.
        batch: samples per round (default ``max(2 * pool, 64)`` in the first round, then twice what is missing).
        **sample_kwargs: passed to `sample` (``steps``, ``solver``, ...).

    Raises:
        RuntimeError: fewer than ``n`` feasible distinct architectures after ``max_rounds`` rounds; the message
            gives the counts of invalid, duplicate and infeasible samples.
    """
    pool = max(pool or n, n)
    t0 = time.perf_counter()
    seen: set = set(exclude)
    kept: list[Any] = []
    res = GuidedResult(archs=[], scores=np.array([]))
    rounds = sample_rounds(model, space, lambda: pool - len(kept), lambda r, missing: batch or max(2 * missing, 64),
                           guidance=terms, seed=seed, max_rounds=max_rounds, **sample_kwargs)  # fmt: skip
    for out in rounds:
        res.samples.append(out)
        res.attempts += len(out.archs)
        res.rounds += 1
        fresh = []
        for a in out.archs:
            if a is None:
                res.invalid += 1
            elif a in seen:
                res.duplicates += 1
            else:
                seen.add(a)
                fresh.append(a)
        if fresh and feasible is not None:
            ok = np.asarray(feasible(fresh), dtype=bool)
            res.infeasible += int((~ok).sum())
            fresh = [a for a, f in zip(fresh, ok, strict=True) if f]
        kept.extend(fresh)
    if len(kept) < n:
        from nag.errors import NagRuntimeError

        raise NagRuntimeError(
            f"only {len(kept)} of {n} feasible distinct architectures after {res.attempts} samples "
            f"({res.invalid} invalid, {res.duplicates} repeats, {res.infeasible} infeasible); "
            "loosen the constraints, lower the guidance scale or raise max_rounds"
        )
    res.pool = len(kept)
    if rank is not None:
        scores = np.asarray(rank(kept), dtype=float)
        order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")[:n]
        res.archs, res.scores = [kept[i] for i in order], scores[order]
    else:
        res.archs, res.scores = kept[:n], np.full(n, np.nan)
    res.seconds = time.perf_counter() - t0
    return res


# ---------------------------------------------------------------------------------------------------------- Pareto
def pareto_mask(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """Non-dominated rows of ``values`` (``K x M``; NaN rows are dominated). Duplicated points are all kept.

    Returns:
        ``K`` bool.
    """
    v = np.asarray(values, dtype=float)
    sign = np.where(np.asarray(maximize, dtype=bool), 1.0, -1.0)
    y = v * sign  # all objectives to maximise
    ok = ~np.isnan(y).any(1)
    keep = ok.copy()
    for i in np.flatnonzero(ok):
        others = y[ok]
        dominated = ((others >= y[i]).all(1) & (others > y[i]).any(1)).any()
        keep[i] = not dominated
    return keep


def hypervolume_2d(
    values: np.ndarray, ref: Sequence[float], maximize: Sequence[bool] = (True, False)
) -> float:
    """Area dominated by the points ``values`` (``K x 2``) and bounded by the reference point ``ref``.

    With the default ``maximize=(True, False)`` (e.g. accuracy up, latency down), the area counts points with
    accuracy above ``ref[0]`` and latency below ``ref[1]``. Exact (sweep over the sorted front).
    """
    v = np.asarray(values, dtype=float).reshape(-1, 2)
    sign = np.where(np.asarray(maximize, dtype=bool), 1.0, -1.0)
    y, r = v * sign, np.asarray(ref, dtype=float) * sign
    y = y[~np.isnan(y).any(1)]
    y = y[(y > r).all(1)]
    if len(y) == 0:
        return 0.0
    y = y[pareto_mask(y, (True, True))]
    y = y[np.argsort(-y[:, 0])]  # first objective descending -> second ascending on the front
    area, prev = 0.0, r[1]
    for a, b in y:
        if b > prev:
            area += (a - r[0]) * (b - prev)
            prev = b
    return float(area)


@dataclass
class ParetoResult:
    """What `pareto_generate` returns.

    Attributes:
        archs: every distinct architecture generated over the sweep (``K``).
        values: ``K x 2`` (objective, cost) as given by ``evaluate``.
        front: ``K`` bool, the non-dominated ones (objective up, cost down).
        bounds: the cost bounds swept.
        attempts: samples drawn in total.
        seconds: wall time.
    """

    archs: list[Any]
    values: np.ndarray
    front: np.ndarray
    bounds: list[float]
    attempts: int = 0
    seconds: float = 0.0

    @property
    def front_archs(self) -> list[Any]:
        """The non-dominated architectures, best objective first."""
        idx = np.flatnonzero(self.front)
        idx = idx[np.argsort(-self.values[idx, 0], kind="stable")]
        return [self.archs[i] for i in idx]


def pareto_generate(
    model,
    space,
    objective_term: GuidanceTerm,
    cost_fn: GuidanceFn,
    bounds: Sequence[float],
    evaluate: Callable[[list], np.ndarray],
    *,
    n_per_bound: int = 10,
    pool_per_bound: int | None = None,
    cost_scale: float = 5.0,
    cost_width: float | None = None,
    schedule: Callable[[torch.Tensor], torch.Tensor] | None = None,
    seed: int = 0,
    **sample_kwargs: Any,
) -> ParetoResult:
    """Sweep the objective/cost trade-off: one guided run per cost bound, then the non-dominated set of the union.

    For each ``b`` in ``bounds`` the sampler is guided by ``objective_term`` plus the penalty ``cost <= b``; the
    candidates whose evaluated cost meets ``b`` are ranked by their evaluated objective and the best
    ``n_per_bound`` kept. ``evaluate`` (``archs -> K x 2``: objective to maximise, cost to minimise) is typically the
    clean predictors; the caller measures the front's hypervolume against true values.

    Args:
        bounds: cost bounds, e.g. quantiles of the predicted cost over the space.
        n_per_bound: architectures kept per bound.
        pool_per_bound: candidates generated per bound before ranking (default ``4 * n_per_bound``).
        cost_scale: guidance scale of the cost penalty.
        cost_width: softness of the penalty (default: 5% of the bounds' range, or 5% of the bound).
        schedule: scale schedule of the cost penalty.
    """
    t0 = time.perf_counter()
    bounds = sorted(float(b) for b in bounds)
    spread = (bounds[-1] - bounds[0]) if len(bounds) > 1 else abs(bounds[0])
    width = cost_width or max(0.05 * spread, 1e-6)
    seen: list[Any] = []
    attempts = 0
    for k, b in enumerate(bounds):
        terms = [
            objective_term,
            constraint(cost_fn, b, "<=", width=width, scale=cost_scale, schedule=schedule, name="cost"),
        ]

        def feasible(archs: list, b: float = b) -> np.ndarray:
            return np.asarray(evaluate(archs))[:, 1] <= b

        def rank(archs: list) -> np.ndarray:
            return np.asarray(evaluate(archs))[:, 0]

        try:
            res = guided_generate(
                model, space, n_per_bound, terms, feasible=feasible, rank=rank,
                pool=pool_per_bound or 4 * n_per_bound, exclude=seen, seed=seed + 104729 * k, **sample_kwargs,
            )  # fmt: skip
        except RuntimeError:
            continue  # an unreachable bound contributes nothing; the others still count
        attempts += res.attempts
        seen.extend(res.archs)
    values = np.asarray(evaluate(seen), dtype=float).reshape(-1, 2) if seen else np.zeros((0, 2))
    front = pareto_mask(values, (True, False)) if seen else np.zeros(0, bool)
    return ParetoResult(seen, values, front, bounds, attempts, time.perf_counter() - t0)
