"""Lightning training of a search space's network on the task's images, for `bo.oracles.TrainingOracle`.

`train_classifier` builds the network, trains it with SGD (Nesterov momentum, cosine learning rate, as the
NAS-Bench-201 training recipe) for a few epochs on a seeded split of the task's data (`TaskDataModule` over
`bo.task_data`: the 10,000 shipped Fashion-MNIST images by default, or ``imagefolder:DIR``, ``npz:FILE``,
``torchvision:NAME:ROOT``), optionally with the recipe's augmentation of the training images (`Augment`: random crop
with padding and horizontal flip), and returns validation and test accuracy; `fit_classifier` also returns the
trained network (what ``nag export`` writes). Lightning's banners, summaries, loggers and
checkpoints are off: one call is one oracle query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bo.task_data import DEFAULT_DATA, TaskSplit, make_split
from nag.config import Config
from nag.logs import quiet_lightning, quiet_trainer

__all__ = [
    "TrainSettings",
    "LitClassifier",
    "Augment",
    "TaskDataModule",
    "fashion_mnist_split",
    "fit_classifier",
    "train_classifier",
]


@dataclass(frozen=True)
class TrainSettings(Config):
    """One training run (see `bo.oracles.TrainingOracle` for the meaning of each field; ``data`` is a
    `bo.task_data.parse_data_spec` spec, split sizes None take 50 / 25 / 25 % of its images)."""

    epochs: int = 3
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    batch_size: int = 128
    lr: float = 0.1
    seed: int = 0
    size: int = 28
    accelerator: str = "cpu"
    threads: int = 1
    data: str = DEFAULT_DATA
    augment: bool = False


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


class Augment:
    """Collate training images with the CIFAR recipe's augmentation, drawn from a seeded generator.

    Each ``C x S x S`` image is zero-padded by ``pad`` pixels per side (zero is the channel mean after
    normalisation), cropped back to ``S x S`` at a uniformly random offset, and flipped left-right with probability
    1/2 (NAS-Bench-201's training: pad 4 on 32 x 32 images; ``pad`` defaults to ``max(1, round(S / 8))``). The
    draws come only from ``generator``, so the same seed gives the same augmented batches.

    Args:
        seed: seeds the generator (one per training run).
        pad: padding in pixels, or None for ``max(1, round(S / 8))``.
    """

    def __init__(self, seed: int, pad: int | None = None) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.pad = pad

    def __call__(self, batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.stack([b[0] for b in batch])
        y = torch.stack([b[1] for b in batch])
        n, _, h, w = x.shape
        pad = self.pad if self.pad is not None else max(1, round(min(h, w) / 8))
        padded = F.pad(x, (pad, pad, pad, pad))
        offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=self.generator)
        flips = torch.rand(n, generator=self.generator) < 0.5
        out = torch.empty_like(x)
        for i in range(n):
            dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
            crop = padded[i, :, dy : dy + h, dx : dx + w]
            out[i] = crop.flip(-1) if flips[i] else crop
        return out, y


class TaskDataModule(L.LightningDataModule):
    """The task's seeded train / validation / test split (`bo.task_data.make_split`) as a Lightning DataModule.

    Batches are ``B x 3 x size x size`` float32 normalised images and ``B`` int64 labels; the training loader
    shuffles with a generator seeded by ``seed``, augments with `Augment` (seeded by ``seed + 1``) where ``augment``
    is on, and drops a last batch of one image (BatchNorm cannot train on it). Validation and test images are never
    augmented.

    Args:
        data: a data spec (`bo.task_data.parse_data_spec`).
        n_train / n_val / n_test: split sizes (counts, fractions, or None for 50 / 25 / 25 %).
        seed: seeds the split and the batch order.
        size: input height and width (None keeps the images' own).
        batch_size: training minibatch size (evaluation uses at least 256).
        augment: random crop with padding and horizontal flip of the training images (`Augment`).
    """

    def __init__(
        self,
        data: str = DEFAULT_DATA,
        n_train: int | float | None = None,
        n_val: int | float | None = None,
        n_test: int | float | None = None,
        seed: int = 0,
        size: int | None = None,
        batch_size: int = 128,
        augment: bool = False,
    ) -> None:
        super().__init__()
        self.data, self.seed, self.size, self.batch_size = data, seed, size, batch_size
        self.augment = augment
        self.sizes = (n_train, n_val, n_test)
        self.split: TaskSplit | None = None

    @classmethod
    def from_settings(cls, cfg: TrainSettings) -> TaskDataModule:
        return cls(
            cfg.data, cfg.n_train, cfg.n_val, cfg.n_test, cfg.seed, cfg.size, cfg.batch_size, cfg.augment
        )

    def setup(self, stage: str | None = None) -> None:
        if self.split is None:  # the split is drawn once; Lightning calls setup per stage
            self.split = make_split(self.data, *self.sizes, seed=self.seed, size=self.size)

    def _split(self) -> TaskSplit:
        self.setup()
        assert self.split is not None
        return self.split

    @property
    def num_classes(self) -> int:
        return self._split().num_classes

    def train_dataloader(self) -> DataLoader:
        train = self._split().train
        return DataLoader(
            train,
            batch_size=self.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(self.seed),
            drop_last=len(train) % self.batch_size == 1,
            collate_fn=Augment(self.seed + 1) if self.augment else None,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._split().val, batch_size=max(self.batch_size, 256))

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self._split().test, batch_size=max(self.batch_size, 256))


def fashion_mnist_split(
    n_train: int, n_val: int, n_test: int, seed: int = 0, size: int = 28
) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    """Disjoint train / validation / test sets drawn by a seeded permutation of the 10,000 real images.

    Images are normalised with the Fashion-MNIST mean/std, resized to ``size`` (bilinear) where it differs from 28
    and replicated to 3 channels: ``n x 3 x size x size`` float32 and ``n`` int64 labels
    (`bo.task_data.make_split` of ``fashion-mnist``).
    """
    split = make_split("fashion-mnist", n_train, n_val, n_test, seed=seed, size=size)
    return split.train, split.val, split.test


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
    for x, _ in DataLoader(data, batch_size=batch_size, drop_last=len(data) % batch_size == 1):
        model(x)
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    model.eval()


def _quiet() -> None:
    quiet_lightning()


def fit_classifier(
    build: Callable[[], nn.Module], cfg: TrainSettings, data: TaskDataModule | None = None
) -> tuple[nn.Module, dict[str, float]]:
    """Train the network ``build()`` returns; the trained network (on the CPU, in eval mode, BatchNorm statistics
    recomputed) and ``{"val_acc", "test_acc", "train_loss"}`` (accuracies in %).

    ``torch.manual_seed(cfg.seed)`` precedes building the network and the data order, so a call is reproducible.
    The network must map ``B x 3 x size x size`` images to ``B x K`` logits, ``K`` the data's class count.

    Args:
        build: builds the untrained network.
        cfg: the recipe and the data (``cfg.data``, split sizes, ``cfg.size``, ``cfg.augment``).
        data: the split already drawn for ``cfg`` (e.g. `TaskDataModule.from_settings` kept across calls), or None
            to draw it.
    """
    _quiet()
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        dm = data if data is not None else TaskDataModule.from_settings(cfg)
        dm.setup("fit")
        split = dm._split()
        torch.manual_seed(cfg.seed)
        model = LitClassifier(build(), cfg.lr, cfg.epochs)
        trainer = quiet_trainer(max_epochs=cfg.epochs, accelerator=cfg.accelerator)
        # the training loader only: no validation loop, the network is evaluated once below
        trainer.fit(model, train_dataloaders=dm.train_dataloader())
        model = model.cpu()
        recalibrate_batchnorm(model, split.train, cfg.batch_size)
        return model.net.eval(), {
            "val_acc": _accuracy(model, split.val, cfg.batch_size),
            "test_acc": _accuracy(model, split.test, cfg.batch_size),
            "train_loss": model.last_loss,
        }
    finally:
        torch.set_num_threads(threads)


def train_classifier(
    build: Callable[[], nn.Module], cfg: TrainSettings, data: TaskDataModule | None = None
) -> dict[str, float]:
    """`fit_classifier` without the network: ``{"val_acc", "test_acc", "train_loss"}`` (accuracies in %)."""
    return fit_classifier(build, cfg, data)[1]
