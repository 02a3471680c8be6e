"""Lightning training of predictor ensembles — the only module of `predictors` that imports Lightning.

`fit_ensemble` trains every member of an ensemble network at once (one optimiser over all members; each member sees
the same minibatches but starts from its own seeded initialisation) with MSE on standardised targets plus a pairwise
logistic ranking loss (as in RankNet, Burges et al. 2005; ranking losses help most at small training sets, Ning et
al. 2020). Early stopping watches the Kendall τ of the ensemble mean on a held-out validation split; the weights of
the best validation epoch are restored. Noise-aware training draws a timestep per graph and noises the batch with the
diffusion model's forward process at every step. Banners, tips and the model summary are off.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from nag.logs import quiet_lightning, quiet_trainer
from predictors.metrics import kendall_tau

__all__ = ["FitOptions", "LitEnsemble", "fit_ensemble", "pairwise_logistic_loss"]

#: ``(X, A, mask, t) -> (X_t, A_t)``: the forward noising of a batch at timesteps ``t`` (``B``).
Noiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class FitOptions:
    """Optimisation settings of `fit_ensemble` (no defaults: `AccuracyPredictorConfig` owns them).

    Attributes:
        max_epochs: epochs at most (one epoch = one pass over the training split).
        min_epochs: epochs always run; earlier epochs are never picked as the best (a small validation split is
            noisy, and an untrained head can rank well on a few graphs through the extra features alone).
        patience: epochs without a better validation τ before stopping.
        batch_size: graphs per step (a training split no larger than this trains full-batch).
        lr / weight_decay: AdamW settings.
        rank_weight: weight of the pairwise ranking loss against the MSE.
        num_timesteps: ``T`` of the diffusion schedule (noise-aware training draws ``t`` in ``0..T-1``).
        t_power: noise-aware training draws ``t = floor(T · u^p)`` with ``u`` uniform: ``p = 1`` is uniform,
            ``p > 1`` spends more steps at small ``t``, where the noisy graph still tells architectures apart.
        accelerator: Lightning accelerator (``"cpu"``, ``"gpu"``, ``"auto"``).
        seed: seeds minibatch order and noise.
    """

    max_epochs: int
    min_epochs: int
    patience: int
    batch_size: int
    lr: float
    weight_decay: float
    rank_weight: float
    num_timesteps: int
    t_power: float
    accelerator: str
    seed: int


def pairwise_logistic_loss(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean ``log(1 + exp(-sign(y_i - y_j)(p_i - p_j)))`` over ordered pairs with ``y_i != y_j``.

    Args:
        pred: ``K x B`` predictions of ``K`` members.
        y: ``B`` targets.
    """
    dy = y.unsqueeze(1) - y.unsqueeze(0)
    keep = dy > 0
    if not bool(keep.any()):
        return pred.sum() * 0.0
    dp = pred.unsqueeze(2) - pred.unsqueeze(1)  # K x B x B
    return torch.nn.functional.softplus(-dp[:, keep]).mean()


