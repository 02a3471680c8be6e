"""The `Predictor` interface: performance models on `ArchGraph` batches, with save/load.

A predictor maps a batch of architecture graphs (clean, or noisy ``x_t`` at diffusion timestep ``t`` for noise-aware
ones) to a predicted value per graph, optionally with an uncertainty, and to a feature vector per graph for
Bayesian optimisation (`Predictor.embed`). Checkpoints hold config + weights + metrics (+ the noise-schedule
fingerprint of noise-aware predictors) and rebuild the predictor alone (`load_predictor`).
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from nag.checkpoint import checkpoint_error, load_checkpoint
from nag.errors import InvalidChoiceError
from nag.graph import ArchGraph
from nag.io import atomic_write_bytes

__all__ = ["Prediction", "Predictor", "PREDICTOR_CLASSES", "load_predictor"]

#: checkpoint ``kind`` -> "module:Class" (filled by the implementations' modules, resolved lazily by `load_predictor`).
PREDICTOR_CLASSES: dict[str, str] = {
    "accuracy_ensemble": "predictors.accuracy:EnsemblePredictor",
}


@dataclass(frozen=True)
class Prediction:
    """Predicted values of a batch.

    Attributes:
        mean: ``B`` predicted values, in the units of the training targets.
        std: ``B`` predictive standard deviation (ensemble spread), or ``None`` when the model has none.
    """

    mean: torch.Tensor
    std: torch.Tensor | None = None


class Predictor(ABC):
    """A performance model on `ArchGraph` batches.

    Class attributes:
        kind: the checkpoint tag that `load_predictor` resolves through `PREDICTOR_CLASSES`.
        noise_aware: ``True`` when `predict` accepts noisy graphs with a timestep ``t``.
    """

    kind: ClassVar[str]
    noise_aware: bool = False

    @abstractmethod
    def fit(self, graphs: ArchGraph, y: torch.Tensor, **kwargs: Any) -> dict[str, float]:
        """Train on ``B`` graphs with targets ``y`` (``B``); returns training metrics (e.g. validation τ)."""

    @abstractmethod
    def predict(self, graphs: ArchGraph, t: torch.Tensor | None = None, **kwargs: Any) -> Prediction:
        """Predict ``B`` values; ``t`` (``B`` long) is the diffusion timestep of noisy inputs (noise-aware only)."""

    @abstractmethod
    def embed(self, graphs: ArchGraph, t: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        """``B x D`` learnt features of the graphs (for BO surrogates)."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Everything `from_state` needs: ``kind``, config, weights, metrics, and any schedule fingerprint."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any]) -> Predictor:
        """Rebuild a predictor from `state`."""

    # ------------------------------------------------------------------ provided
    def save(self, path: str | Path) -> Path:
        """Atomic ``torch.save`` of `state` to ``path``; returns the path."""
        path = Path(path)
        buf = io.BytesIO()
        torch.save(self.state(), buf)
        atomic_write_bytes(path, buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path, *, user_given: bool = True) -> Predictor:
        """Load a checkpoint written by `save` (any registered predictor kind); see `load_predictor`."""
        return load_predictor(path, user_given=user_given)


#: What a predictor checkpoint is, for error messages.
CHECKPOINT_EXPECTED = (
    "a predictor file written by `nag train predictor --out FILE.pt` (kinds: "
    + ", ".join(PREDICTOR_CLASSES)
    + ")"
)


def load_predictor(path: str | Path, *, user_given: bool = True) -> Predictor:
    """Rebuild whichever predictor ``path`` holds, without executing anything from the file.

    Read through `nag.checkpoint.load_checkpoint` (``weights_only``: tensors and plain containers only).

    Raises:
        NagInputError | NagRuntimeError: (a user-given | a found) file that is missing, hostile, damaged or lacks a
            field; the message names the file.
        InvalidChoiceError: the checkpoint's ``kind`` is not registered in `PREDICTOR_CLASSES` (the file named).
    """
    import importlib

    state = load_checkpoint(path, CHECKPOINT_EXPECTED, user_given=user_given)
    kind = state.get("kind")
    if kind not in PREDICTOR_CLASSES:
        raise InvalidChoiceError(f"kind of checkpoint {str(path)!r}", kind, list(PREDICTOR_CLASSES))
    module, cls = PREDICTOR_CLASSES[kind].split(":")
    try:
        return getattr(importlib.import_module(module), cls).from_state(state)
    except KeyError as e:
        problem = f"lacks the field {e.args[0]!r}"
    except (TypeError, ValueError, RuntimeError, AttributeError) as e:
        msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        problem = f"does not hold a valid {kind} predictor ({msg})"
    raise checkpoint_error(path, problem, CHECKPOINT_EXPECTED, user_given)
