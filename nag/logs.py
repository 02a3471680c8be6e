"""Quiet Lightning runs: its banners, tips and known-harmless warnings off unless asked for (DEVELOPERS.md)."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable

__all__ = ["quiet_lightning"]

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
