"""Lightning training of the graph diffusion model: DataModule over a space's architectures, LightningModule
with EMA weights, checkpoints that resume, and `train_diffusion` tying them together.

Runs unchanged on CPU, one GPU or many: ``accelerator``, ``devices`` and ``strategy`` are passed to the Trainer.
Lightning's banners, tips and model summary are off unless ``verbose=True``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from nag.config import Config
from nag.diffusion.denoiser import DenoiserConfig
from nag.diffusion.model import GraphDiffusionModel
from nag.diffusion.schedules import ScheduleConfig
from nag.graph import ArchGraph
from nag.logs import quiet_lightning
from nag.spaces.base import sample_distinct

__all__ = ["TrainConfig", "GraphDataModule", "LitDiffusion", "train_diffusion", "training_archs"]


@dataclass
class TrainConfig(Config):
    """Everything a diffusion training run depends on (stored in the checkpoint).

    Attributes:
        space: search-space name.
        train_fraction: share of the space's architectures used for training (the rest is held out, so novelty is
            measurable); 1.0 trains on all.
        max_train_archs: distinct training architectures for spaces that are sampled rather than enumerated.
        seed: seeds the split, initialisation and noise.
        max_steps: optimiser steps.
        max_minutes: wall-clock cap (the run stops cleanly and saves).
        batch_size: graphs per step.
        lr: AdamW learning rate (cosine-decayed to 10%).
        weight_decay: AdamW weight decay.
        ema_decay: decay of the exponential moving average of the weights used for sampling.
        d_model / n_layers / n_heads / ffn_mult: denoiser size.
        schedule: the forward process.
    """

    space: str = "nb201"
    train_fraction: float = 1.0
    max_train_archs: int = 30_000
    seed: int = 0
    max_steps: int = 6000
    max_minutes: float = 10.0
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    # the denoiser's size: its defaults are `DenoiserConfig`'s (one source)
    d_model: int = DenoiserConfig.d_model
    n_layers: int = DenoiserConfig.n_layers
    n_heads: int = DenoiserConfig.n_heads
    ffn_mult: int = DenoiserConfig.ffn_mult
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


def training_archs(space, cfg: TrainConfig) -> tuple[list, list]:
    """``(train, held_out)`` architectures for ``space``: a seeded split of the whole space where it is enumerable,
    else distinct architectures (by `canonical`) from seeded draws of ``space.sample`` until the training part holds
    ``max_train_archs`` (the held-out part takes the rest of ``max_train_archs / train_fraction``)."""
    rng = np.random.default_rng(cfg.seed)
    if hasattr(space, "enumerate") and getattr(space, "size", 10**9) <= 10**6:
        archs = (
            list(space.enumerate_product())
            if hasattr(space, "enumerate_product")
            else list(space.enumerate())
        )
        perm = rng.permutation(len(archs))
        k = max(1, round(cfg.train_fraction * len(archs)))
        return [archs[i] for i in perm[:k]], [archs[i] for i in perm[k:]]
    target = int(np.ceil(cfg.max_train_archs / max(cfg.train_fraction, 1e-3)))
    # distinct architectures, in the order first drawn
    pool = sample_distinct(
        lambda: space.sample(20_000, seed=rng), space.canonical, target, max_draws=50 * target
    )
    k = max(1, round(cfg.train_fraction * len(pool)))
    return pool[:k], pool[k:]


class _GraphSet(Dataset):
    def __init__(self, graph: ArchGraph) -> None:
        self.graph = graph

    def __len__(self) -> int:
        return self.graph.batch_size

    def __getitem__(self, i: int) -> int:
        return i


class GraphDataModule(L.LightningDataModule):
    """Batches of encoded architectures (an `ArchGraph` per batch)."""

    def __init__(self, train: ArchGraph, val: ArchGraph | None, batch_size: int, seed: int) -> None:
        super().__init__()
        self.train, self.val, self.batch_size, self.seed = train, val, batch_size, seed

    def _collate(self, graph: ArchGraph):
        return lambda idx: graph[torch.as_tensor(idx)]

    def train_dataloader(self) -> DataLoader:
        g = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            _GraphSet(self.train),
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=self.train.batch_size > self.batch_size,
            generator=g,
            collate_fn=self._collate(self.train),
        )

    def val_dataloader(self) -> DataLoader | list:
        if self.val is None or self.val.batch_size == 0:
            return []
        return DataLoader(_GraphSet(self.val), batch_size=2048, collate_fn=self._collate(self.val))


class LitDiffusion(L.LightningModule):
    """Trains a `GraphDiffusionModel`; keeps an EMA copy that is what gets saved and sampled."""

    def __init__(self, model: GraphDiffusionModel, cfg: TrainConfig) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.ema = copy.deepcopy(model).requires_grad_(False)
        self.started = time.perf_counter()

    def training_step(self, batch: ArchGraph, batch_idx: int) -> torch.Tensor:
        loss = self.model.loss(batch)
        self.log("train_loss", loss, prog_bar=True, batch_size=batch.batch_size)
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        d = min(self.cfg.ema_decay, (1 + self.global_step) / (10 + self.global_step))
        with torch.no_grad():
            for pe, pm in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                pe.lerp_(pm, 1 - d)
        if (time.perf_counter() - self.started) / 60 > self.cfg.max_minutes:
            self.trainer.should_stop = True

    def validation_step(self, batch: ArchGraph, batch_idx: int) -> None:
        g = torch.Generator().manual_seed(1234 + batch_idx)
        self.log("val_loss", self.ema.loss(batch.to("cpu"), g), prog_bar=True, batch_size=batch.batch_size)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: float(0.1 + 0.45 * (1 + np.cos(np.pi * min(s / max(self.cfg.max_steps, 1), 1.0))))
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def transfer_batch_to_device(
        self, batch: ArchGraph, device: torch.device, dataloader_idx: int
    ) -> ArchGraph:
        return batch.to(device)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["nag_train_config"] = self.cfg.to_dict()
        checkpoint["nag_elapsed_s"] = time.perf_counter() - self.started


def _quiet(verbose: bool) -> None:
    if verbose:
        return
    quiet_lightning(
        (
            ".*Total length of .* across ranks is zero.*",
            ".*overridden `transfer_batch_to_device`.*",
            ".*resuming from a checkpoint that ended before the epoch ended.*",
        )
    )


class _StepProgressBar(L.pytorch.callbacks.RichProgressBar):
    """Lightning's rich bar on stderr, described by optimiser steps: training is bounded by ``max_steps`` (the
    epoch count is unbounded, which the stock bar prints as "Epoch 3/-2")."""

    def __init__(self) -> None:
        super().__init__(console_kwargs={"stderr": True})

    def _get_train_description(self, current_epoch: int) -> str:
        return f"step {self.trainer.global_step}/{self.trainer.max_steps}"


def train_diffusion(
    space,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    accelerator: str = "auto",
    devices: int | str = "auto",
    strategy: str = "auto",
    progress: bool = True,
    verbose: bool = False,
    resume: bool = True,
) -> tuple[GraphDiffusionModel, dict]:
    """Train a diffusion model for ``space``; resumes from ``out_dir/last.ckpt`` when present.

    Writes ``out_dir/last.ckpt`` (Lightning state, every 200 steps and at the end) and ``out_dir/model.pt`` (the
    EMA model with config and metrics, via `GraphDiffusionModel.save`).

    Returns:
        ``(ema_model, info)`` with the training set, elapsed seconds and the final losses in ``info``.
    """
    _quiet(verbose)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, verbose=False)
    train, held = training_archs(space, cfg)
    tg = space.encode(train)
    vg = space.encode(held[:4096]) if held else None
    model = GraphDiffusionModel.for_space(
        space,
        tg,
        cfg.schedule,
        d_model=cfg.d_model,
        n_layers=cfg.n_layers,
        n_heads=cfg.n_heads,
        ffn_mult=cfg.ffn_mult,
    )
    lit = LitDiffusion(model, cfg)
    ckpt_cb = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=out_dir, save_last=True, every_n_train_steps=200, save_top_k=0
    )
    trainer = L.Trainer(
        max_steps=cfg.max_steps,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        callbacks=[ckpt_cb, _StepProgressBar()] if progress else [ckpt_cb],
        logger=False,
        enable_progress_bar=progress,
        enable_model_summary=verbose,
        num_sanity_val_steps=0,
        val_check_interval=min(500, cfg.max_steps),
        check_val_every_n_epoch=None,
        deterministic=False,
    )
    last = out_dir / "last.ckpt"
    t0 = time.perf_counter()
    trainer.fit(
        lit,
        datamodule=GraphDataModule(tg, vg, cfg.batch_size, cfg.seed),
        ckpt_path=last if resume and last.exists() else None,
    )
    elapsed = time.perf_counter() - t0
    trainer.save_checkpoint(last)
    info = {
        "train_archs": train,
        "held_out_archs": held,
        "elapsed_s": elapsed,
        "steps": int(trainer.global_step),
        "train_loss": float(trainer.callback_metrics.get("train_loss", float("nan"))),
        "val_loss": float(trainer.callback_metrics.get("val_loss", float("nan"))),
        "params": model.denoiser.num_parameters(),
    }
    ema = lit.ema.cpu().eval()
    ema.save(
        out_dir / "model.pt",
        metrics={k: v for k, v in info.items() if not k.endswith("archs")},
        extra={"train_config": cfg.to_dict(), "train_archs": [space.format(a) for a in train]},
    )
    return ema, info
