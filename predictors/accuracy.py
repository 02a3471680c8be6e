"""Accuracy predictors: a deep ensemble of bidirectional DAG GNNs, clean or noise-aware.

`EnsemblePredictor` (Lakshminarayanan et al. 2017, deep ensembles; as in BANANAS, White et al. 2021) holds ``K``
`DAGEncoder` + MLP-head members with different seeded initialisations; the prediction is the members' mean and the
uncertainty their standard deviation. Each head reads the graph embedding, differentiable graph statistics (share of
each operation, edge and node counts) and, optionally, extra per-architecture features such as training-free metrics
(signed-log transformed and standardised; zero-cost features improve small-sample predictors markedly: White et al.
2021 "How powerful are performance predictors", Akhauri et al. 2022 "EZNAS"/"Multi-predict"). Targets are
standardised; training minimises MSE plus a pairwise ranking loss (`predictors.lit`).

Noise-aware mode (``noise_aware=True``; DiffusionNAG, An et al. 2024): the encoder embeds the diffusion timestep and is
trained on graphs noised by a given `GraphDiffusionModel`'s own forward process at uniformly drawn timesteps, so its
input is exactly what the sampler passes to guidance (``X = (x_t + 1) / 2``, ``A = (a_t + 1) / 2`` or the fixed
adjacency). The schedule's config and fingerprint are stored; `EnsemblePredictor.as_guidance` refuses a model with
another schedule (`nag.diffusion.schedules.ScheduleMismatchError`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from nag.config import Config
from nag.errors import InvalidChoiceError
from nag.graph import ArchGraph
from predictors.base import Prediction, Predictor
from predictors.encoders import DAGEncoder, EncoderConfig, KLinear, soft_adjacency

__all__ = [
    "AccuracyPredictorConfig",
    "EnsemblePredictor",
    "EnsembleNet",
    "FeatureScaler",
    "graph_statistics",
]

FORMAT = "nag.predictor/1"


@dataclass(frozen=True)
class AccuracyPredictorConfig(Config):
    """Model and training settings of an `EnsemblePredictor` (stored in its checkpoint).

    Attributes:
        ops: operation vocabulary of the graphs (``V``).
        ensemble: number of members ``K``.
        hidden / layers: encoder size (`EncoderConfig`).
        head_hidden: width of each member's MLP head.
        graph_stats: feed `graph_statistics` to the heads.
        feature_names: names of the extra per-graph features expected by `fit`/`predict` (``F`` columns, in order).
        noise_aware: embed the diffusion timestep and train on noised graphs.
        t_power: noise-aware timestep sampling ``t = floor(T · u^p)`` (1 = uniform; see `predictors.lit.FitOptions`).
            2 (half the draws below ``T/4``) ranked better than uniform at every ``t <= 400`` of the NB201 cosine
            schedule in our benchmark (τ at t=0: 0.74 vs 0.67, N=300).
        max_epochs / patience / batch_size / lr / weight_decay / rank_weight: optimisation (`predictors.lit`).
            ``rank_weight = 6`` beat 1 and 3 on each of 5 seeds (NB201 CIFAR-10, N=100; 12 was no better).
        val_fraction: share of the training set held out for early stopping on Kendall τ.
        refit: after early stopping, retrain from the same initialisation on the whole training set for the best
            validation epoch count (so the held-out graphs are not lost for training).
        min_epochs: epochs always trained before early stopping may pick a best epoch.
        min_val: below this many validation graphs, no split is made and training runs ``max_epochs``.
        calibrate: after training, map the standardised ensemble mean to target units by least squares on the
            training set (``y ≈ α s + β``, ``α > 0``) instead of the training labels' mean and spread: the ranking
            loss widens the spread of raw outputs (an uncalibrated NB201 predictor shows 109 % "accuracy"); the map
            is monotone, so rankings, UCB orders and guidance are unchanged.
        seed: seeds initialisation, split and minibatches.
        accelerator: Lightning accelerator for training.
    """

    ops: tuple[str, ...]
    ensemble: int = 5
    hidden: int = 64
    layers: int = 3
    head_hidden: int = 64
    graph_stats: bool = True
    feature_names: tuple[str, ...] = ()
    noise_aware: bool = False
    t_power: float = 2.0
    max_epochs: int = 400
    patience: int = 50
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    rank_weight: float = 6.0
    val_fraction: float = 0.2
    refit: bool = True
    min_epochs: int = 100
    min_val: int = 8
    calibrate: bool = True
    seed: int = 0
    accelerator: str = "cpu"

    def __post_init__(self) -> None:
        if self.ensemble < 1:
            raise ValueError(f"ensemble: must be >= 1, got {self.ensemble}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction: must be in [0, 1), got {self.val_fraction}")


def graph_statistics(X: torch.Tensor, A: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Differentiable per-graph statistics: ``B x (V + 2)``.

    Columns: the share of nodes carrying each operation (``V``), edges per node, and nodes / ``N``.

    Args:
        X: ``B x N x V`` (relaxed allowed); A: ``B x N x N`` (strict upper triangle used); mask: ``B x N`` bool.
    """
    m = mask.to(X.dtype)
    nodes = m.sum(-1, keepdim=True).clamp(min=1)
    op_share = (X * m.unsqueeze(-1)).sum(1) / nodes
    edges = soft_adjacency(A, mask).sum((-1, -2)).unsqueeze(-1) / nodes
    return torch.cat([op_share, edges, nodes / X.shape[1]], -1)


