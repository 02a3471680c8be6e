"""Training-free metrics of the task itself: computed live on a real-training oracle's own minibatch.

A benchmark's metric table describes the benchmark's task (NAS-Bench-Suite-Zero's CIFAR-10 values), not the images a
`bo.oracles.TrainingOracle` learns. Here every metric is computed on the untrained network the oracle would train
(``oracle.build_module``, weights seeded) and on a seeded minibatch of the oracle's *training split*
(`task_minibatch`), with `predictors.zero_cost`; no benchmark table is read.

* `LiveMetrics` computes and caches the raw values per architecture (keyed by ``space.format``), with the wall
  seconds each architecture took (network build + metrics) — what a search is charged. Its records are JSON-able
  (`LiveMetrics.dump` / `LiveMetrics.load`), so a search keeps them in its state and a resumed run recomputes nothing.
* `LiveMetricFeatures` is the GP featuriser (`bo.surrogate.Featuriser`): the base graph features, then each metric as
  ``sign(v)·log(1 + |v|)`` (synflow spans tens of orders of magnitude) standardised with the mean and standard
  deviation over a *reference* set — the queried architectures, fixed by `LiveMetricFeatures.set_reference` before
  the GP is fitted, so training and candidate rows share one transform.

Example::

    from bo.live_metrics import LiveMetrics
    live = LiveMetrics(oracle)                  # DEFAULT_LIVE_METRICS on a 64-image minibatch of the training split
    live.values(archs)                          # B x M raw values, computed once per architecture
    live.seconds(archs)                         # what they cost
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from bo.surrogate import Featuriser, Inputs
from nag.errors import InvalidChoiceError
from nag.graph import ArchGraph

__all__ = [
    "DEFAULT_LIVE_METRICS",
    "LIVE_BATCH",
    "supports_live_metrics",
    "task_minibatch",
    "LiveMetrics",
    "LiveMetricFeatures",
]

#: The default metrics computed live: cheap ones (seconds per NB201 network, C=16 N=5, 28 x 28 input, batch 64, one
#: torch thread on this project's shared 2-core CPU: synflow 0.07, naswot 0.64, flops 0.10, params 0.003; the
#: gradient metrics 0.8-1.1 each, grasp 3.6).
DEFAULT_LIVE_METRICS: tuple[str, ...] = ("synflow", "naswot", "flops", "params")
#: Images in the task minibatch.
LIVE_BATCH = 64

Arch = Any


def supports_live_metrics(oracle: Any) -> bool:
    """Whether ``oracle`` trains real networks on a task's images (a `bo.oracles.TrainingOracle`)."""
    from bo.oracles import TrainingOracle

    return isinstance(oracle, TrainingOracle)


def task_minibatch(oracle: Any, batch_size: int = LIVE_BATCH, seed: int | None = None):
    """A seeded minibatch of the oracle's training split (`bo.task_data.make_split`, the split the oracle trains on).

    Args:
        oracle: a `bo.oracles.TrainingOracle`.
        batch_size: ``B`` (at most the training split's size).
        seed: selects the images (a seeded permutation of the training split); default the oracle's seed.

    Returns:
        ``x``: ``B x 3 x H x W`` float32 normalised as in training; ``y``: ``B`` int64 labels.
    """
    from bo.task_data import make_split

    split = make_split(
        oracle.data, oracle.n_train, oracle.n_val, oracle.n_test, seed=oracle.seed, size=oracle.size
    )
    x, y = split.train.tensors
    if not 1 <= batch_size <= len(x):
        raise InvalidChoiceError("zc_batch", batch_size, [f"an integer in 1..{len(x)} (the training split)"])
    g = torch.Generator().manual_seed(oracle.seed if seed is None else seed)
    idx = torch.randperm(len(x), generator=g)[:batch_size]
    return x[idx].contiguous(), y[idx].contiguous()


