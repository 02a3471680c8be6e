"""Quiet Lightning runs: its banners, tips and known-harmless warnings off unless asked for (DEVELOPERS.md)."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from typing import Any

__all__ = ["quiet_lightning", "quiet_trainer"]

_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning")
#: Warnings every training run of the project would print and none needs: small in-memory data loaders, a
#: deprecation inside Lightning's pytree use.
_COMMON = (".*does not have many workers.*", ".*LeafSpec.*")


def quiet_lightning(extra: Iterable[str] = ()) -> None:
    """Silence Lightning's loggers and the common harmless warnings, plus the ``extra`` message patterns."""
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for msg in (*_COMMON, *extra):
        warnings.filterwarnings("ignore", message=msg)
    os.environ.setdefault("POSSIBLE_USER_WARNINGS", "off")


def quiet_trainer(**kwargs: Any):
    """A ``lightning.Trainer`` for the project's short in-process fits: one device, no logger, checkpoints,
    progress bar, model summary or sanity validation, unless ``kwargs`` say otherwise (they override)."""
    import lightning as L

    quiet_lightning()
    opts: dict[str, Any] = {
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    }
    opts.update(kwargs)
    return L.Trainer(**opts)
