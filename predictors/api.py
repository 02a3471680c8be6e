"""Library entry points: labelled pools of a benchmark, `train_predictor`, and held-out evaluation.

`train_predictor` is what ``nag train predictor --space nb201 --target cifar10_test_acc --n-train 100`` calls: it draws
``n_train`` labelled architectures at random (seeded), trains an `EnsemblePredictor` (optionally with training-free
metric features, optionally noise-aware for a diffusion checkpoint), scores it on all the other labelled
architectures (Kendall τ, Spearman ρ, top-k precision; PROTOCOL.md "Predictor runs"), and saves it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nag.errors import InvalidChoiceError
from nag.graph import ArchGraph
from predictors.accuracy import AccuracyPredictorConfig, EnsemblePredictor
from predictors.metrics import kendall_tau, spearman, top_k_precision

__all__ = ["LabelledPool", "load_pool", "split_target", "train_predictor", "evaluate", "FEATURE_SETS"]

#: Extra-feature sets of `load_pool`: ``none`` (graph only) or ``zc`` (the benchmark's training-free metrics).
FEATURE_SETS: tuple[str, ...] = ("none", "zc")


@dataclass
class LabelledPool:
    """Every labelled architecture of a benchmark for one target, encoded once.

    Attributes:
        space: search-space name.
        dataset / target: benchmark dataset and metric.
        archs: the architectures (``P``).
        graphs: their `ArchGraph` batch (``P``).
        y: ``P`` float64 targets (all finite).
        features: ``P x F`` raw extra features, or ``None``.
        feature_names: ``F`` names.
    """

    space: str
    dataset: str
    target: str
    archs: list
    graphs: ArchGraph
    y: np.ndarray
    features: np.ndarray | None
    feature_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.archs)

    def subset(self, idx: np.ndarray) -> tuple[ArchGraph, torch.Tensor, np.ndarray | None]:
        """``(graphs, y, features)`` of rows ``idx``."""
        t = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return (
            self.graphs[t],
            torch.as_tensor(self.y[idx], dtype=torch.float32),
            None if self.features is None else self.features[idx],
        )


def split_target(space: str, target: str, dataset: str | None) -> tuple[str, str]:
    """``(dataset, metric)`` from ``target`` and an optional ``dataset``.

    ``target`` may carry the dataset as a prefix (``cifar10_test_acc``, ``in16_val_acc_hp12``, ``cora_val_perf``);
    a prefix and an explicit ``dataset`` must then agree. Spaces with one dataset need neither.

    Raises:
        InvalidChoiceError: unknown dataset or metric, or a prefix that contradicts ``dataset``.
    """
    from nag.benchmarks import get_benchmark

    bench = get_benchmark(space)
    # longest names first, so "cifar100_" is tried before "cifar10_"
    names = sorted(set(bench.datasets()) | set(bench.dataset_aliases), key=lambda s: -len(s))
    prefix = next((n for n in names if target.lower().startswith(n.lower() + "_")), None)
    if prefix is not None and target not in bench.metrics(bench.resolve_dataset(prefix)):
        target = target[len(prefix) + 1 :]
        if dataset is not None and bench.resolve_dataset(dataset) != bench.resolve_dataset(prefix):
            raise InvalidChoiceError("dataset", dataset, [bench.resolve_dataset(prefix)])
        dataset = prefix
    if dataset is None:
        if len(bench.datasets()) != 1:
            # the target lacks its dataset prefix: name the target (what the user typed), not the absent dataset
            raise InvalidChoiceError("target", target, [f"{d}_<metric>" for d in bench.datasets()])
        dataset = bench.datasets()[0]
    ds = bench.resolve_dataset(dataset)
    if target not in bench.metrics(ds):
        raise InvalidChoiceError("target", target, bench.metrics(ds))
    return ds, target


def _column(bench, ds: str, metric: str) -> np.ndarray:
    """``metric`` of the benchmark's labelled architectures of ``ds`` (`Benchmark.labelled_column`)."""
    if ":" in metric:  # "<dataset>:<metric>": another dataset's training-free metric
        ds, metric = metric.split(":", 1)
    return bench.labelled_column(ds, metric)