class LitEnsemble(L.LightningModule):
    """LightningModule around an ensemble network ``net(X, A, mask, t, feats) -> K x B``."""

    def __init__(self, net: torch.nn.Module, opts: FitOptions, noiser: Noiser | None = None) -> None:
        super().__init__()
        self.net = net
        self.opts = opts
        self.noiser = noiser
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.best_tau = float("-inf")
        self.best_epoch = -1
        self.best_state: dict[str, torch.Tensor] | None = None
        self.gen = torch.Generator().manual_seed(opts.seed)

    def _noisy(self, X, A, mask):
        if self.noiser is None:
            return X, A, None
        u = torch.rand(X.shape[0], generator=self.gen) ** self.opts.t_power
        t = (u * self.opts.num_timesteps).long().clamp(max=self.opts.num_timesteps - 1).to(X.device)
        Xt, At = self.noiser(X, A, mask, t)
        return Xt, At, t

    def training_step(self, batch, batch_idx):
        X, A, mask, feats, y, t_fixed = batch
        X, A, t = self._noisy(X, A, mask)
        pred = self.net(X, A, mask, t, feats)
        loss = ((pred - y.unsqueeze(0)) ** 2).mean()
        if self.opts.rank_weight > 0:
            loss = loss + self.opts.rank_weight * pairwise_logistic_loss(pred, y)
        return loss

    def validation_step(self, batch, batch_idx):
        X, A, mask, feats, y, t = batch
        pred = self.net(X, A, mask, t if self.noiser is not None else None, feats).mean(0)
        self._val.append((pred.detach().cpu(), y.detach().cpu()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        pred = torch.cat([p for p, _ in self._val])
        y = torch.cat([v for _, v in self._val])
        self._val.clear()
        tau = kendall_tau(pred, y)
        tau = -1.0 if tau != tau else tau  # a constant prediction is the worst case, not NaN
        self.log("val_tau", tau, prog_bar=False)
        if self.current_epoch + 1 < self.opts.min_epochs:
            return
        if tau > self.best_tau:
            self.best_tau, self.best_epoch = tau, self.current_epoch
            self.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        elif self.current_epoch - self.best_epoch >= self.opts.patience:
            # early stopping written here rather than Lightning's callback, which would count the warm-up epochs
            self.trainer.should_stop = True

    def configure_optimizers(self):
        return torch.optim.AdamW(self.net.parameters(), lr=self.opts.lr, weight_decay=self.opts.weight_decay)


def _quiet() -> None:
    quiet_lightning(
        (
            ".*smaller than the logging interval.*",
            ".*GPU available but not used.*",
            ".*have no `val_dataloader`.*",
        )
    )


def fit_ensemble(
    net: torch.nn.Module,
    train: tuple[torch.Tensor, ...],
    val: tuple[torch.Tensor, ...] | None,
    opts: FitOptions,
    noiser: Noiser | None = None,
) -> dict[str, float]:
    """Train ``net`` in place; restore the best-validation weights when ``val`` is given.

    Args:
        net: ``net(X, A, mask, t, feats) -> K x B`` standardised predictions.
        train: ``(X, A, mask, feats, y)`` with shapes ``B x N x V``, ``B x N x N``, ``B x N``, ``B x F``, ``B``.
        val: the same for the validation split, plus ``t`` (``B`` long: timesteps of already-noised noise-aware
            validation graphs, zeros otherwise), or ``None`` to train ``max_epochs`` without early stopping.
        opts: optimisation settings.
        noiser: forward noising for noise-aware training (``opts.num_timesteps`` must be set).

    Returns:
        ``{"epochs", "best_epoch", "val_tau", "train_seconds"}`` (``val_tau`` NaN without validation).
    """
    _quiet()
    if noiser is not None and opts.num_timesteps < 1:
        raise ValueError(
            "num_timesteps: noise-aware training needs the schedule's number of timesteps (>= 1)"
        )
    L.seed_everything(opts.seed, workers=False, verbose=False)
    zeros = torch.zeros(train[0].shape[0], dtype=torch.long)
    ds = TensorDataset(*train, zeros)
    gen = torch.Generator().manual_seed(opts.seed)
    loader = DataLoader(ds, batch_size=min(opts.batch_size, len(ds)), shuffle=True, generator=gen)
    lit = LitEnsemble(net, opts, noiser)
    val_loader = None if val is None else DataLoader(TensorDataset(*val), batch_size=4096)
    trainer = quiet_trainer(
        max_epochs=opts.max_epochs,
        min_epochs=min(opts.min_epochs, opts.max_epochs),
        accelerator=opts.accelerator,
        limit_val_batches=1.0 if val is not None else 0,
    )
    t0 = time.perf_counter()
    trainer.fit(lit, loader, val_loader)
    seconds = time.perf_counter() - t0
    if lit.best_state is not None:
        net.load_state_dict(lit.best_state)
    net.cpu()
    return {
        "epochs": float(trainer.current_epoch),
        "best_epoch": float(lit.best_epoch),
        "val_tau": lit.best_tau if val is not None else float("nan"),
        "train_seconds": seconds,
    }
