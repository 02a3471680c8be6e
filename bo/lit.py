"""Lightning training of a search space's network on real Fashion-MNIST images, for `bo.oracles.TrainingOracle`.

`train_classifier` builds the network, trains it with SGD (Nesterov momentum, cosine learning rate, as the
NAS-Bench-201 training recipe) for a few epochs on a seeded split of the 10,000 Fashion-MNIST images in
``shared/data/images``, and returns validation and test accuracy. Lightning's banners, summaries, loggers and
checkpoints are off: one call is one oracle query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nag.config import Config
from nag.logs import quiet_lightning, quiet_trainer

__all__ = ["TrainSettings", "LitClassifier", "fashion_mnist_split", "train_classifier"]


@dataclass(frozen=True)
class TrainSettings(Config):
    """One training run (see `bo.oracles.TrainingOracle` for the meaning of each field)."""

    epochs: int = 3
    n_train: int = 5000
    n_val: int = 2500
    n_test: int = 2500
    batch_size: int = 128
    lr: float = 0.1
    seed: int = 0
    size: int = 28
    accelerator: str = "cpu"
    threads: int = 1


class LitClassifier(L.LightningModule):
    """Cross-entropy training of any ``B x 3 x H x W -> B x K`` network with SGD and a cosine schedule."""

    def __init__(self, net: nn.Module, lr: float, epochs: int) -> None:
        super().__init__()
        self.net = net
        self.lr = lr
        self.epochs = epochs
        self.last_loss = float("nan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out[1] if isinstance(out, tuple) else out

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.last_loss = float(loss.detach())
        return loss

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(self.epochs, 1))
        return {"optimizer": opt, "lr_scheduler": sched}


def fashion_mnist_split(
    n_train: int, n_val: int, n_test: int, seed: int = 0, size: int = 28
) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    """Disjoint train / validation / test sets drawn by a seeded permutation of the 10,000 real images.

    Images are normalised with the Fashion-MNIST mean/std, resized to ``size`` (bilinear) where it differs from 28
    and replicated to 3 channels: ``n x 3 x size x size`` float32 and ``n`` int64 labels.
    """
    from predictors.zero_cost.data import FMNIST_MEAN, FMNIST_STD, load_fashion_mnist

    images, labels = load_fashion_mnist()
    idx = np.random.default_rng(seed).permutation(len(images))
    parts = np.split(idx[: n_train + n_val + n_test], [n_train, n_train + n_val])
    out = []
    for p in parts:
        x = torch.from_numpy(images[p].astype(np.float32) / 255.0).unsqueeze(1)
        if size != x.shape[-1]:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        x = ((x - FMNIST_MEAN) / FMNIST_STD).expand(-1, 3, -1, -1).contiguous()
        out.append(TensorDataset(x, torch.from_numpy(labels[p].astype(np.int64))))
    return out[0], out[1], out[2]


@torch.no_grad()
def _accuracy(model: nn.Module, data: TensorDataset, batch_size: int) -> float:
    model.eval()
    correct = 0
    for x, y in DataLoader(data, batch_size=max(batch_size, 256)):
        correct += int((model(x).argmax(-1) == y).sum())
    return 100.0 * correct / len(data)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, data: TensorDataset, batch_size: int) -> None:
    """Recompute BatchNorm running statistics of the final weights from the training images ("precise BN").

    After a few hundred steps the exponential running averages still mix statistics of early weights, and
    evaluation accuracy collapses towards chance although the training loss has fallen; one pass in training mode
    with a cumulative average (``momentum=None``) gives the statistics of the trained network.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for x, _ in DataLoader(data, batch_size=batch_size):
        model(x)
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    model.eval()


def _quiet() -> None:
    quiet_lightning()


def train_classifier(build: Callable[[], nn.Module], cfg: TrainSettings) -> dict[str, float]:
    """Train the network ``build()`` returns; ``{"val_acc", "test_acc", "train_loss"}`` (accuracies in %).

    ``torch.manual_seed(cfg.seed)`` precedes building the network and the data order, so a call is reproducible.
    """
    _quiet()
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        train, val, test = fashion_mnist_split(cfg.n_train, cfg.n_val, cfg.n_test, cfg.seed, cfg.size)
        torch.manual_seed(cfg.seed)
        model = LitClassifier(build(), cfg.lr, cfg.epochs)
        loader = DataLoader(
            train,
            batch_size=cfg.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(cfg.seed),
        )
        trainer = quiet_trainer(max_epochs=cfg.epochs, accelerator=cfg.accelerator)
        trainer.fit(model, loader)
        model = model.cpu()
        recalibrate_batchnorm(model, train, cfg.batch_size)
        return {
            "val_acc": _accuracy(model, val, cfg.batch_size),
            "test_acc": _accuracy(model, test, cfg.batch_size),
            "train_loss": model.last_loss,
        }
    finally:
        torch.set_num_threads(threads)