def load_pool(space: str, target: str, dataset: str | None = None, features: str = "none") -> LabelledPool:
    """All labelled architectures of ``space`` with a finite ``target`` on ``dataset``, encoded.

    Args:
        space: a space with a benchmark (`nag.benchmarks.BENCHMARKS`; aliases accepted).
        target: metric name, optionally prefixed by the dataset (see `split_target`).
        dataset: benchmark dataset (default: from ``target``).
        features: ``"none"`` or ``"zc"``: the benchmark's training-free metrics
            (`Benchmark.training_free_features`: NB201's NAS-Bench-Suite-Zero metrics, CIFAR-10's for CIFAR-100,
            plus NASWOT / synflow / log-synflow / #linear-regions; NB101's NASLib metrics). A benchmark without
            any (NAS-Bench-Graph) is an error.

    Raises:
        InvalidChoiceError: unknown space, dataset, metric or feature set.
    """
    from nag.benchmarks import get_benchmark
    from nag.spaces import canonical_space_name, get_space

    space = canonical_space_name(space)
    if features not in FEATURE_SETS:
        raise InvalidChoiceError("features", features, FEATURE_SETS)
    bench = get_benchmark(space)  # a space without a benchmark: InvalidChoiceError listing those with one
    ds, metric = split_target(space, target, dataset)
    sp = get_space(space)
    archs = bench.labelled(ds)
    y = _column(bench, ds, metric)
    names: list[str] = []
    F = None
    if features == "zc":
        names = bench.training_free_features(ds)
        if not names:
            raise InvalidChoiceError("features", features, ["none"])
        F = np.stack([_column(bench, ds, n) for n in names], 1)
        keep_cols = ~np.all(~np.isfinite(F), 0)
        F, names = F[:, keep_cols], [n for n, k in zip(names, keep_cols, strict=True) if k]
    keep = np.flatnonzero(np.isfinite(y))
    return LabelledPool(
        space=space,
        dataset=ds,
        target=metric,
        archs=[archs[i] for i in keep],
        graphs=sp.encode([archs[i] for i in keep]),
        y=y[keep],
        features=None if F is None else F[keep],
        feature_names=tuple(names),
    )


def evaluate(
    predictor: EnsemblePredictor,
    pool: LabelledPool,
    idx: np.ndarray,
    t: int | None = None,
    seed: int = 0,
    diffusion=None,
) -> dict[str, float]:
    """Ranking quality of ``predictor`` on rows ``idx`` of ``pool``.

    Args:
        t: for noise-aware predictors, score graphs noised by ``diffusion`` at this timestep against the clean labels.
        seed: seeds the noise.

    Returns:
        ``{"kendall_tau", "spearman", "top5pct_precision", "predict_seconds", "n_test"}``.
    """
    graphs, y, feats = pool.subset(idx)
    t0 = time.perf_counter()
    if t:
        if diffusion is None:
            raise ValueError("diffusion: noising test graphs at t > 0 needs the diffusion model")
        predictor.check_schedule(diffusion)
        tt = torch.full((graphs.batch_size,), int(t), dtype=torch.long)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            graphs = diffusion.noisy_graph(graphs, tt)
        pred = predictor.predict(graphs, t=tt, features=feats)
    else:
        pred = predictor.predict(graphs, features=feats)
    secs = time.perf_counter() - t0
    k = 0.05 if len(idx) >= 20 else 1.0
    return {
        "kendall_tau": kendall_tau(pred.mean, y),
        "spearman": spearman(pred.mean, y),
        "top5pct_precision": top_k_precision(pred.mean, y, k),
        "predict_seconds": secs,
        "n_test": float(len(idx)),
    }


