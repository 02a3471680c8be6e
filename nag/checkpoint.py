"""Checkpoints that cannot run code: the one loader behind every ``torch.load``, and the shipped generators.

A checkpoint is a plain container (dicts, lists, strings, numbers, ``None``) of tensors, read with
``torch.load(weights_only=True)``: PyTorch's restricted unpickler refuses any other global, so a crafted file cannot
execute anything while it is read. Configs are stored as plain dicts (``to_dict``), never as objects.

Every failure is one line that names the file and what was expected. For a path the user gave the error is
`NagInputError` (CLI exit 2); for a file the program found itself (a shipped checkpoint) it is `NagRuntimeError`
(exit 1). A Lightning training checkpoint (``last.ckpt``) is recognised and the message says which file to pass.
"""

from __future__ import annotations

import pickle
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

from nag.errors import NagInputError, NagRuntimeError

__all__ = [
    "load_checkpoint",
    "default_checkpoint",
    "checkpoint_error",
    "missing_generator_error",
    "CHECKPOINT_PACKAGE",
]

#: The package whose data files are the shipped checkpoints (``checkpoints/`` at the top of the checkout, installed
#: as package data so `default_checkpoint` works from a wheel as well as from a checkout).
CHECKPOINT_PACKAGE = "checkpoints"

_LIGHTNING_KEYS = ("pytorch-lightning_version", "lightning_version")


def default_checkpoint(space_name: str) -> Path:
    """The shipped diffusion generator of ``space_name`` (``checkpoints/diffusion_<space>.pt``).

    Found with `importlib.resources`, so it resolves in an installed wheel and in a checkout alike. The path may not
    exist (spaces without a shipped generator); callers check and say how to train one.
    """
    return Path(str(resources.files(CHECKPOINT_PACKAGE) / f"diffusion_{space_name}.pt"))


def checkpoint_error(path: str | Path, problem: str, expected: str, user_given: bool = True) -> Exception:
    """The one-line error for checkpoint ``path``: `NagInputError` when the user named it, else `NagRuntimeError`."""
    cls = NagInputError if user_given else NagRuntimeError
    field = "checkpoint: " if user_given else "checkpoint file "
    return cls(f"{field}{str(path)!r} {problem}; expected {expected}")


def _is_lightning(path: Path) -> bool:
    """Whether ``path`` is a Lightning training checkpoint (its pickle names Lightning's version key).

    Looks at the raw pickle bytes inside the zip archive without unpickling anything, so it also recognises
    Lightning files whose hyper-parameters hold objects that the restricted loader refuses.
    """
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("data.pkl")]
            raw = z.read(names[0]) if names else b""
    except (OSError, zipfile.BadZipFile, KeyError):
        return False
    return any(k.encode() in raw for k in _LIGHTNING_KEYS)


def _reason(msg: str) -> str:
    """The informative part of a torch loading error, on one short line."""
    if "WeightsUnpickler error:" in msg:
        msg = msg.split("WeightsUnpickler error:", 1)[1]
    lines = [ln.strip() for ln in msg.strip().splitlines() if ln.strip()]
    return lines[0][:120] if lines else ""


def load_checkpoint(path: str | Path, expected: str, *, user_given: bool = True) -> dict[str, Any]:
    """Read checkpoint ``path`` as a plain dict of tensors without executing code from it.

    Args:
        path: the file.
        expected: what the caller wants, for error messages (e.g. ``"a nag.diffusion/1 model file written by
            `nag train diffusion` (RUN_DIR/model.pt)"``).
        user_given: the user named ``path`` (errors are `NagInputError`, exit 2) or the program found it
            (`NagRuntimeError`, exit 1).

    Returns:
        The checkpoint's top-level dict (tensors on the CPU).

    Raises:
        NagInputError | NagRuntimeError: missing file, a folder, a Lightning training checkpoint, a file holding
            objects other than tensors and plain containers (refused, never run), a damaged file, or a top level
            that is not a dict. The message names the file and ``expected``.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise checkpoint_error(path, "does not exist", expected, user_given)
    if not path.is_file():
        raise checkpoint_error(path, "is not a file", expected, user_given)
    if _is_lightning(path):
        raise checkpoint_error(
            path,
            "is a Lightning training checkpoint (for resuming `nag train diffusion`); pass the model file written "
            f"beside it, {str(path.with_name('model.pt'))!r}",
            expected,
            user_given,
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        if "Unsupported global:" in msg:
            # the restricted unpickler met a global it does not allow: the file wants to build objects or run code
            what = msg.split("Unsupported global:", 1)[1].split(" was not an allowed global")[0].strip()
            problem = (
                f"holds objects other than tensors and plain containers (refused, not run: {what[:100]})"
            )
        else:
            problem = f"is not a readable torch checkpoint ({_reason(msg)})"
        raise checkpoint_error(path, problem, expected, user_given) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as e:
        problem = (
            f"is not a readable torch checkpoint ({type(e).__name__}: {_reason(str(e)) or 'no details'})"
        )
        raise checkpoint_error(path, problem, expected, user_given) from None
    if not isinstance(state, dict):
        raise checkpoint_error(path, f"holds a {type(state).__name__}, not a dict", expected, user_given)
    return state


def missing_generator_error(space_name: str, path: str | Path) -> NagInputError:
    """The error for a space whose generator file is missing: where it looked and how to make one."""
    return NagInputError(
        f"checkpoint: no diffusion generator for space {space_name!r} ({str(path)!r} does not exist); accepted: a "
        f"model file written by `nag train diffusion --space {space_name} --out RUN_DIR` (RUN_DIR/model.pt), or "
        f"an install from a checkout of the repository (`pip install -e .`), whose checkpoints/ holds every shipped "
        f"generator (a wheel carries only diffusion_nb201.pt)"
    )
