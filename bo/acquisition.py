"""Acquisition functions: how a surrogate's posterior turns into the architectures to query next.

Every function here speaks the `bo.surrogate.Surrogate` interface (``posterior(x) -> (mean, variance)``), so the
callers (`bo.candidates.DiffusionBO` and its BANANAS preset) never look inside a model.

* `ucb` — upper confidence bound ``mean + sqrt(beta) · std`` (Srinivas et al., ICML 2010; BoTorch's convention for
  ``beta``). BANANAS (White et al., AAAI 2021) scores its mutation pool with it here (the paper's independent
  Thompson sampling replaced by UCB over the same ensemble).
* `ucb_objective` — the UCB as a differentiable ``graph -> B`` objective, what guides the diffusion sampler.
* `select_ucb` — the ``q`` best candidates of a pool by UCB.
* `select_qlogei` — ``q`` candidates by batch log expected improvement (``qLogEI``, Ament et al., NeurIPS 2023) with
  BoTorch's sequential greedy discrete optimiser (`botorch.optim.optimize_acqf_discrete`).
* `probability_of_feasibility` — ``P(c(x) <= bound)`` (or ``>=``) under a Gaussian posterior (Gardner et al., ICML
  2014), what the constrained search multiplies over its constraints.
* `select` — dispatch on the acquisition's name (`ACQUISITIONS`).

RoBoT's acquisition over metric weights (`bo.robot`) is BoTorch's ``UpperConfidenceBound`` on a continuous box and
lives with that search.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from nag.errors import InvalidChoiceError
from nag.graph import ArchGraph

if TYPE_CHECKING:
    from bo.surrogate import BoTorchSurrogate, Surrogate

__all__ = [
    "ACQUISITIONS",
    "ucb",
    "ucb_objective",
    "select_ucb",
    "select_qlogei",
    "select",
    "probability_of_feasibility",
]

#: Acquisition names `select` accepts.
ACQUISITIONS: tuple[str, ...] = ("ucb", "logei")


def ucb(mean: torch.Tensor, variance: torch.Tensor, beta: float) -> torch.Tensor:
    """Upper confidence bound ``mean + sqrt(beta) · sqrt(variance)`` (``B`` each; BoTorch's ``beta``).

    Args:
        mean: ``B`` posterior means.
        variance: ``B`` posterior variances (``>= 0``).
        beta: exploration weight (``>= 0``; 0 is the posterior mean).

    Returns:
        ``B`` scores, differentiable in ``mean`` and ``variance``.
    """
    return mean + beta**0.5 * variance.sqrt()


def ucb_objective(
    surrogate: Surrogate, beta: float, scale: float = 1.0
) -> Callable[[ArchGraph], torch.Tensor]:
    """``graph -> B``: the surrogate's guidance objective (`Surrogate.objective`: UCB for a GP), divided by
    ``scale`` (e.g. the spread of the observed signals, so a guidance scale means the same for every signal)."""
    return surrogate.objective(beta, scale)


def select_ucb(surrogate: Surrogate, pool: Sequence[Any], q: int, beta: float) -> list[int]:
    """Indices of the ``q`` candidates of ``pool`` with the highest UCB (best first; ``len(pool)`` at most)."""
    with torch.no_grad():
        mean, var = surrogate.posterior(pool)
        score = ucb(mean, var, beta)
    return torch.argsort(score, descending=True)[:q].tolist()


def select_qlogei(surrogate: BoTorchSurrogate, pool: Sequence[Any], q: int, best_f: float) -> list[int]:
    """Indices of ``q`` candidates of ``pool`` chosen jointly by ``qLogEI`` (sequential greedy, no repeats).

    Args:
        surrogate: a surrogate backed by a BoTorch model (`bo.surrogate.BoTorchSurrogate`).
        pool: the candidates (``P`` architectures).
        q: batch size (``min(q, P)`` come back).
        best_f: the best observed signal (the improvement threshold), in the signal's unit.
    """
    from botorch.acquisition.logei import qLogExpectedImprovement
    from botorch.optim import optimize_acqf_discrete

    acq = qLogExpectedImprovement(surrogate.model, best_f=best_f)
    X = surrogate.model_inputs(pool)  # P x D', the model's own input space
    chosen, _ = optimize_acqf_discrete(acq, q=min(q, len(pool)), choices=X, unique=True)
    rows = {tuple(r.tolist()): i for i, r in enumerate(X)}
    return [rows[tuple(r.tolist())] for r in chosen]


def select(
    acquisition: str, surrogate: Surrogate, pool: Sequence[Any], q: int, *, beta: float, best_f: float
) -> list[int]:
    """The ``q`` candidates of ``pool`` the acquisition named ``acquisition`` picks (indices, best first).

    ``"logei"`` needs a BoTorch-backed surrogate (`bo.surrogate.BoTorchSurrogate`); with any other the UCB picks.

    Raises:
        InvalidChoiceError: ``acquisition`` is not one of `ACQUISITIONS`.
    """
    from bo.surrogate import BoTorchSurrogate

    if acquisition not in ACQUISITIONS:
        raise InvalidChoiceError("acquisition", acquisition, ACQUISITIONS)
    if acquisition == "logei" and isinstance(surrogate, BoTorchSurrogate):
        return select_qlogei(surrogate, pool, q, best_f)
    return select_ucb(surrogate, pool, q, beta)


def probability_of_feasibility(
    mean: torch.Tensor, variance: torch.Tensor, bound: float, op: str
) -> np.ndarray:
    """``P(c <= bound)`` (``op`` ``"<="``/``"<"``) or ``P(c >= bound)`` (``">="``/``">"``) for ``c ~ N(mean, variance)``.

    Args:
        mean, variance: ``B`` each.

    Returns:
        ``B`` probabilities in ``[0, 1]``.

    Raises:
        InvalidChoiceError: unknown ``op``.
    """
    from scipy.stats import norm

    if op not in ("<=", "<", ">=", ">"):
        raise InvalidChoiceError("op", op, ["<=", "<", ">=", ">"])
    z = ((bound - mean) / variance.sqrt()).numpy()
    return norm.cdf(z) if op in ("<=", "<") else norm.cdf(-z)
