"""The network a search picked, trained and written to a file a user deploys (``nag export``).

A search keeps no weights (a query trains, evaluates and discards its network), so `train_pick` rebuilds the pick's
network from the run's `bo.oracles.TrainingOracle` configuration and trains it with the run's recipe on the run's
data (the same seed: with the run's epochs on the CPU it reproduces the query's weights and accuracies), or longer
with ``epochs``. The written network takes pixels, not normalised images: `PixelClassifier` folds the training
split's per-channel normalisation into the graph, so a deployment needs only the input layout
(``B x 3 x S x S`` float32; ``uint8`` images divided by 255, float images as the data stored them; grey replicated
to 3 channels; resized to ``S``) and the class names, which the ``.json`` sidecar records.

Formats: ONNX (`save_onnx`: opset `ONNX_OPSET`, a dynamic batch axis, input ``pixels``, output ``logits``; loadable
with ONNX Runtime alone) and TorchScript (`save_torchscript`: ``torch.jit.load`` without NAG). Every file is written
atomically.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nag.errors import NagInputError
from nag.io import atomic_path, atomic_write_text

__all__ = [
    "ONNX_OPSET",
    "EXPORT_FORMATS",
    "PixelClassifier",
    "TrainedPick",
    "load_training_oracle",
    "train_pick",
    "save_onnx",
    "save_torchscript",
    "onnx_max_abs_diff",
    "export_pick",
]

#: The ONNX opset written (supported by ONNX Runtime >= 1.12).
ONNX_OPSET = 17
#: Output suffixes and their format.
EXPORT_FORMATS = {".onnx": "onnx", ".pt": "torchscript"}


class PixelClassifier(nn.Module):
    """``B x 3 x S x S`` pixels -> ``B x K`` logits: the training split's normalisation, then the network.

    Args:
        net: the trained network (``B x 3 x S x S`` normalised images -> ``B x K`` logits).
        mean / std: the per-channel statistics the training images were normalised with (3 each).
    """

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


@dataclass
class TrainedPick:
    """A run's pick, trained (`train_pick`).

    Attributes:
        module: the `PixelClassifier` (CPU, eval mode).
        info: what the ``.json`` sidecar records: the run, the architecture, the input layout, the classes, the
            recipe and the accuracies.
    """

    module: PixelClassifier
    info: dict[str, Any]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.info["input_shape"])  # type: ignore[return-value]


def load_training_oracle(run_dir: str | Path):
    """The `bo.oracles.TrainingOracle` of the run in ``run_dir``, rebuilt from its ``config.json`` (its data read and
    checked again).

    Raises:
        NagInputError: the run is not a training run (a benchmark run trained no network), or its data is gone or
            changed (the data checks' one-line errors).
        RunFileError: ``config.json`` is missing or damaged.
    """
    from bo.loop import load_config
    from bo.oracles import build_oracle

    run_dir = Path(run_dir)
    desc = dict(load_config(run_dir)["config"].get("oracle", {}))
    if desc.get("kind") != "training":
        what = desc.get("kind", "unknown")
        where = f" ({desc.get('space')} on {desc.get('dataset')})" if desc.get("dataset") else ""
        raise NagInputError(
            f"export: {str(run_dir)!r} is a {what} run{where}, which trained no network; accepted: the run "
            "directory of `nag search --data SPEC` (its data and recipe train the exported network)"
        )
    return build_oracle(desc)


def train_pick(
    run_dir: str | Path,
    epochs: int | None = None,
    accelerator: str | None = None,
    threads: int | None = None,
) -> TrainedPick:
    """Rebuild and train the pick of the run in ``run_dir`` (a ``--data`` run) with the run's data and recipe.

    Args:
        run_dir: a run directory of `bo.loop.run_search` with a `bo.oracles.TrainingOracle`.
        epochs: training epochs (None: the run's; more trains the pick longer).
        accelerator / threads: where to train (None: the run's settings).

    Raises:
        NagInputError: the run is not a training run, or no queried architecture meets its constraints.
        RunFileError: the run's files are missing or damaged.
    """
    import dataclasses

    from bo.lit import TaskDataModule, fit_classifier
    from bo.loop import load_run

    run_dir = Path(run_dir)
    state, _ = load_run(run_dir)
    oracle = load_training_oracle(run_dir)
    pick = state.pick()
    if pick["arch"] is None:
        raise NagInputError(
            f"export: the run in {str(run_dir)!r} has no pick (no queried architecture meets its constraints; "
            f"{state.n_queries} queries); accepted: a run with a pick"
        )
    arch = oracle.space.parse(pick["arch"])
    cfg = oracle.settings(epochs)
    if accelerator is not None:
        cfg = dataclasses.replace(cfg, accelerator=accelerator)
    if threads is not None:
        cfg = dataclasses.replace(cfg, threads=threads)
    dm = TaskDataModule.from_settings(cfg)
    dm.setup("fit")
    split = dm._split()
    t0 = time.perf_counter()
    net, res = fit_classifier(lambda: oracle.build_module(arch), cfg, dm)
    train_s = time.perf_counter() - t0
    module = PixelClassifier(net, split.mean, split.std).eval()
    shape = tuple(int(d) for d in split.train.tensors[0].shape[1:])
    info = {
        "run_dir": str(run_dir),
        "space": oracle.space_name,
        "arch": pick["arch"],
        "module_kwargs": oracle.module_kwargs,
        "num_classes": oracle.num_classes,
        "classes": list(split.classes),
        "input_shape": list(shape),
        "input": (
            f"B x {shape[0]} x {shape[1]} x {shape[2]} float32 pixels: uint8 images divided by 255 (float images as "
            f"the data stores them), grey replicated to 3 channels, resized to {shape[1]} x {shape[2]}; the "
            "normalisation below is inside the network"
        ),
        "output": f"B x {oracle.num_classes} logits (class i = classes[i])",
        "normalisation": {"mean": list(split.mean), "std": list(split.std)},
        "data": oracle.data,
        "recipe": {k: v for k, v in asdict(cfg).items() if k not in ("data",)},
        "search_val_acc": pick["signal"],
        "search_test_acc": pick["report"].get("test_acc"),
        "val_acc": res["val_acc"],
        "test_acc": res["test_acc"],
        "train_s": train_s,
    }
    return TrainedPick(module, info)


def _example(shape: tuple[int, int, int], batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand((batch, *shape), generator=torch.Generator().manual_seed(seed))


def save_onnx(module: nn.Module, path: str | Path, input_shape: tuple[int, int, int]) -> None:
    """Write ``module`` as ONNX (opset `ONNX_OPSET`, input ``pixels`` with a dynamic batch axis, output ``logits``)
    to ``path``, atomically.

    Uses torch's TorchScript-based exporter (``dynamo=False``): it needs only the ``onnx`` package, where the
    ``torch.export`` one also needs onnxscript and takes ~10x longer on these networks.

    Raises:
        NagInputError: the ``onnx`` package is not installed (``pip install 'nag[export]'``).
    """
    require_onnx()
    module = module.eval()
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
        torch.onnx.export(
            module,
            (_example(input_shape),),
            str(tmp),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=["pixels"],
            output_names=["logits"],
            dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}},
        )


def save_torchscript(module: nn.Module, path: str | Path, input_shape: tuple[int, int, int]) -> str:
    """Write ``module`` as TorchScript (``torch.jit.load`` reads it without NAG) to ``path``, atomically.

    Returns:
        ``"script"`` where ``torch.jit.script`` compiles the network, else ``"trace"`` (``torch.jit.trace`` on an
        example batch: these networks have no data-dependent control flow, so the trace is the network).
    """
    module = module.eval()
    try:
        scripted, how = torch.jit.script(module), "script"
    except Exception:  # noqa: BLE001 - TorchScript rejects many Python constructs (comprehensions, lists of lists)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scripted, how = torch.jit.trace(module, _example(input_shape)), "trace"
    with atomic_path(path) as tmp:
        torch.jit.save(scripted, str(tmp))
    return how


def require_onnx() -> None:
    """Raise a one-line `NagInputError` unless the ``onnx`` package (needed to write ONNX) imports."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise NagInputError(
            "--out: writing ONNX needs the onnx package, which is not installed; accepted: install it "
            "(pip install 'nag[export]') or a FILE.pt (TorchScript)"
        ) from None


def onnx_max_abs_diff(path: str | Path, module: nn.Module, input_shape: tuple[int, int, int]) -> float | None:
    """Largest absolute difference between ONNX Runtime's logits for the file and the module's, on 5 random
    images (a batch size other than the export's, so the dynamic axis is exercised); None without onnxruntime."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    x = _example(input_shape, batch=5, seed=1)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"pixels": x.numpy()})[0]
    with torch.no_grad():
        want = module.eval()(x).numpy()
    return float(np.abs(got - want).max())


def export_pick(trained: TrainedPick, out: str | Path) -> dict[str, Any]:
    """Write ``trained`` to ``out`` (format from the suffix, `EXPORT_FORMATS`) and its ``.json`` sidecar
    (``out`` + ``.json``); returns the sidecar's record (with ``format``, ``file`` and, for ONNX with onnxruntime
    installed, ``onnxruntime_max_abs_diff``)."""
    out = Path(out)
    fmt = EXPORT_FORMATS.get(out.suffix)
    if fmt is None:
        raise NagInputError(f"--out: {str(out)!r} has the wrong suffix; accepted: FILE.onnx or FILE.pt")
    info = dict(trained.info, format=fmt, file=str(out))
    if fmt == "onnx":
        save_onnx(trained.module, out, trained.input_shape)
        info["opset"] = ONNX_OPSET
        info["onnxruntime_max_abs_diff"] = onnx_max_abs_diff(out, trained.module, trained.input_shape)
    else:
        info["torchscript"] = save_torchscript(trained.module, out, trained.input_shape)
    atomic_write_text(out.with_name(out.name + ".json"), json.dumps(info, indent=2) + "\n")
    return info
