"""Latency predictors for NAS-Bench-201: per-device models and few-shot adaptation to unseen devices.

Two pieces, both linear in one differentiable feature map of the ``ArchGraph`` node one-hots:

* **Features** (`nb201_latency_features`): the latency of an NB201 network is close to additive over its 6 edge
  operations (each edge holds its own module in every cell), plus small pairwise interactions. With ``E = X[:, 1:7,
  skip..pool]`` (``B x 6 x 4``, the ``none`` channel is the baseline, so the basis is not redundant) the map is
  ``[1, E (24), E_i ⊗ E_j for i < j (240)]`` — 265 columns for ``order=2``, 25 for ``order=1``. On one-hot ``X`` it is
  exact; on soft ``X`` (rows on the simplex) it is the multilinear extension — the expected feature under independent
  categorical operations — so gradients flow to ``X``.
* **Known device** (`fit_device`): ridge regression of the table's latencies on the features (`LatencyModel`, ms).
* **Unseen device, few shots** (`MetaLatencyPrior`): hierarchical Bayesian linear regression. Each training device
  ``d`` (a table column, standardised to zero mean / unit variance) gets least-squares weights ``w_d``; the prior for
  a new device is ``w ~ N(mean_d w_d, c · (Cov_d(w_d) + diag(jitter)))``, i.e. the mean profile over training devices
  (the "reference device") plus its principal directions of variation across devices. From ``k`` measured
  architectures the posterior mean is closed form; it is averaged over a small (prior scale ``c``, noise variance)
  grid weighted by the marginal likelihood of those ``k`` points (Bayesian model averaging; ``average=False``
  takes the type-II maximum-likelihood grid point). `MetaLatencyPrior.select_reference` gives a fixed
  "reference set" by greedy Bayesian I-optimal (or D-optimal) design under the prior (no target data used).

Anchor: HELP (Lee et al., "HELP: Hardware-Adaptive Efficient Latency Prediction for NAS via Meta-Learning",
NeurIPS 2021) reports mean Spearman 0.932 from 10 samples on its six NB201 meta-test devices. Its split
(``HELP_META_TRAIN`` / ``HELP_META_VALID`` / ``HELP_META_TEST``) is taken from its ``script/run_nas_metad2a.sh``.
Its evaluation code (``loader.py``) adapts from 10 random cells *plus* the latencies of 10 fixed reference cells
(the hardware embedding) and scores Spearman on a query set with the fastest and slowest 10% removed; see
`fewshot_spearman`'s ``trim`` and ``experiments/bench/bench_latency_fewshot.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr
from torch import nn

from nag.errors import InvalidChoiceError
from nag.graph import ArchGraph
from nag.spaces.nb201 import GRAPH_OPS, NB201Arch

__all__ = [
    "HELP_META_TRAIN",
    "HELP_META_VALID",
    "HELP_META_TEST",
    "LatencyTask",
    "LatencyModel",
    "MetaLatencyPrior",
    "nb201_latency_features",
    "num_features",
    "space_features",
    "latency_metrics",
    "latency_tasks",
    "physical_device",
    "fit_device",
    "meta_train",
    "fewshot_spearman",
]

#: HELP's NB201 meta-training devices (``--meta_train_devices`` of HELP's scripts).
HELP_META_TRAIN: tuple[str, ...] = (
    "1080ti_1",
    "1080ti_32",
    "1080ti_256",
    "silver_4114",
    "silver_4210r",
    "samsung_a50",
    "pixel3",
    "essential_ph_1",
    "samsung_s7",
)
#: HELP's NB201 meta-validation devices.
HELP_META_VALID: tuple[str, ...] = ("titanx_1", "titanx_32", "titanx_256", "gold_6240")
#: HELP's NB201 meta-test devices (unseen during meta-training).
HELP_META_TEST: tuple[str, ...] = ("titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss")

_HELP_PREFIX = "help_latency_ms_"
_HW_PREFIXES = ("latency_", "energy_")
_EDGE_OPS = slice(
    2, 6
)  # GRAPH_OPS channels skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3 (none = baseline)
_PAIRS = tuple((i, j) for i in range(6) for j in range(i + 1, 6))
_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


# ---------------------------------------------------------------------- features
def num_features(order: int) -> int:
    """Columns of `nb201_latency_features`: ``1 + 24`` for ``order=1``, ``1 + 24 + 15·16 = 265`` for ``order=2``."""
    if order not in (1, 2):
        raise InvalidChoiceError("order", order, (1, 2))
    return 25 if order == 1 else 25 + 16 * len(_PAIRS)


def _edge_onehots(X: torch.Tensor) -> torch.Tensor:
    """``B x 8 x 7`` NB201 node one-hots -> ``B x 6 x 4`` non-``none`` operation weights of the six edges."""
    if X.dim() != 3 or X.shape[1:] != (8, len(GRAPH_OPS)):
        raise ValueError(
            f"X: expected B x 8 x {len(GRAPH_OPS)} NB201 node one-hots, got shape {tuple(X.shape)}"
        )
    return X[:, 1:7, _EDGE_OPS]


def nb201_latency_features(X: torch.Tensor, order: int = 2) -> torch.Tensor:
    """Differentiable latency features of NB201 cells (see the module docstring).

    Args:
        X: ``B x 8 x 7`` node operation one-hots of NB201 `ArchGraph`s (vocabulary `GRAPH_OPS`); soft rows allowed.
        order: 1 (intercept + per-edge operation) or 2 (plus all pairwise edge-operation products).

    Returns:
        ``B x P`` features, ``P = num_features(order)``, same dtype/device as ``X``.
    """
    p = num_features(order)
    E = _edge_onehots(X)
    b = E.shape[0]
    cols = [torch.ones(b, 1, dtype=X.dtype, device=X.device), E.reshape(b, 24)]
    if order == 2:
        i, j = zip(*_PAIRS, strict=True)
        prod = E[:, list(i), :, None] * E[:, list(j), None, :]  # B x 15 x 4 x 4
        cols.append(prod.reshape(b, 16 * len(_PAIRS)))
    out = torch.cat(cols, dim=1)
    assert out.shape[1] == p
    return out


def _check_graph(graph: ArchGraph) -> None:
    if tuple(graph.ops) != GRAPH_OPS:
        raise ValueError(f"graph.ops: expected the NB201 vocabulary {GRAPH_OPS}, got {graph.ops}")


@cache
def _space_features_cached(order: int) -> np.ndarray:
    from nag.spaces import get_space

    if order == 1:  # the first 25 order-2 columns are the order-1 features
        return np.ascontiguousarray(_space_features_cached(2)[:, : num_features(1)])
    space = get_space("nb201")
    X = space.encode(list(space.enumerate())).X.double()
    return nb201_latency_features(X, order).numpy()


def space_features(order: int = 2) -> np.ndarray:
    """Features of all 15,625 NB201 cells in official index order (``15625 x P`` float64, read-only, cached)."""
    f = _space_features_cached(order)
    f.flags.writeable = False
    return f


# ---------------------------------------------------------------------- tasks (table columns)
def physical_device(metric: str) -> str:
    """The physical device behind a latency/energy metric name (batch-size suffixes of HELP's GPUs dropped).

    ``help_latency_ms_titan_rtx_256`` -> ``titan_rtx``; ``latency_raspi4`` / ``help_latency_ms_raspi4`` ->
    ``raspi4``; ``energy_eyeriss`` -> ``eyeriss``.
    """
    if metric.startswith(_HELP_PREFIX):
        dev = metric[len(_HELP_PREFIX) :]
    elif metric.startswith(_HW_PREFIXES):
        dev = metric.split("_", 1)[1]
    else:
        raise InvalidChoiceError("device_metric", metric, latency_metrics("cifar10"))
    return re.sub(r"_(1|32|256)$", "", dev)


def latency_metrics(dataset: str = "cifar10") -> list[str]:
    """Latency/energy metric names of the NB201 benchmark for ``dataset`` (HW-NAS-Bench and HELP columns)."""
    from nag.benchmarks import get_benchmark

    return [m for m in get_benchmark("nb201").metrics(dataset) if m.startswith((_HELP_PREFIX, *_HW_PREFIXES))]


def _check_metric(device_metric: str, dataset: str) -> str:
    from nag.benchmarks import get_benchmark

    ds = get_benchmark("nb201").resolve_dataset(dataset)
    accepted = latency_metrics(ds)
    if device_metric not in accepted:
        raise InvalidChoiceError("device_metric", device_metric, accepted)
    return ds


@dataclass(frozen=True)
class LatencyTask:
    """One latency (or energy) column of the NB201 table: a device setting on a dataset's input size.

    Attributes:
        metric: benchmark metric name, e.g. ``help_latency_ms_pixel2`` or ``latency_edgegpu``.
        dataset: ``cifar10``, ``cifar100`` or ``ImageNet16-120``.
    """

    metric: str
    dataset: str = "cifar10"

    @property
    def device(self) -> str:
        """Physical device (`physical_device`)."""
        return physical_device(self.metric)

    def values(self) -> np.ndarray:
        """``15625`` float64 values in index order; non-positive entries (Edge TPU codes failures as -1) -> NaN."""
        from nag.benchmarks import get_benchmark

        y = get_benchmark("nb201").column(self.dataset, self.metric)
        return np.where(y > 0, y, np.nan)

    def __str__(self) -> str:
        return f"{self.dataset}/{self.metric}"


def latency_tasks(datasets: Sequence[str] = _DATASETS) -> list[LatencyTask]:
    """Every distinct latency/energy column: HELP's 27 settings once, HW-NAS-Bench's per dataset.

    Columns identical to an earlier one (HW-NAS-Bench CIFAR-10 raspi4/pixel3/eyeriss/fpga are HELP's values) are
    dropped, so no device is counted twice. ``arithmetic_intensity_*`` is not a cost and is left out.
    """
    out: list[LatencyTask] = []
    seen: list[np.ndarray] = []
    # HELP values are the same under every dataset: listed once, first, so duplicates keep their HELP names
    candidates = [LatencyTask(m) for m in latency_metrics("cifar10") if m.startswith(_HELP_PREFIX)]
    candidates += [
        LatencyTask(m, ds) for ds in datasets for m in latency_metrics(ds) if not m.startswith(_HELP_PREFIX)
    ]
    for t in candidates:
        y = t.values()
        if any(np.array_equal(y, s, equal_nan=True) for s in seen):
            continue
        seen.append(y)
        out.append(t)
    return out


def _standardise(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    ok = ~np.isnan(y)
    mean = float(y[ok].mean())
    sd = float(y[ok].std())
    sd = sd if sd > 0 else 1.0
    return (y - mean) / sd, mean, sd


def _ridge(F: np.ndarray, y: np.ndarray, ridge: float, gram: np.ndarray | None = None) -> np.ndarray:
    """Ridge weights (``P``) for ``F: n x P``, ``y: n``; the intercept (column 0) is not penalised.

    ``gram`` is ``F^T F`` when the caller has it (the whole space's is cached).
    """
    pen = np.full(F.shape[1], ridge * len(y))
    pen[0] = 0.0
    g = F.T @ F if gram is None else gram
    return np.linalg.solve(g + np.diag(pen), F.T @ y)


@cache
def _space_gram(order: int) -> np.ndarray:
    F = space_features(order)
    return F.T @ F


@cache
def _task_fit(task: LatencyTask, order: int, ridge: float) -> tuple[np.ndarray, float]:
    """Weights (``P``, standardised units) of one whole table column and their mean squared residual (cached)."""
    F = space_features(order)
    y = task.values()
    rows = np.flatnonzero(~np.isnan(y))
    z, _, _ = _standardise(y[rows])
    full = len(rows) == len(y)
    w = _ridge(F if full else F[rows], z, ridge, _space_gram(order) if full else None)
    w.flags.writeable = False
    return w, float(((F[rows] @ w - z) ** 2).mean())


# ---------------------------------------------------------------------- the model
class LatencyModel(nn.Module):
    """A linear model over `nb201_latency_features`: ``latency = y_mean + y_scale · φ(X) · w`` (ms, or mJ).

    Differentiable in ``X`` (soft one-hots allowed), so ``model(graph)`` can serve as a guidance objective.

    Args:
        weight: ``P`` weights in standardised units.
        order: feature order (1 or 2).
        y_mean: offset (ms) added after scaling.
        y_scale: scale (ms per standardised unit).
        metric: the device metric it predicts (free text for unseen devices).
        dataset: the input size's dataset.
        metrics: accuracy on held-out architectures (``spearman``, ``kendall``, ``mae``, ``r2``, ``n_train``,
            ``n_test``), where known.
    """

    def __init__(
        self,
        weight: torch.Tensor | np.ndarray,
        order: int,
        y_mean: float,
        y_scale: float,
        metric: str,
        dataset: str = "cifar10",
        metrics: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        w = torch.as_tensor(np.asarray(weight), dtype=torch.float64)
        if w.shape != (num_features(order),):
            raise ValueError(f"weight: expected shape ({num_features(order)},), got {tuple(w.shape)}")
        self.register_buffer("weight", w)
        self.order = order
        self.y_mean = float(y_mean)
        self.y_scale = float(y_scale)
        self.metric = metric
        self.dataset = dataset
        self.metrics: dict[str, float] = dict(metrics or {})

    def forward(self, graph: ArchGraph | torch.Tensor) -> torch.Tensor:
        """Predicted latency.

        Args:
            graph: an NB201 `ArchGraph` batch, or its ``B x 8 x 7`` node one-hots ``X`` (soft allowed).

        Returns:
            ``B`` predictions in the metric's unit (ms for latency), dtype of ``X``; differentiable in ``X``.
        """
        if isinstance(graph, ArchGraph):
            _check_graph(graph)
            X = graph.X
        else:
            X = graph
        phi = nb201_latency_features(X, self.order)
        return self.y_mean + self.y_scale * (phi @ self.weight.to(dtype=phi.dtype, device=phi.device))

    def predict(self, graph: ArchGraph | torch.Tensor) -> torch.Tensor:
        """Alias of `forward`: ``B`` predicted latencies (ms), differentiable in ``graph.X``."""
        return self(graph)

    def predict_archs(self, archs: Sequence[NB201Arch]) -> np.ndarray:
        """Predictions for NB201 cells (``B`` float64), no gradients."""
        from nag.spaces import get_space

        with torch.no_grad():
            return self(get_space("nb201").encode(archs).X.double()).cpu().numpy()

    def predict_space(self) -> np.ndarray:
        """Predictions for all 15,625 cells in official index order (``15625`` float64)."""
        phi = space_features(self.order)
        return self.y_mean + self.y_scale * (phi @ self.weight.detach().cpu().numpy())

    def extra_repr(self) -> str:
        acc = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items())
        return f"metric={self.metric!r}, dataset={self.dataset!r}, order={self.order}" + (
            f", {acc}" if acc else ""
        )


def _accuracy(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    ok = ~np.isnan(y)
    p, t = pred[ok], y[ok]
    return {
        "spearman": float(spearmanr(p, t)[0]),
        "kendall": float(kendalltau(p, t)[0]),
        "mae": float(np.abs(p - t).mean()),
        "r2": float(1.0 - ((p - t) ** 2).sum() / ((t - t.mean()) ** 2).sum()),
        "n_test": float(ok.sum()),
    }


def _fit_rows(
    F: np.ndarray, y: np.ndarray, rows: np.ndarray, ridge: float
) -> tuple[np.ndarray, float, float]:
    rows = rows[~np.isnan(y[rows])]
    z, mean, sd = _standardise(y[rows])
    return _ridge(F[rows], z, ridge), mean, sd


def fit_device(
    device_metric: str,
    dataset: str = "cifar10",
    archs: Sequence[NB201Arch] | Sequence[int] | np.ndarray | None = None,
    *,
    order: int = 2,
    ridge: float = 1e-4,
    holdout: float = 0.2,
    seed: int = 0,
) -> LatencyModel:
    """Fit a latency model for a device in the table.

    Args:
        device_metric: a latency/energy metric of the NB201 benchmark (`latency_metrics`), e.g. ``latency_pixel3``.
        dataset: dataset whose input size the latency was measured on.
        archs: training architectures (NB201 cells or official indices). ``None``: the whole table; its
            ``metrics`` then come from a refit on a seeded random ``1 - holdout`` share tested on the rest.
        order: feature order (1 additive, 2 with pairwise interactions).
        ridge: ridge penalty per training row, in standardised units.
        holdout: held-out share for the accuracy estimate when ``archs`` is ``None``.
        seed: seed of that split.

    Returns:
        A `LatencyModel` in the metric's unit with ``metrics`` measured on architectures it was not fitted on.

    Raises:
        InvalidChoiceError: unknown ``device_metric`` (the message lists the valid names).
    """
    ds = _check_metric(device_metric, dataset)
    F = space_features(order)
    y = LatencyTask(device_metric, ds).values()
    n = len(y)
    if archs is None:
        perm = np.random.default_rng(seed).permutation(n)
        n_test = int(round(holdout * n))
        test, train_est = perm[:n_test], perm[n_test:]
        train = np.arange(n)
    else:
        from nag.spaces import get_space

        space = get_space("nb201")
        train = np.unique(
            np.array(
                [a if isinstance(a, (int, np.integer)) else space.index(a) for a in archs], dtype=np.int64
            )
        )
        test = np.setdiff1d(np.arange(n), train)
        train_est = train
    w_est, m_est, s_est = _fit_rows(F, y, train_est, ridge)
    acc = _accuracy(m_est + s_est * (F[test] @ w_est), y[test]) if len(test) else {}
    acc["n_train"] = float((~np.isnan(y[train_est])).sum())
    w, mean, sd = (w_est, m_est, s_est) if train_est is train else _fit_rows(F, y, train, ridge)
    return LatencyModel(w, order, mean, sd, device_metric, ds, acc)


# ---------------------------------------------------------------------- few-shot: hierarchical Bayesian prior
_NOISE_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)
_SCALE_GRID = (0.25, 0.5, 1.0, 2.0, 4.0)


class MetaLatencyPrior:
    """Gaussian prior over per-device weights of a linear latency model, meta-learned from training devices.

    ``w ~ N(mean, c · cov)`` with ``cov = factors^T factors + diag(jitter)`` in standardised latency units; the
    intercept gets an extra unit of variance because a new device is standardised by the mean and spread of its
    few measurements, not of the whole space.

    Args:
        mean: ``P`` mean weights (the "reference device").
        factors: ``T x P`` centred training weights divided by ``sqrt(T - 1)``.
        jitter: ``P`` diagonal variance added to the across-device covariance.
        order: feature order.
        tasks: names of the training tasks.
        noise: default noise variance (standardised units) for `select_reference`.
        average: average the posterior mean over the (prior scale, noise) grid weighted by marginal likelihood
            (default), instead of taking the maximum-likelihood grid point.
    """

    def __init__(
        self,
        mean: np.ndarray,
        factors: np.ndarray,
        jitter: np.ndarray,
        order: int,
        tasks: Sequence[str] = (),
        noise: float = 0.01,
        average: bool = True,
    ) -> None:
        p = num_features(order)
        if mean.shape != (p,) or factors.shape[1] != p or jitter.shape != (p,):
            raise ValueError(f"mean/factors/jitter must have {p} columns for order={order}")
        self.mean = mean
        self.factors = factors
        self.jitter = jitter
        self.order = order
        self.tasks = list(tasks)
        self.noise = noise
        self.average = average

    @classmethod
    def fit(
        cls,
        tasks: Sequence[LatencyTask],
        order: int = 2,
        ridge: float = 1e-4,
        jitter_share: float = 0.05,
    ) -> MetaLatencyPrior:
        """Meta-train the prior from whole tables of training devices.

        Args:
            tasks: training devices (at least 2).
            order: feature order.
            ridge: ridge penalty of each device's own fit (standardised units).
            jitter_share: diagonal jitter per feature group (intercept / per-edge / pairwise), as a share of that
                group's mean across-device variance; lets a new device leave the span of the training devices.

        Returns:
            The fitted prior.
        """
        if len(tasks) < 2:
            raise ValueError(f"tasks: need at least 2 training devices, got {len(tasks)}")
        fits = [_task_fit(t, order, ridge) for t in tasks]
        noise = [r for _, r in fits]
        Wm = np.stack([w for w, _ in fits])
        mean = Wm.mean(0)
        factors = (Wm - mean) / np.sqrt(len(Wm) - 1)
        var = (factors**2).sum(0)
        jitter = np.empty_like(var)
        for sl in (slice(0, 1), slice(1, 25), slice(25, None)):
            if var[sl].size:
                jitter[sl] = jitter_share * var[sl].mean()
        return cls(mean, factors, jitter, order, [str(t) for t in tasks], float(np.median(noise)))

    def covariance(self) -> np.ndarray:
        """``P x P`` prior covariance at scale ``c = 1`` (intercept variance widened by 1)."""
        cov = self.factors.T @ self.factors + np.diag(self.jitter)
        cov[0, 0] += 1.0
        return cov

    def prior_model(self, metric: str = "unseen (prior mean, z-score)") -> LatencyModel:
        """The meta-prior alone (no measurement of the new device): predictions in standardised units."""
        return LatencyModel(self.mean, self.order, 0.0, 1.0, metric)

    def adapt(
        self,
        graph: ArchGraph | torch.Tensor,
        latency: torch.Tensor | np.ndarray | Sequence[float],
        metric: str = "unseen",
        dataset: str = "cifar10",
    ) -> LatencyModel:
        """Posterior-mean model for a new device from ``k`` measured architectures (closed form).

        Args:
            graph: the ``k`` measured NB201 architectures (`ArchGraph` or ``k x 8 x 7`` one-hots).
            latency: their ``k`` measured latencies (any positive unit; predictions come back in it).
            metric: a name for the new device.
            dataset: dataset whose input size was measured.

        Returns:
            A `LatencyModel`; with ``k = 0`` the prior mean in standardised units. Noise variance and prior scale
            are chosen by marginal likelihood of the ``k`` points over a fixed grid.
        """
        X = graph.X if isinstance(graph, ArchGraph) else graph
        y = np.asarray(torch.as_tensor(latency).detach().cpu(), dtype=np.float64).reshape(-1)
        if X.shape[0] != len(y):
            raise ValueError(f"latency: expected {X.shape[0]} values to match the graphs, got {len(y)}")
        if len(y) == 0:
            return self.prior_model(metric)
        A = nb201_latency_features(X.detach().double().cpu(), self.order).numpy()
        return self._posterior(A, y, metric, dataset)

    def adapt_indices(
        self,
        indices: Sequence[int] | np.ndarray,
        latency: np.ndarray,
        metric: str = "unseen",
        dataset: str = "cifar10",
    ) -> LatencyModel:
        """`adapt` for cells given by official NB201 indices (``k``) with their ``k`` latencies."""
        idx = np.asarray(indices, dtype=np.int64)
        y = np.asarray(latency, dtype=np.float64).reshape(-1)
        if len(idx) == 0:
            return self.prior_model(metric)
        return self._posterior(space_features(self.order)[idx], y, metric, dataset)

    def _posterior(self, A: np.ndarray, y: np.ndarray, metric: str, dataset: str) -> LatencyModel:
        k = len(y)
        mean_y = float(y.mean())
        sd_y = float(y.std()) if k > 1 and y.std() > 0 else max(abs(mean_y), 1.0)
        z = (y - mean_y) / sd_y
        cov = self.covariance()
        CA = cov @ A.T  # P x k
        G = A @ CA  # k x k
        r = z - A @ self.mean
        lls, ws = [], []
        for c in _SCALE_GRID:
            for s2 in _NOISE_GRID:
                K = c * G + s2 * np.eye(k)
                L = np.linalg.cholesky(K)
                alpha = np.linalg.solve(L.T, np.linalg.solve(L, r))
                lls.append(-0.5 * r @ alpha - np.log(np.diag(L)).sum())
                ws.append(self.mean + c * CA @ alpha)
        lls_a = np.array(lls)
        if self.average:
            # Bayesian model averaging over the (scale, noise) grid with a flat hyper-prior
            post = np.exp(lls_a - lls_a.max())
            w = (post[:, None] * np.stack(ws)).sum(0) / post.sum()
        else:
            w = ws[int(np.argmax(lls_a))]
        return LatencyModel(w, self.order, mean_y, sd_y, metric, dataset)

    def select_reference(
        self, k: int, criterion: Literal["i", "d"] = "i", noise: float | None = None
    ) -> np.ndarray:
        """A fixed reference set: ``k`` official indices chosen greedily by Bayesian optimal design under the prior.

        ``criterion="i"`` (I-optimal) picks, at each step, the cell whose measurement most reduces the posterior
        predictive variance summed over the whole space; ``"d"`` (D-optimal) the cell with the largest predictive
        variance (the largest gain in ``log det`` of the posterior precision), which favours extreme cells. Uses only
        the training devices, never the target.

        Args:
            k: number of cells.
            criterion: ``"i"`` or ``"d"``.
            noise: noise variance of the design (default: the training devices' median residual variance).

        Returns:
            ``k`` distinct official indices, in pick order.
        """
        if criterion not in ("i", "d"):
            raise InvalidChoiceError("criterion", criterion, ("i", "d"))
        s2 = self.noise if noise is None else noise
        F = space_features(self.order)
        S = self.covariance()
        S[0, 0] -= 1.0  # the intercept is re-estimated from the measurements anyway
        gram = _space_gram(self.order)
        picked: list[int] = []
        for _ in range(k):
            FS = F @ S  # n x P
            var = np.einsum("np,np->n", FS, F)
            if criterion == "i":
                # total variance reduction: ||F S φ_x||^2 / (φ_x^T S φ_x + s2) = φ_x^T S G S φ_x / (...)
                score = np.einsum("np,np->n", FS @ gram, FS) / (var + s2)
            else:
                score = var.copy()
            score[picked] = -np.inf
            i = int(np.argmax(score))
            picked.append(i)
            u = FS[i]
            S = S - np.outer(u, u) / (var[i] + s2)
        return np.array(picked, dtype=np.int64)


def meta_train(
    target_metric: str,
    protocol: Literal["help", "lodo"] = "lodo",
    order: int = 2,
    dataset: str = "cifar10",
) -> MetaLatencyPrior:
    """Meta-train a prior for ``target_metric`` with no data of its physical device.

    Args:
        target_metric: the held-out device's metric (`latency_metrics`).
        protocol: ``"help"`` — HELP's meta-train and meta-validation devices (13 HELP columns); ``"lodo"`` —
            every other column of the table (`latency_tasks`: HELP's settings, HW-NAS-Bench latency/energy on all
            three datasets) except those of the same physical device (other batch sizes and datasets too).
        order: feature order.
        dataset: the target's dataset.

    Returns:
        The fitted `MetaLatencyPrior`.
    """
    _check_metric(target_metric, dataset)
    phys = physical_device(target_metric)
    if protocol == "help":
        tasks = [LatencyTask(_HELP_PREFIX + d) for d in (*HELP_META_TRAIN, *HELP_META_VALID)]
    elif protocol == "lodo":
        tasks = latency_tasks()
    else:
        raise InvalidChoiceError("protocol", protocol, ("help", "lodo"))
    tasks = [t for t in tasks if t.device != phys]
    return MetaLatencyPrior.fit(tasks, order=order)


def fewshot_spearman(
    prior: MetaLatencyPrior,
    target_metric: str,
    k: int,
    seed: int | None = 0,
    dataset: str = "cifar10",
    indices: Sequence[int] | np.ndarray | None = None,
    trim: float = 0.0,
) -> float:
    """Spearman ρ over every cell with a value of the target after adapting ``prior`` to ``k`` measured cells.

    Args:
        prior: meta-trained prior (without the target's device).
        target_metric: the held-out device's metric.
        k: number of measured cells (0: the prior mean alone).
        seed: seed of the uniform draw of the ``k`` cells (among cells with a value).
        dataset: the target's dataset.
        indices: use these cells instead of a random draw (e.g. `MetaLatencyPrior.select_reference`).
        trim: score only cells whose true value lies between the ``trim`` and ``1 - trim`` quantiles (HELP's
            evaluation drops the fastest and slowest 10%: ``trim=0.1``); measured cells may come from anywhere.

    Returns:
        Spearman ρ between predictions and the table over all cells with a value (15,625 for HELP devices), or
        over the trimmed middle.
    """
    ds = _check_metric(target_metric, dataset)
    y = LatencyTask(target_metric, ds).values()
    ok = np.flatnonzero(~np.isnan(y))
    if indices is None:
        idx = np.random.default_rng(seed).choice(ok, size=k, replace=False)
    else:
        idx = np.asarray(indices, dtype=np.int64)[:k]
        idx = idx[~np.isnan(y[idx])]
    model = prior.adapt_indices(idx, y[idx], target_metric, ds)
    if trim > 0:
        lo, hi = np.quantile(y[ok], [trim, 1.0 - trim])
        ok = ok[(y[ok] >= lo) & (y[ok] <= hi)]
    return float(spearmanr(model.predict_space()[ok], y[ok])[0])
