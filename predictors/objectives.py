"""Targets for guided generation: which predictor serves ``accuracy:<dataset>``, ``latency:<device>``, ``params``.

A `Target` bundles, for one condition given at sampling time (`nag.guidance.Condition`):

* ``guide`` — a differentiable ``fn(x_t, t) -> B`` for the sampler (a noise-aware accuracy predictor trained with the
  sampler's own noise schedule, or a clean model evaluated on the denoiser's posterior graph,
  `nag.guidance.on_denoised`);
* ``predict`` — clean predictions on decoded architectures (re-ranking, hard constraints), in the target's unit;
* ``truth`` — the benchmark's true values where a table exists (reports only; never used to steer).

`build_target` parses the text; the accuracy predictor is trained here on ``n_train`` labelled architectures drawn at
random (seeded) unless one is given. With ``transfer_from`` (``nag generate --transfer-from``) the accuracy target is
a transfer prior (`transfer_accuracy_target`) built from other datasets' tables and adapted from ``n_train >= 0``
labels of the target.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nag.errors import InvalidChoiceError
from nag.guidance import Condition, GuidanceFn, on_denoised, parse_condition

__all__ = [
    "Target",
    "targets_of",
    "guided_spaces",
    "build_target",
    "accuracy_target",
    "transfer_accuracy_target",
    "latency_target",
    "local_latency_target",
    "is_local_latency",
    "params_target",
    "check_predictor_task",
]


def targets_of(space_name: str) -> tuple[str, ...]:
    """Targets a condition may name on ``space_name`` (its benchmark's `BenchmarkSpec.targets`; empty without)."""
    from nag.benchmarks import find_spec

    spec = find_spec(space_name)
    return spec.targets if spec is not None else ()


def guided_spaces() -> list[str]:
    """Spaces whose benchmark names guidance targets."""
    from nag.benchmarks import benchmark_spaces

    return benchmark_spaces(targets=bool)


def __getattr__(name: str) -> Any:
    # ``TARGETS``: a view of the benchmark specs under its former name (space -> targets, spaces with targets only)
    if name == "TARGETS":
        return {sp: targets_of(sp) for sp in guided_spaces()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Target:
    """One objective or constraint with its predictors.

    Attributes:
        condition: what was asked.
        guide: differentiable ``(x_t, t) -> B`` for `nag.guidance.objective` / `nag.guidance.constraint`, in
            ``guide_unit`` (``"standardised"`` for accuracy, the target's unit otherwise).
        predict: ``archs -> K`` clean predictions in ``unit``.
        truth: ``archs -> K`` true benchmark values (``None`` without a table).
        unit: unit of ``predict``/``truth``/bounds.
        guide_unit: unit of ``guide`` values (constraints need it equal to ``unit``).
        info: how the predictor was obtained (training set size, seconds, held-out accuracy).
        valid: the range a true value can take (an accuracy 0..100 %, a latency >= 0): predictions are shown
            clipped to it (`shown`), never used clipped (ranking needs the model's full order).
        calibration: maps `predict`'s values into the labels' scale for display (accuracy: isotonic regression of
            the training labels on the predictions; a ranking-trained ensemble's raw outputs overshoot at the top).
        margin: for a constraint, how far inside the bound the guidance aims and the predicted value must lie (in
            ``unit``; a measured target's model error: `local_latency_target`).
        guide_scale: the objective term's scale where the caller gives none (`predictors.design.design`): 3 for a
            trained predictor, `TRANSFER_GUIDANCE_SCALE` for a transfer prior.
    """

    condition: Condition
    guide: GuidanceFn
    predict: Callable[[Sequence[Any]], np.ndarray]
    truth: Callable[[Sequence[Any]], np.ndarray] | None
    unit: str
    guide_unit: str
    info: dict[str, Any] = field(default_factory=dict)
    valid: tuple[float, float] = (-np.inf, np.inf)
    calibration: Callable[[np.ndarray], np.ndarray] | None = None
    margin: float = 0.0
    guide_scale: float = 3.0

    def shown(self, values: np.ndarray) -> np.ndarray:
        """``values`` (``K`` predictions of `predict`) for display: through `calibration` where the target has one
        (a monotone map onto the labelled architectures' values), then clipped to the `valid` range."""
        v = np.asarray(values, dtype=float)
        if self.calibration is not None:
            v = self.calibration(v)
        return np.clip(v, *self.valid)


def _check_space(space, target: str) -> None:
    accepted = targets_of(space.name)
    if not accepted:
        raise InvalidChoiceError("space", space.name, guided_spaces())
    if target not in accepted:
        raise InvalidChoiceError("target", target, accepted)


def _table_truth(space, dataset: str, metric: str) -> Callable[[Sequence[Any]], np.ndarray]:
    """True values from a whole-space column (a benchmark indexed by the space: `BenchmarkSpec.index`)."""
    from nag.benchmarks import get_benchmark

    col = get_benchmark(space.name).column(dataset, metric)
    return lambda archs: col[[space.index(a) for a in archs]]


def accuracy_target(
    space,
    condition: Condition,
    diffusion,
    *,
    predictor=None,
    guide_predictor=None,
    n_train: int = 100,
    seed: int = 0,
    guide: str = "noise-aware",
    kappa: float = 0.0,
    zc_features: bool = True,
) -> Target:
    """``accuracy:<dataset>``: ensemble accuracy predictors trained on ``n_train`` random labelled architectures.

    Args:
        space: the NB201 or NAS-Bench-Graph space (NAS-Bench-Graph: the test performance, generated topologies).
        condition: e.g. ``accuracy:cifar10`` or ``accuracy:cora`` (default dataset: CIFAR-10 / Cora).
        diffusion: the `GraphDiffusionModel` that samples (its schedule trains / checks the noise-aware predictor).
        predictor: a fitted clean `EnsemblePredictor` for re-ranking (trained here when ``None``).
        guide_predictor: a fitted noise-aware `EnsemblePredictor` (trained here when ``None`` and
            ``guide == "noise-aware"``).
        n_train: labelled architectures (200-epoch test accuracy of the dataset, drawn uniformly, seeded).
        seed: draws the training set and seeds the predictors.
        guide: ``"noise-aware"`` (a predictor of ``(x_t, t)``, DiffusionNAG's choice) or ``"denoised"`` (the clean
            predictor on the denoiser's posterior graph).
        kappa: optimism: guide with mean + ``kappa`` · ensemble spread.
        zc_features: give the clean re-ranking predictor the benchmark's training-free metrics as extra inputs
            (`predictors.api.load_pool`); guidance always uses graph-only predictors.
    """
    from nag.benchmarks import get_benchmark
    from predictors.accuracy import AccuracyPredictorConfig, EnsemblePredictor
    from predictors.api import load_pool

    if guide not in ("noise-aware", "denoised"):
        raise InvalidChoiceError("guide", guide, ("noise-aware", "denoised"))
    bench = get_benchmark(space.name)
    label = bench.spec.accuracy_label
    dataset = bench.resolve_dataset(condition.qualifier or bench.spec.default_dataset)
    info: dict[str, Any] = {"dataset": dataset, "n_train": n_train, "label": label}
    t0 = time.perf_counter()
    # the re-ranker sees the training-free metrics too (they exist for every decoded cell); guidance cannot
    zc = zc_features and bool(bench.training_free_features(dataset))
    pool = load_pool(space.name, label, dataset, features="zc" if zc else "none")
    # a table row per cell string (NB201: isomorphic cells were trained separately) or per isomorphism class
    # (NAS-Bench-Graph): the benchmark's identity rule
    key = space.format if bench.spec.key == "format" else space.canonical
    row_of = {key(a): i for i, a in enumerate(pool.archs)}

    def truth(archs: Sequence[Any]) -> np.ndarray:
        rows = [row_of.get(key(a)) for a in archs]
        return np.array([np.nan if r is None else pool.y[r] for r in rows], dtype=float)

    for given in (predictor, guide_predictor):
        if given is not None:
            check_predictor_task(given, space, label, dataset)
    if predictor is None and guide_predictor is not None and guide == "noise-aware":
        predictor = guide_predictor  # a noise-aware predictor at t = 0 re-ranks too: nothing is trained
        info["reranker"] = "the given noise-aware predictor at t = 0"
    rows = np.random.default_rng(seed).choice(len(pool), n_train, replace=False)
    g, yt, feats = pool.subset(rows)
    if predictor is not None and predictor.cfg.feature_names and not zc:
        raise InvalidChoiceError("predictor", "a predictor with training-free features",
                                 [f"a graph-only predictor ({space.name} has no training-free metric table)"])  # fmt: skip
    if (
        predictor is not None
        and predictor.cfg.feature_names
        and tuple(predictor.cfg.feature_names) != tuple(pool.feature_names)
    ):
        raise InvalidChoiceError(
            "predictor", ",".join(predictor.cfg.feature_names), [",".join(pool.feature_names)]
        )
    if predictor is None:
        predictor = EnsemblePredictor(
            AccuracyPredictorConfig(ops=g.ops, feature_names=pool.feature_names, seed=seed)
        )
        info["clean_fit"] = predictor.fit(g, yt, features=feats)
    if guide == "noise-aware" and guide_predictor is None:
        guide_predictor = EnsemblePredictor(AccuracyPredictorConfig(ops=g.ops, noise_aware=True, seed=seed))
        info["noise_aware_fit"] = guide_predictor.fit(g, yt, diffusion=diffusion)
    graph_only = predictor
    if guide == "denoised" and predictor.cfg.feature_names:
        graph_only = EnsemblePredictor(AccuracyPredictorConfig(ops=g.ops, seed=seed))
        info["graph_only_fit"] = graph_only.fit(g, yt)
    info["train_seconds"] = time.perf_counter() - t0
    if guide == "noise-aware":
        fn = guide_predictor.as_guidance(diffusion, kappa=kappa)
    else:
        clean = graph_only.as_objective(kappa=kappa)
        fn = on_denoised(diffusion, lambda g: clean(g))

    def predict(archs: Sequence[Any]) -> np.ndarray:
        archs = list(archs)
        f = None
        if predictor.cfg.feature_names:
            f = pool.features[[row_of[key(a)] for a in archs]]
        return predictor.predict(space.encode(archs), features=f).mean.numpy().astype(float)

    # percentages, or fractions (NAS-Bench-Graph's performance)
    top = 100.0 if np.nanmax(pool.y) > 1.0 else 1.0
    target = Target(
        condition, fn, predict, truth, "%" if top == 100.0 else "", "standardised", info, (0.0, top)
    )
    target.calibration = _isotonic([pool.archs[i] for i in rows], np.asarray(yt, dtype=float), predict)
    return target


#: Guidance scale of a transfer prior's objective term (``nag generate --transfer-from`` without
#: ``--guidance-scale``). Its re-ranker is the sources' exact values, so the sampler can be pushed harder than with a
#: trained predictor: NB201 leave-one-dataset-out (``experiments/transfer_nb201.py --part generate``, 5 seeds, n =
#: 100, pool 400), share in the target's true top 5% at k = 0 / 5 labels, ImageNet16-120: 0.66 / — at scale 3,
#: 0.92 / 0.90 at 10, 0.95 / 0.92 at 20, 0.94 / 0.94 at 30 (2-3x the sampling time); CIFAR-10 / CIFAR-100 >= 0.99
#: from 10 on.
TRANSFER_GUIDANCE_SCALE = 20.0


def transfer_accuracy_target(
    space,
    condition: Condition,
    diffusion,
    *,
    transfer_from: Sequence[str] | str,
    n_train: int = 0,
    seed: int = 0,
    kappa: float = 0.0,
    prior: str | None = None,
) -> Target:
    """``accuracy:<dataset>`` from a transfer prior (`predictors.transfer`): the sources' tables, adapted from
    ``n_train >= 0`` labelled architectures of the target (``0``: the prior alone).

    The guide is the prior's mean (+ ``kappa`` sd), standardised by the sources' typical spread, on the denoiser's
    posterior graph (`nag.guidance.on_denoised`; the prior's graph path uses each source's ridge model on the graph
    features, differentiable); the re-ranker is the prior's mean at decoded cells (the sources' exact values there).
    The target's labels are its search signal (`predictors.transfer.source_metric`, the sources' metric; NB201:
    12-epoch validation accuracy), drawn uniformly (seeded); the target's table is otherwise read for the reported
    true values (NB201: 200-epoch test accuracy) only.

    Raises:
        InvalidChoiceError: (field ``transfer_from``) a bad source (`predictors.transfer.check_sources`).
    """
    import torch

    from nag.benchmarks import get_benchmark
    from predictors.transfer import DEFAULT_PRIOR, build_prior, source_metric

    bench = get_benchmark(space.name)
    label = bench.spec.accuracy_label
    dataset = bench.resolve_dataset(condition.qualifier or bench.spec.default_dataset)
    t0 = time.perf_counter()
    tp = build_prior(space.name, transfer_from, dataset, prior or DEFAULT_PRIOR)
    # the labels are the target's search signal, the sources' metric: 5 random 200-epoch test accuracies moved the
    # prior's graph part and broke its top ranking in 3 of 12 NB201 draws (top-5% share 0.0-0.2)
    signal = source_metric(space.name)
    col = np.asarray(bench.column(dataset, signal), dtype=np.float64)
    idx = np.zeros(0, dtype=np.int64)
    if n_train:
        ok = np.flatnonzero(np.isfinite(col))
        idx = np.sort(np.random.default_rng(seed).choice(ok, n_train, replace=False))
    tp.fit_indices(idx, col[idx])
    info: dict[str, Any] = {
        "dataset": dataset,
        "n_train": n_train,
        "label": signal,
        **tp.describe(),
        "train_seconds": time.perf_counter() - t0,
    }
    mean0, var0 = tp.posterior_indices(None)
    mu, sd = float(np.mean(mean0)), float(np.std(mean0)) or 1.0

    def clean(g) -> torch.Tensor:
        m, v = tp.posterior_graph(g.X, g.A, g.mask)
        out = (m - mu) / sd + (kappa * v.sqrt() / sd if kappa else 0.0)
        return out.to(g.X.dtype)

    def predict(archs: Sequence[Any]) -> np.ndarray:
        m, _ = tp.posterior_indices(np.array([space.index(a) for a in archs], dtype=np.int64))
        return np.asarray(m, dtype=float)

    top = 100.0 if np.nanmax(col) > 1.0 else 1.0
    return Target(condition, on_denoised(diffusion, clean), predict, _table_truth(space, dataset, label),
                  "%" if top == 100.0 else "", "standardised", info, (0.0, top),
                  guide_scale=TRANSFER_GUIDANCE_SCALE)  # fmt: skip


def _isotonic(archs: Sequence[Any], y: np.ndarray, predict) -> Callable[[np.ndarray], np.ndarray]:
    """Monotone map from ``predict``'s values to the scale of ``y`` (``B`` labels of ``archs``): the isotonic
    regression of ``y`` on the predictions, interpolated between them and held at the ends."""
    from scipy.optimize import isotonic_regression

    p = np.asarray(predict(archs), dtype=float)
    order = np.argsort(p, kind="stable")
    fitted = isotonic_regression(y[order]).x
    xs = p[order]
    return lambda v: np.interp(np.asarray(v, dtype=float), xs, fitted)


def check_predictor_task(predictor, space, label: str, dataset: str) -> None:
    """Refuse a given accuracy predictor that was trained for another space, dataset or target.

    The task recorded by `predictors.api.train_predictor` (``metrics["task"]``) must match; a file without one must
    at least share the space's operation vocabulary.

    Raises:
        InvalidChoiceError: field ``predictor``, naming what the file predicts and what is needed.
    """
    task = getattr(predictor, "metrics", {}).get("task")
    want = {"space": space.name, "dataset": dataset, "target": label}
    if task is not None:
        got = {k: task.get(k) for k in want}
        if got != want:
            raise InvalidChoiceError("predictor", f"a predictor of {got}", [f"a predictor of {want}"])
    elif tuple(predictor.cfg.ops) != tuple(space.ops):
        raise InvalidChoiceError("predictor", f"a predictor of the operations {list(predictor.cfg.ops)}",
                                 [f"a {space.name} predictor (operations {list(space.ops)})"])  # fmt: skip


def latency_target(space, condition: Condition, diffusion, *, dataset: str = "cifar10") -> Target:
    """``latency:<device>`` / ``energy:<device>`` on NB201: a table-fitted model (`predictors.latency.fit_device`)
    guiding through the denoiser's posterior graph (values in ms / mJ at every noise level)."""
    from predictors.latency import fit_device, latency_metrics

    if not condition.qualifier:
        raise InvalidChoiceError(
            "constraint", str(condition), [m.replace("_", ":", 1) for m in latency_metrics(dataset)]
        )
    metric = f"{condition.target}_{condition.qualifier}"
    accepted = latency_metrics(dataset)
    if metric not in accepted:
        raise InvalidChoiceError(
            "device", condition.qualifier, sorted({m.split("_", 1)[1] for m in accepted})
        )
    t0 = time.perf_counter()
    model = fit_device(metric, dataset)
    info = {"metric": metric, "dataset": dataset, "fit_seconds": time.perf_counter() - t0, **model.metrics}
    fn = on_denoised(diffusion, lambda g: model(g.X.double()).to(g.X.dtype))
    unit = "mJ" if condition.target == "energy" else "ms"
    return Target(
        condition,
        fn,
        lambda archs: model.predict_archs(list(archs)),
        _table_truth(space, dataset, metric),
        unit,
        unit,
        info,
        (0.0, np.inf),
    )


#: The qualifier of a latency measured on this machine (``latency:local<=4``).
LOCAL = "local"


def is_local_latency(condition: Condition) -> bool:
    """Whether ``condition`` is ``latency:local`` (this machine, measured; `local_latency_target`)."""
    return condition.target == "latency" and condition.qualifier == LOCAL


def local_latency_target(
    space,
    condition: Condition,
    diffusion,
    *,
    backend: str = "torch",
    input_size: int = 32,
    num_classes: int = 10,
    threads: int = 1,
    module_kwargs: dict[str, Any] | None = None,
    n_measure: int = 10,
    seed: int = 0,
    cache: Any = None,
) -> Target:
    """``latency:local`` on NB201 or MobileNetV3: this machine's latency (ms, batch 1, `predictors.measure`).

    The space's local latency model (`predictors.local_latency.local_latency_model`: NB201's meta-learned device
    prior, MobileNetV3's per-block table with its three calibration networks) is fitted on ``n_measure`` networks
    measured here (NB201: the prior's reference cells; MobileNetV3: seeded samples of the space) and guides through
    the denoiser's posterior graph; ``truth`` *measures* each generated network (cached per architecture and
    setting in ``~/.cache/nag/latency_local.json``), so a report's feasibility is measured, not predicted.

    Args:
        input_size: height and width of the input image (3 channels). ``module_kwargs``: options of the space's
            network builder (e.g. ``{"width_mult": 0.5}``); ``num_classes``: the classifier's outputs.
        backend / threads: how latency is measured (`predictors.measure.BACKENDS`).
        n_measure: networks measured to fit the model (>= 2).
    """
    from predictors.local_latency import NB201LocalLatency, local_latency_model
    from predictors.measure import LatencyCache

    if n_measure < 2:
        raise InvalidChoiceError("n_measure", n_measure, ["an integer >= 2"])
    t0 = time.perf_counter()
    if cache is None:
        cache = LatencyCache(LatencyCache.default_path())
    kw = dict(backend=backend, input_size=(3, input_size, input_size), num_classes=num_classes, threads=threads,
              module_kwargs=dict(module_kwargs or {}) or None)  # fmt: skip
    model = local_latency_model(space.name, cache=cache, **kw)

    def measure(archs: Sequence[Any]) -> np.ndarray:
        return np.array([cache.measure(space, a, **kw).ms for a in archs], dtype=np.float64)

    # first fit: NB201's prior on its reference cells, MobileNetV3's table on its calibration networks; then half
    # the measurements go where the answer is decided: networks generated towards the bound by that first model
    # (a line fitted on random networks is off in the tail the bound picks)
    archs = model.reference_archs(max(2, n_measure // 2)) if isinstance(model, NB201LocalLatency) else []
    if archs:
        model.fit({space.format(a): float(v) for a, v in zip(archs, measure(archs), strict=True)})
    if condition.bound is not None and diffusion is not None:
        from nag.diffusion.sampler import sample
        from nag.guidance import constraint

        term = constraint(
            model.guide(diffusion, per=condition.bound), 1.0, condition.op, width=0.05, scale=100.0
        )
        pilot = sample(diffusion, space, n_measure - len(archs), guidance=[term], seed=seed)
        seen = set(archs)
        archs += [a for a in pilot.archs if a is not None and a not in seen and not seen.add(a)]
    if len(archs) < n_measure:
        archs += [a for a in space.sample(n_measure, seed=seed) if a not in set(archs)][
            : n_measure - len(archs)
        ]
    y = measure(archs)
    model.fit({space.format(a): float(v) for a, v in zip(archs, y, strict=True)})
    # the model's relative error on what it was fitted to (robust spread), at least 3%: the guidance aims that far
    # inside the bound and a prediction must clear it, so that what the model gets wrong still measures feasible
    sigma = model.relative_error(archs, y)
    margin = float(abs(condition.bound) * (1 - np.exp(-sigma))) if condition.bound is not None else 0.0
    info = {"metric": "latency_local", "backend": backend, "threads": threads, "input_size": input_size,
            "module_kwargs": dict(module_kwargs or {}), "measured_to_fit": n_measure, "relative_error": sigma,
            "fit_seconds": time.perf_counter() - t0}  # fmt: skip
    fn = model.guide(diffusion)
    return Target(condition, fn, lambda archs: model.predict(list(archs)), measure, "ms", "ms", info, (0.0, np.inf),
                  margin=margin)  # fmt: skip


def params_target(space, condition: Condition, diffusion) -> Target:
    """``params`` on NB201: the exact parameter count in millions (linear in the op one-hots)."""
    fn = on_denoised(diffusion, space.soft_num_params)

    def exact(archs: Sequence[Any]) -> np.ndarray:
        return space.num_params(list(archs)) / 1e6

    return Target(condition, fn, exact, exact, "M", "M", {"exact": True}, (0.0, np.inf))


def build_target(
    space, text: str | Condition, diffusion, *, kind: str = "constraint", **kwargs: Any
) -> Target:
    """A `Target` from text such as ``accuracy:cifar10`` (kind ``maximize``) or ``latency:edgegpu<=3.5``.

    Raises:
        InvalidChoiceError: malformed text, unknown target for the space, or unknown device / dataset.
    """
    cond = (
        text
        if isinstance(text, Condition)
        else parse_condition(text, field_name=kind, require_bound=(kind == "constraint"))
    )
    if is_local_latency(cond):
        keep = (
            "backend",
            "input_size",
            "num_classes",
            "threads",
            "module_kwargs",
            "n_measure",
            "seed",
            "cache",
        )
        return local_latency_target(space, cond, diffusion, **{k: v for k, v in kwargs.items() if k in keep})
    _check_space(space, cond.target)
    if cond.target == "accuracy":
        if kwargs.get("transfer_from"):
            keep = ("transfer_from", "n_train", "seed", "kappa", "prior")
            return transfer_accuracy_target(
                space, cond, diffusion, **{k: v for k, v in kwargs.items() if k in keep}
            )
        kwargs.pop("transfer_from", None)
        return accuracy_target(space, cond, diffusion, **kwargs)
    if cond.target in ("latency", "energy"):
        return latency_target(space, cond, diffusion, **{k: v for k, v in kwargs.items() if k == "dataset"})
    return params_target(space, cond, diffusion)