class LiveMetrics:
    """Training-free metrics of architectures, computed on the task's minibatch and cached per architecture.

    Args:
        oracle: a `bo.oracles.TrainingOracle` (its network builder, data and split).
        metrics: registered metric names (`predictors.zero_cost.list_metrics`); default `DEFAULT_LIVE_METRICS`.
        batch_size: images in the minibatch.
        seed: seeds the minibatch and the network's initial weights (default the oracle's seed).

    Raises:
        InvalidChoiceError: an oracle that trains no networks, an unknown metric.
    """

    def __init__(
        self,
        oracle: Any,
        metrics: Sequence[str] | None = None,
        batch_size: int = LIVE_BATCH,
        seed: int | None = None,
    ) -> None:
        if not supports_live_metrics(oracle):
            raise InvalidChoiceError("oracle", type(oracle).__name__, ["TrainingOracle"])
        self.oracle = oracle
        self.metrics = tuple(metrics) if metrics else DEFAULT_LIVE_METRICS
        from predictors.zero_cost import list_metrics

        bad = [m for m in self.metrics if m not in list_metrics()]
        if bad:
            raise InvalidChoiceError("zc_metrics", ",".join(bad), list_metrics())
        self.batch_size = batch_size
        self.seed = oracle.seed if seed is None else seed
        self.space = oracle.space
        #: key -> {"values": {metric: value}, "time_s": seconds}
        self.records: dict[str, dict[str, Any]] = {}
        self._batch = None

    @property
    def fingerprint(self) -> str:
        """8 hex digits of everything the values depend on (oracle task and network, metrics, batch, seed)."""
        desc = {
            k: v
            for k, v in self.oracle.describe().items()
            if k not in ("epochs", "lr", "accelerator", "threads")
        }
        blob = json.dumps([desc, self.metrics, self.batch_size, self.seed], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:8]

    def batch(self):
        """The task minibatch (`task_minibatch`), built once."""
        if self._batch is None:
            self._batch = task_minibatch(self.oracle, self.batch_size, self.seed)
        return self._batch

    def key(self, arch: Arch) -> str:
        return self.space.format(arch)

    def compute(self, arch: Arch) -> dict[str, Any]:
        """Compute (never from the cache) the record of one architecture: its values and the seconds they took."""
        from predictors.zero_cost import compute
        from predictors.zero_cost.metrics import SHARED_GRADIENT_METRICS, gradient_metrics

        batch = self.batch()
        t0 = time.perf_counter()
        torch.manual_seed(self.seed)
        net = self.oracle.build_module(arch)
        shared = tuple(m for m in self.metrics if m in SHARED_GRADIENT_METRICS)
        values = gradient_metrics(net, batch, shared) if len(shared) > 1 else {}
        for m in self.metrics:
            if m not in values:
                values[m] = compute(m, net, batch)
        return {"values": {m: float(values[m]) for m in self.metrics}, "time_s": time.perf_counter() - t0}

    def ensure(self, archs: Iterable[Arch]) -> float:
        """Compute the architectures not cached yet; returns the seconds spent."""
        spent = 0.0
        for a in archs:
            k = self.key(a)
            if k not in self.records:
                self.records[k] = self.compute(a)
                spent += self.records[k]["time_s"]
        return spent

    def values(self, archs: Sequence[Arch]) -> np.ndarray:
        """``B x M`` raw metric values (NaN where a metric failed), computing what is not cached."""
        archs = list(archs)
        self.ensure(archs)
        rows = [self.records[self.key(a)]["values"] for a in archs]
        return np.array([[r[m] for m in self.metrics] for r in rows], dtype=np.float64).reshape(
            len(archs), -1
        )

    def seconds(self, archs: Iterable[Arch]) -> float:
        """Summed seconds the distinct ``archs`` took (computed where not cached)."""
        keys = {self.key(a): a for a in archs}
        self.ensure(keys.values())
        return float(sum(self.records[k]["time_s"] for k in keys))

    def dump(self, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """JSON-able records (NaN and ±inf as None) of ``keys`` (default all) with the `fingerprint`."""
        keys = self.records if keys is None else keys
        recs = {
            k: {"values": {m: (v if math.isfinite(v) else None) for m, v in self.records[k]["values"].items()},
                "time_s": self.records[k]["time_s"]}
            for k in keys
        }  # fmt: skip
        return {"fingerprint": self.fingerprint, "records": recs}

    def load(self, blob: dict[str, Any] | None) -> int:
        """Take the records of a `dump` made with the same `fingerprint` (others are ignored); returns how many."""
        if not blob or blob.get("fingerprint") != self.fingerprint:
            return 0
        n = 0
        for k, r in blob.get("records", {}).items():
            vals = {m: (math.nan if v is None else float(v)) for m, v in r["values"].items()}
            if k not in self.records and set(vals) == set(self.metrics):
                self.records[k] = {"values": vals, "time_s": float(r["time_s"])}
                n += 1
        return n


def _slog(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.log1p(np.abs(v))


class LiveMetricFeatures(Featuriser):
    """``B x (D + M)``: a base featuriser's columns, then the architecture's live metrics, transformed.

    Each metric is ``sign(v)·log(1 + |v|)``, standardised with the mean and standard deviation over the reference set
    (`set_reference`; before one is set, over every architecture computed so far); non-finite values take the
    reference minimum. Candidates outside the reference range keep their distance (no clipping), so a GP can
    extrapolate along a metric.

    Args:
        base: featurises the architecture itself (`bo.surrogate.GraphFeatures`).
        live: computes and caches the metrics.
        linear: the metric columns go to a linear kernel (`bo.surrogate.GPSurrogate`) rather than the Matérn kernel.
    """

    def __init__(self, base: Featuriser, live: LiveMetrics, linear: bool = True) -> None:
        self.base, self.live = base, live
        self.n_linear = len(live.metrics) if linear else 0
        self._stats: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def set_reference(self, archs: Sequence[Arch]) -> None:
        """Fix the transform to the statistics of ``archs`` (computed where not cached)."""
        self._stats = self._fit(_slog(self.live.values(archs)))

    @staticmethod
    def _fit(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = np.where(np.isfinite(z), z, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column is handled below
            lo = np.nan_to_num(np.nanmin(z, 0), nan=0.0)
            mu = np.nan_to_num(np.nanmean(z, 0), nan=0.0)
            sd = np.nan_to_num(np.nanstd(z, 0), nan=0.0)
        return lo, mu, np.where(sd > 1e-12, sd, 1.0)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """``B x M`` raw values -> the standardised columns the GP sees."""
        z = _slog(raw)
        if self._stats is None:
            allv = np.array([[r["values"][m] for m in self.live.metrics] for r in self.live.records.values()])
            stats = self._fit(_slog(allv.reshape(-1, len(self.live.metrics))))
        else:
            stats = self._stats
        lo, mu, sd = stats
        z = np.where(np.isfinite(z), z, lo)
        return (z - mu) / sd

    def __call__(self, x: Inputs) -> torch.Tensor:
        if isinstance(x, ArchGraph):
            raise ValueError(
                "x: training-free metrics exist for architectures, not for (noisy) graphs; accepted: a list of "
                "architectures"
            )
        x = list(x)
        z = self.transform(self.live.values(x))
        return torch.cat([self.base(x).double(), torch.as_tensor(z, dtype=torch.float64)], 1)