class FeatureScaler:
    """Signed-log transform then standardisation of extra features; NaN/inf become 0 (the training mean).

    ``z = (sign(x) log1p(|x|) - μ) / σ`` with ``μ``, ``σ`` of the training rows (``σ = 1`` for constant columns).
    """

    def __init__(self, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> None:
        self.mean, self.std = mean, std

    @staticmethod
    def _log(F: np.ndarray) -> np.ndarray:
        F = np.asarray(F, dtype=np.float64)
        F = np.where(np.isfinite(F), F, np.nan)
        return np.sign(F) * np.log1p(np.abs(F))

    def fit(self, F: np.ndarray) -> FeatureScaler:
        """Fit on ``B x F`` training rows."""
        L = self._log(F)
        with np.errstate(all="ignore"):
            self.mean = np.nan_to_num(np.nanmean(L, 0)) if L.shape[0] else np.zeros(L.shape[1])
            std = np.nanstd(L, 0) if L.shape[0] else np.ones(L.shape[1])
        self.std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        return self

    def transform(self, F: np.ndarray) -> torch.Tensor:
        """``B x F`` float32 standardised features."""
        if self.mean is None or self.std is None:
            raise RuntimeError("FeatureScaler: call fit first")
        Z = (self._log(F) - self.mean) / self.std
        return torch.as_tensor(np.nan_to_num(Z, nan=0.0), dtype=torch.float32)

    def state(self) -> dict:
        return {
            "mean": None if self.mean is None else self.mean.tolist(),
            "std": None if self.std is None else self.std.tolist(),
        }

    @classmethod
    def from_state(cls, s: dict) -> FeatureScaler:
        to = lambda v: None if v is None else np.asarray(v, dtype=np.float64)  # noqa: E731
        return cls(to(s["mean"]), to(s["std"]))


class EnsembleNet(nn.Module):
    """``K`` encoder + head members run as one batched network: ``(X, A, mask, t, feats) -> K x B``.

    Args:
        cfg: the predictor config (sizes, graph statistics, number of extra features, ``K``, seed).
    """

    def __init__(self, cfg: AccuracyPredictorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        k = cfg.ensemble
        enc = EncoderConfig(len(cfg.ops), cfg.hidden, cfg.layers, time_embedding=cfg.noise_aware)
        self.encoder = DAGEncoder(enc, members=k, seed=cfg.seed)
        n_extra = (len(cfg.ops) + 2 if cfg.graph_stats else 0) + len(cfg.feature_names)
        base = cfg.seed * 1_000_003 + 500_000
        self.hidden = KLinear(k, self.encoder.out_dim + n_extra, cfg.head_hidden, base)
        self.out = KLinear(k, cfg.head_hidden, 1, base + 1)

    def _extra(self, X, A, mask, feats) -> torch.Tensor:
        parts = [graph_statistics(X, A, mask)] if self.cfg.graph_stats else []
        if feats is not None:
            parts.append(feats.to(X.dtype))
        return torch.cat(parts, -1) if parts else X.new_zeros(X.shape[0], 0)

    def hidden_features(self, X, A, mask, t=None, feats=None) -> torch.Tensor:
        """``K x B x head_hidden``: each member's penultimate activations."""
        z = self.encoder.embed_members(X, A, mask, t)
        extra = self._extra(X, A, mask, feats)
        extra = extra.unsqueeze(0).expand(z.shape[0], *extra.shape)
        return torch.relu(self.hidden(torch.cat([z, extra], -1)))

    def forward(self, X, A, mask, t=None, feats=None) -> torch.Tensor:
        """``K x B`` standardised predictions (shapes as in `predictors.encoders.DAGEncoder.node_states`)."""
        return self.out(self.hidden_features(X, A, mask, t, feats)).squeeze(-1)


def _diffusion_noiser(diffusion) -> Callable:
    """``(X, A, mask, t) -> (X_t, A_t)`` from a `GraphDiffusionModel`'s own forward process, as the sampler sees it."""

    def noiser(X, A, mask, t):
        if diffusion.alphas_cumprod.device != X.device:  # Lightning moves the batch, not this closure's model
            diffusion.to(X.device)
        g = diffusion.noisy_graph(ArchGraph(X=X, A=A, mask=mask.bool(), ops=diffusion.ops), t)
        return g.X, g.A

    return noiser


class EnsemblePredictor(Predictor):
    """Deep-ensemble GNN accuracy predictor on `ArchGraph` (see the module docstring).

    Args:
        cfg: model and training settings.

    Attributes:
        net: the `EnsembleNet` (standardised outputs).
        y_mean / y_std: target standardisation of the training set.
        scaler: the `FeatureScaler` of the extra features (``None`` without features).
        schedule: the diffusion `ScheduleConfig` a noise-aware predictor was trained with (``None`` until fitted).
        metrics: training metrics (validation τ, epochs, seconds) and anything added by the caller.
    """

    kind = "accuracy_ensemble"

    def __init__(self, cfg: AccuracyPredictorConfig) -> None:
        self.cfg = cfg
        self.noise_aware = cfg.noise_aware
        self.net = EnsembleNet(cfg)
        self.y_mean, self.y_std = 0.0, 1.0
        self.scaler: FeatureScaler | None = None
        self.schedule = None
        self.metrics: dict[str, Any] = {}

    # ------------------------------------------------------------------ helpers
    def _check_graphs(self, graphs: ArchGraph) -> None:
        if graphs.ops != self.cfg.ops:
            raise InvalidChoiceError("graphs.ops", graphs.ops, [self.cfg.ops])

    def _features(self, features, b: int) -> torch.Tensor | None:
        n = len(self.cfg.feature_names)
        if n == 0:
            if features is not None:
                raise ValueError("features: this predictor was built without extra features; pass None")
            return None
        if features is None:
            raise ValueError(
                f"features: this predictor needs {n} features per graph: {', '.join(self.cfg.feature_names)}"
            )
        F = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
        if F.shape != (b, n):
            raise ValueError(f"features: expected shape {(b, n)}, got {F.shape}")
        if self.scaler is None:
            raise RuntimeError("predictor is not fitted")
        return self.scaler.transform(F)

    def _t(self, t: torch.Tensor | int | None, b: int, device) -> torch.Tensor | None:
        if not self.noise_aware:
            if t is not None and bool(torch.as_tensor(t).ne(0).any()):
                raise ValueError("t: a clean predictor only accepts clean graphs (t = 0 or None)")
            return None
        if t is None:
            t = 0
        t = torch.as_tensor(t, dtype=torch.long, device=device)
        return t.expand(b) if t.dim() == 0 else t

    def _device(self) -> torch.device:
        return next(self.net.parameters()).device

    # ------------------------------------------------------------------ training
    def fit(
        self,
        graphs: ArchGraph,
        y: torch.Tensor,
        features: np.ndarray | torch.Tensor | None = None,
        diffusion=None,
        **kwargs: Any,
    ) -> dict[str, float]:
        """Train on ``B`` graphs.

        Args:
            graphs: ``B`` clean training graphs.
            y: ``B`` targets (e.g. test accuracy in %); larger is better.
            features: ``B x F`` extra features in `AccuracyPredictorConfig.feature_names` order (raw values).
            diffusion: the `GraphDiffusionModel` whose forward process noises the inputs (noise-aware only;
                required there). Its schedule is recorded.

        Returns:
            Training metrics: ``val_tau`` (Kendall τ on the held-out split, NaN without one), ``epochs``,
            ``best_epoch``, ``train_seconds``, ``n_train``, ``n_val``.
        """
        from predictors.lit import FitOptions, fit_ensemble

        self._check_graphs(graphs)
        y = torch.as_tensor(y, dtype=torch.float32).flatten()
        b = graphs.batch_size
        if y.shape[0] != b:
            raise ValueError(f"y: expected {b} targets, got {y.shape[0]}")
        if not bool(torch.isfinite(y).all()):
            raise ValueError("y: targets must be finite (drop unlabelled architectures first)")
        if b < 2:
            raise ValueError(f"graphs: need at least 2 training graphs, got {b}")
        if self.noise_aware:
            if diffusion is None:
                raise ValueError(
                    "diffusion: a noise-aware predictor is trained with a GraphDiffusionModel's schedule"
                )
            if diffusion.ops != self.cfg.ops:
                raise InvalidChoiceError("diffusion.ops", diffusion.ops, [self.cfg.ops])
            self.schedule = diffusion.schedule
        elif diffusion is not None:
            raise ValueError("diffusion: only noise-aware predictors take a diffusion model")
        if len(self.cfg.feature_names):
            if features is None:
                raise ValueError(
                    f"features: need {len(self.cfg.feature_names)} columns: {', '.join(self.cfg.feature_names)}"
                )
            F = (
                features.detach().cpu().numpy()
                if isinstance(features, torch.Tensor)
                else np.asarray(features)
            )
            self.scaler = FeatureScaler().fit(F)
        feats = self._features(features, b)
        if feats is None:
            feats = torch.zeros(b, 0)

        self.y_mean = float(y.mean())
        self.y_std = float(y.std()) if b > 1 and float(y.std()) > 0 else 1.0
        ys = (y - self.y_mean) / self.y_std

        rng = np.random.default_rng(self.cfg.seed)
        perm = torch.as_tensor(rng.permutation(b))
        n_val = int(round(self.cfg.val_fraction * b))
        if n_val < self.cfg.min_val or b - n_val < 2:
            n_val = 0
        tr, va = perm[n_val:], perm[:n_val]
        X, A, M = graphs.X.float(), graphs.A.float(), graphs.mask
        train = (X[tr], A[tr], M[tr], feats[tr], ys[tr])
        val = None
        noiser = _diffusion_noiser(diffusion) if self.noise_aware else None
        T = self.schedule.num_train_timesteps if self.noise_aware else 0
        if n_val:
            Xv, Av, Mv = X[va], A[va], M[va]
            tv = torch.zeros(n_val, dtype=torch.long)
            if noiser is not None:
                # validate on clean copies and on copies noised at fixed seeded timesteps in the first half of the
                # schedule (where guidance matters most)
                g = torch.Generator().manual_seed(self.cfg.seed + 1)
                tn = torch.randint(0, T // 2, (n_val,), generator=g)
                with torch.random.fork_rng():
                    torch.manual_seed(self.cfg.seed + 2)
                    Xn, An = noiser(Xv, Av, Mv, tn)
                Xv, Av, Mv = torch.cat([Xv, Xn]), torch.cat([Av, An]), torch.cat([Mv, Mv])
                tv = torch.cat([tv, tn])
                val = (Xv, Av, Mv, torch.cat([feats[va], feats[va]]), torch.cat([ys[va], ys[va]]), tv)
            else:
                val = (Xv, Av, Mv, feats[va], ys[va], tv)
        opts = FitOptions(
            max_epochs=self.cfg.max_epochs,
            min_epochs=self.cfg.min_epochs,
            patience=self.cfg.patience,
            batch_size=self.cfg.batch_size,
            lr=self.cfg.lr,
            weight_decay=self.cfg.weight_decay,
            rank_weight=self.cfg.rank_weight,
            num_timesteps=T,
            t_power=self.cfg.t_power,
            accelerator=self.cfg.accelerator,
            seed=self.cfg.seed,
        )
        self.net.train()
        hist = fit_ensemble(self.net, train, val, opts, noiser)
        n_fit = b - n_val
        if val is not None and self.cfg.refit:
            epochs = int(hist["best_epoch"]) + 1
            self.net = EnsembleNet(self.cfg)  # the same seeded initialisation
            self.net.train()
            full = (X, A, M, feats, ys)
            refit = fit_ensemble(
                self.net, full, None, replace(opts, max_epochs=epochs, min_epochs=epochs), noiser
            )
            hist = {
                **hist,
                "train_seconds": hist["train_seconds"] + refit["train_seconds"],
                "refit_epochs": float(epochs),
            }
            n_fit = b
        self.net.eval()
        self.metrics = {**hist, "n_train": float(n_fit), "n_val": float(n_val)}
        if self.cfg.calibrate:
            self._calibrate(graphs, y, features)
        return dict(self.metrics)

    @torch.no_grad()
    def _calibrate(self, graphs: ArchGraph, y: torch.Tensor, features) -> None:
        """Least-squares ``y ≈ α s + β`` of the ``B`` training targets on the standardised ensemble mean ``s``
        (clean graphs, ``t = 0``); kept as the output scale (`y_std`, `y_mean`) when ``α > 0``."""
        s = self.standardized(graphs, 0 if self.noise_aware else None, features).mean(0).double().cpu()
        yd = y.double().cpu()
        var = float(((s - s.mean()) ** 2).mean())
        if var <= 0:
            return
        alpha = float(((s - s.mean()) * (yd - yd.mean())).mean()) / var
        if alpha > 0 and math.isfinite(alpha):
            self.y_std, self.y_mean = alpha, float(yd.mean() - alpha * s.mean())
            self.metrics.update({"calibration_alpha": alpha, "calibration_beta": self.y_mean})

    # ------------------------------------------------------------------ inference
    def standardized(
        self, graphs: ArchGraph, t: torch.Tensor | int | None = None, features=None
    ) -> torch.Tensor:
        """``K x B`` standardised member predictions, differentiable in ``graphs.X`` / ``graphs.A``.

        Args:
            graphs: ``B`` graphs (relaxed values allowed; noisy ones need ``t`` on noise-aware predictors).
            t: ``B`` long timesteps (or one int for all); ``None``/0 for clean graphs.
            features: ``B x F`` raw extra features (required iff the predictor has ``feature_names``).
        """
        self._check_graphs(graphs)
        dev = graphs.X.device
        if self._device() != dev:
            self.net.to(dev)
        b = graphs.batch_size
        feats = self._features(features, b)
        return self.net(
            graphs.X.float(),
            graphs.A.float(),
            graphs.mask,
            self._t(t, b, dev),
            None if feats is None else feats.to(dev),
        )

    @torch.no_grad()
    def predict(
        self,
        graphs: ArchGraph,
        t: torch.Tensor | int | None = None,
        features: np.ndarray | torch.Tensor | None = None,
        batch_size: int = 4096,
    ) -> Prediction:
        """Ensemble mean and standard deviation in target units (``B`` each), in batches of ``batch_size``."""
        self.net.eval()
        means, stds = [], []
        b = graphs.batch_size
        tt = None if t is None else torch.as_tensor(t, dtype=torch.long)
        for s in range(0, b, batch_size):
            sl = slice(s, min(b, s + batch_size))
            ts = None if tt is None else (tt if tt.dim() == 0 else tt[sl])
            fs = None if features is None else features[sl]
            p = self.standardized(graphs[sl], ts, fs) * self.y_std + self.y_mean
            means.append(p.mean(0).cpu())
            stds.append(p.std(0, unbiased=False).cpu() if p.shape[0] > 1 else torch.zeros(p.shape[1]))
        return Prediction(mean=torch.cat(means), std=torch.cat(stds) if self.cfg.ensemble > 1 else None)

    @torch.no_grad()
    def embed(
        self,
        graphs: ArchGraph,
        t: torch.Tensor | int | None = None,
        features: np.ndarray | torch.Tensor | None = None,
        member: int | None = 0,
    ) -> torch.Tensor:
        """Learnt features for BO surrogates: a member's penultimate activations, ``B x head_hidden``.

        Args:
            member: which member (default the first); ``None`` concatenates all members (``B x K·head_hidden``).
        """
        if member is not None and not 0 <= member < self.cfg.ensemble:
            raise InvalidChoiceError("member", member, list(range(self.cfg.ensemble)))
        self.net.eval()
        self._check_graphs(graphs)
        b = graphs.batch_size
        feats = self._features(features, b)
        h = self.net.hidden_features(
            graphs.X.float().to(self._device()),
            graphs.A.float().to(self._device()),
            graphs.mask.to(self._device()),
            self._t(t, b, self._device()),
            None if feats is None else feats.to(self._device()),
        ).cpu()
        return h[member] if member is not None else h.permute(1, 0, 2).reshape(b, -1)

    # ------------------------------------------------------------------ guidance
    def check_schedule(self, schedule) -> None:
        """Raise unless this noise-aware predictor was trained with ``schedule`` (a `ScheduleConfig` or a model).

        Raises:
            ValueError: the predictor is not noise-aware or not fitted.
            nag.diffusion.schedules.ScheduleMismatchError: a different forward process.
        """
        if not self.noise_aware:
            raise ValueError(
                "check_schedule: this predictor is not noise-aware (it was trained on clean graphs)"
            )
        if self.schedule is None:
            raise ValueError("check_schedule: the noise-aware predictor is not fitted yet")
        other = getattr(schedule, "schedule", schedule)
        self.schedule.check_same(other, "noise-aware predictor")

    def as_guidance(self, diffusion, kappa: float = 0.0) -> Callable[[ArchGraph, torch.Tensor], torch.Tensor]:
        """A differentiable ``fn(x_t, t) -> B`` for `nag.diffusion.sampler.GuidanceTerm`.

        ``fn`` returns the ensemble mean of the standardised predicted accuracy (plus ``kappa`` times the ensemble
        standard deviation, an optimistic bonus when ``kappa > 0``) of the relaxed graph ``x_t`` at timesteps ``t``
        (``B`` long). Its gradient with respect to ``x_t.X`` (and ``x_t.A`` where edges are generated) is the
        guidance signal.

        Args:
            diffusion: the `GraphDiffusionModel` (or its `ScheduleConfig`) that will sample.
            kappa: weight of the ensemble spread.

        Raises:
            ScheduleMismatchError: ``diffusion`` has another noise schedule than the one trained with.
            ValueError: not noise-aware, or the predictor needs extra (non-differentiable) features.
        """
        self.check_schedule(diffusion)
        if self.cfg.feature_names:
            raise ValueError(
                "as_guidance: the predictor uses extra features that do not exist for noisy graphs"
            )
        self.net.eval()

        def fn(x_t: ArchGraph, t: torch.Tensor) -> torch.Tensor:
            p = self.standardized(x_t, t)
            return p.mean(0) + kappa * p.std(0, unbiased=False) if kappa else p.mean(0)

        return fn

    def as_objective(self, kappa: float = 0.0) -> Callable[..., torch.Tensor]:
        """A differentiable ``fn(graph, t=None, features=None) -> B`` on clean graphs (``t`` ignored): the
        standardised ensemble mean (+ ``kappa`` · spread), e.g. for re-ranking final candidates."""
        self.net.eval()

        def fn(graph: ArchGraph, t: torch.Tensor | None = None, features=None) -> torch.Tensor:
            p = self.standardized(graph, 0 if self.noise_aware else None, features)
            return p.mean(0) + kappa * p.std(0, unbiased=False) if kappa else p.mean(0)

        return fn

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "config": self.cfg.to_dict(),
            "weights": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "y_mean": self.y_mean,
            "y_std": self.y_std,
            "scaler": None if self.scaler is None else self.scaler.state(),
            "schedule": None if self.schedule is None else self.schedule.to_dict(),
            "schedule_fingerprint": None if self.schedule is None else self.schedule.fingerprint(),
            "metrics": _plain(self.metrics),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EnsemblePredictor:
        if state.get("format") != FORMAT:
            raise InvalidChoiceError("format", state.get("format"), [FORMAT])
        p = cls(AccuracyPredictorConfig.from_dict(state["config"]))
        p.net.load_state_dict(state["weights"])
        p.net.eval()
        p.y_mean, p.y_std = float(state["y_mean"]), float(state["y_std"])
        p.scaler = None if state["scaler"] is None else FeatureScaler.from_state(state["scaler"])
        if state["schedule"] is not None:
            from nag.diffusion.schedules import ScheduleConfig

            p.schedule = ScheduleConfig.from_dict(state["schedule"])
            if p.schedule.fingerprint() != state["schedule_fingerprint"]:
                raise ValueError("checkpoint schedule_fingerprint does not match its schedule config")
        p.metrics = dict(state.get("metrics", {}))
        return p

    def with_config(self, **changes: Any) -> EnsemblePredictor:
        """A fresh, unfitted predictor with some settings changed."""
        return EnsemblePredictor(replace(self.cfg, **changes))

    def __repr__(self) -> str:
        c = self.cfg
        return (
            f"EnsemblePredictor(K={c.ensemble}, V={len(c.ops)}, hidden={c.hidden}, layers={c.layers}, "
            f"features={len(c.feature_names)}, noise_aware={c.noise_aware})"
        )


def _plain(d: dict) -> dict:
    """JSON-friendly copy of a metrics dict (floats, ints, strings, nested dicts/lists)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out[k] = _plain(v)
        elif isinstance(v, torch.Tensor | np.ndarray):
            out[k] = np.asarray(v).tolist()
        elif isinstance(v, float) and math.isnan(v):
            out[k] = float("nan")
        else:
            out[k] = v
    return out
