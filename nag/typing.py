"""Shared type aliases."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np

#: A seed or an existing generator; functions that sample accept either.
SeedLike: TypeAlias = int | np.random.Generator | None


def as_rng(seed: SeedLike) -> np.random.Generator:
    """Return a NumPy generator for ``seed`` (an int, ``None`` for fresh entropy, or a generator passed through)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