def train_predictor(
    space: str = "nb201",
    target: str = "test_acc",
    dataset: str | None = "cifar10",
    n_train: int = 100,
    seed: int = 0,
    noise_aware_model_path: str | Path | None = None,
    out: str | Path | None = None,
    features: str = "zc",
    pool: LabelledPool | None = None,
    **config: Any,
) -> tuple[EnsemblePredictor, dict[str, Any]]:
    """Train a predictor on ``n_train`` random labelled architectures and test it on all the others.

    Args:
        space: search space (``nb201``, ``nb101``, ``nasbench_graph``).
        target: metric, optionally dataset-prefixed (``cifar10_test_acc``); see `split_target`.
        dataset: benchmark dataset, or ``None`` to read it from ``target``.
        n_train: training architectures (drawn without replacement, seeded by ``seed``).
        seed: seeds the draw, initialisation and training.
        noise_aware_model_path: a `GraphDiffusionModel` checkpoint: train noise-aware with its schedule (graph-only
            features, so ``features`` is forced to ``"none"``).
        out: where to save the predictor (atomic), or ``None``.
        features: ``"zc"`` (default; falls back to ``"none"`` where the benchmark has no training-free metrics)
            or ``"none"``.
        pool: a pool from `load_pool` to reuse (then space/target/dataset/features come from it).
        **config: `AccuracyPredictorConfig` overrides (``ensemble``, ``hidden``, ``max_epochs``, ...).

    Returns:
        ``(predictor, report)``; the report holds the settings, training metrics, the held-out metrics
        (``test``), and for noise-aware predictors ``test_by_t`` (τ against clean labels at several timesteps).

    Raises:
        InvalidChoiceError: unknown space/dataset/target/feature set, or ``n_train`` leaves no test architecture.
    """
    diffusion = None
    if noise_aware_model_path is not None:
        from nag.diffusion.model import GraphDiffusionModel

        diffusion = GraphDiffusionModel.load(noise_aware_model_path)
        features = "none"
    if pool is None:
        try:
            pool = load_pool(space, target, dataset, features)
        except InvalidChoiceError as e:
            if e.field != "features":
                raise
            pool = load_pool(space, target, dataset, "none")
    if diffusion is not None:
        if diffusion.space_name != pool.space:
            raise InvalidChoiceError("noise_aware_model_path", diffusion.space_name, [pool.space])
        pool = replace(pool, features=None, feature_names=())
    if not 2 <= n_train < len(pool):
        raise InvalidChoiceError("n_train", n_train, [f"2..{len(pool) - 1}"])
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(pool))
    tr, te = np.sort(perm[:n_train]), perm[n_train:]
    cfg = AccuracyPredictorConfig(
        ops=pool.graphs.ops,
        feature_names=pool.feature_names,
        noise_aware=diffusion is not None,
        seed=seed,
        **config,
    )
    predictor = EnsemblePredictor(cfg)
    graphs, y, feats = pool.subset(tr)
    fit = predictor.fit(graphs, y, features=feats, diffusion=diffusion)
    report: dict[str, Any] = {
        "space": pool.space,
        "dataset": pool.dataset,
        "target": pool.target,
        "n_train": n_train,
        "seed": seed,
        "features": list(pool.feature_names),
        "noise_aware": diffusion is not None,
        "config": cfg.to_dict(),
        "fit": fit,
        "test": evaluate(predictor, pool, te),
    }
    if diffusion is not None:
        report["schedule_fingerprint"] = diffusion.schedule.fingerprint()
        sub = te[: min(len(te), 3000)]
        report["test_by_t"] = {
            int(t): evaluate(predictor, pool, sub, t=int(t), seed=seed, diffusion=diffusion)["kendall_tau"]
            for t in _t_grid(diffusion.schedule.num_train_timesteps)
        }
    predictor.metrics.update(
        {"test_" + k: v for k, v in report["test"].items() if isinstance(v, float) and not math.isnan(v)}
    )
    # what it predicts, so that a saved file is refused where it does not belong (`nag generate --predictor`)
    predictor.metrics["task"] = {"space": pool.space, "dataset": pool.dataset, "target": pool.target}
    if out is not None:
        predictor.save(out)
        report["path"] = str(out)
    return predictor, report


def _t_grid(T: int) -> list[int]:
    """``0, 50, 100, 200, 400, ...`` below ``T``, and ``T - 1``."""
    grid = [0, 50, 100] + [200 * 2**i for i in range(int(math.log2(max(T, 200) / 200)) + 1)]
    return sorted({t for t in grid if t < T} | {T - 1})
