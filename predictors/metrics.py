"""Ranking metrics of performance predictors: Kendall τ-b, Spearman ρ and top-k precision.

All take 1-D arrays (NumPy or torch) of equal length and ignore pairs where either value is NaN. Kendall's τ-b is
computed in ``O(n log n)`` (Knight 1966: sort by ``x`` then ``y``, count the inversions of ``y``), so scoring a
predictor on all 15,625 NAS-Bench-201 cells is cheap.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import rankdata

__all__ = ["kendall_tau", "spearman", "top_k_precision"]


def _clean(pred, true) -> tuple[np.ndarray, np.ndarray]:
    p = pred.detach().cpu().numpy() if isinstance(pred, torch.Tensor) else np.asarray(pred)
    t = true.detach().cpu().numpy() if isinstance(true, torch.Tensor) else np.asarray(true)
    p, t = p.astype(np.float64).ravel(), t.astype(np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"pred and true must have the same length, got {p.shape[0]} and {t.shape[0]}")
    keep = ~(np.isnan(p) | np.isnan(t))
    return p[keep], t[keep]


def _tied_pairs(sorted_values: np.ndarray) -> int:
    """Pairs of equal values in an already sorted array."""
    if sorted_values.size == 0:
        return 0
    change = np.flatnonzero(np.diff(sorted_values)) + 1
    counts = np.diff(np.concatenate(([0], change, [sorted_values.size])))
    return int((counts * (counts - 1) // 2).sum())


def _inversions(a: np.ndarray) -> int:
    """Number of pairs ``i < j`` with ``a[i] > a[j]`` (``a`` integer ranks ``0..m-1``), by a Fenwick tree."""
    m = int(a.max()) + 1 if a.size else 0
    tree = np.zeros(m + 1, dtype=np.int64)
    inv = 0
    for seen, v in enumerate(a.tolist()):
        # count already-seen values <= v, the rest are greater: inversions with the current element
        i, le = v + 1, 0
        while i > 0:
            le += tree[i]
            i -= i & -i
        inv += seen - le
        i = v + 1
        while i <= m:
            tree[i] += 1
            i += i & -i
    return int(inv)


def kendall_tau(pred, true) -> float:
    """Kendall's τ-b between predictions and true values (NaN when fewer than 2 pairs or a constant input).

    Args:
        pred: ``B`` predicted scores.
        true: ``B`` true values.
    """
    x, y = _clean(pred, true)
    n = x.size
    if n < 2:
        return math.nan
    order = np.lexsort((y, x))  # by x, then y
    x, y = x[order], y[order]
    n0 = n * (n - 1) // 2
    xtie = _tied_pairs(x)
    # joint ties: runs where both x and y are equal (already adjacent after the lexicographic sort)
    joint = np.concatenate(([True], (np.diff(x) != 0) | (np.diff(y) != 0), [True]))
    runs = np.diff(np.flatnonzero(joint))
    ntie = int((runs * (runs - 1) // 2).sum())
    ytie = _tied_pairs(np.sort(y))
    y_rank = np.unique(y, return_inverse=True)[1].astype(np.int64)
    dis = _inversions(y_rank)
    con_minus_dis = n0 - xtie - ytie + ntie - 2 * dis
    denom = math.sqrt(float(n0 - xtie) * float(n0 - ytie))
    return math.nan if denom == 0 else float(con_minus_dis / denom)


def spearman(pred, true) -> float:
    """Spearman's ρ (Pearson correlation of average ranks); NaN for fewer than 2 values or a constant input."""
    x, y = _clean(pred, true)
    if x.size < 2:
        return math.nan
    rx, ry = rankdata(x) - (x.size + 1) / 2, rankdata(y) - (y.size + 1) / 2
    denom = math.sqrt(float((rx * rx).sum()) * float((ry * ry).sum()))
    return math.nan if denom == 0 else float((rx * ry).sum() / denom)


def top_k_precision(pred, true, k: int | float) -> float:
    """Share of the predicted top-``k`` that is in the true top-``k`` (larger = better for both).

    Args:
        pred: ``B`` predicted scores.
        true: ``B`` true values.
        k: a count (int ``>= 1``) or a fraction of ``B`` in ``(0, 1]`` (float).
    """
    x, y = _clean(pred, true)
    kk = int(k) if isinstance(k, int) else max(1, int(round(float(k) * x.size)))
    if isinstance(k, float) and not 0 < k <= 1:
        raise ValueError(f"k: a fraction must be in (0, 1], got {k}")
    if kk < 1 or kk > x.size:
        raise ValueError(f"k: must be in 1..{x.size}, got {k}")
    top_pred = set(np.argsort(-x, kind="stable")[:kk].tolist())
    top_true = set(np.argsort(-y, kind="stable")[:kk].tolist())
    return len(top_pred & top_true) / kk
