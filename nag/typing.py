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


def parse_seeds(text: str | int | list[int]) -> list[int]:
    """Seeds from ``"0-9"``, ``"0,3,5"``, ``"0-2,7"``, an int or a list (the experiments' ``--seeds``)."""
    if isinstance(text, int):
        return [text]
    if isinstance(text, list):
        return [int(s) for s in text]
    out: list[int] = []
    for part in str(text).split(","):
        a, _, b = part.strip().partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out
