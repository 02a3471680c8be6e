"""Batch runner: many training-free metrics x many NB201 architectures, cached on disk, resumable, parallel.

The cache is a JSON-lines file, one record per (architecture, metric, configuration)::

    {"arch": "|nor_conv_3x3~0|+...|", "metric": "synflow", "config": "3f2a9c1e", "value": 1.2e+20, "time_s": 0.02}

``config`` is a short hash of `ZCConfig` (batch, seed, input size, network width), so one file can hold runs with
different settings without mixing them. Values that are NaN or ±inf are written as Python's ``json`` writes them
(``NaN``, ``-Infinity``) and read back unchanged. Each record is appended as one line and flushed; a run killed
mid-line leaves a torn last line, which the next run ignores (and recomputes) — so resuming is just running the
same call again: cached entries are skipped.

Example::

    from predictors.zero_cost.runner import ZCConfig, run_metrics
    res = run_metrics(archs, ["synflow", "naswot"], cache="runs/zc/nb201.jsonl", workers=2)
    res.table  # DataFrame: one row per arch string, one column per metric
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from nag.config import Config
from nag.errors import InvalidChoiceError
from nag.spaces import get_space
from nag.spaces.nb201 import NB201Arch
from predictors.zero_cost import compute, get_metric
from predictors.zero_cost.data import Batch, fashion_mnist_batch, gaussian_batch
from predictors.zero_cost.metrics import SHARED_GRADIENT_METRICS, gradient_metrics

__all__ = ["ZCConfig", "ZCResult", "run_metrics", "compute_arch", "load_cache"]

DATA_SOURCES = ("fashion_mnist", "gaussian")


@dataclass(frozen=True)
class ZCConfig(Config):
    """Settings of a run: the minibatch and the network every metric sees.

    Attributes:
        batch_size: ``B`` of the minibatch.
        seed: selects the minibatch and seeds the network's initial weights (``torch.manual_seed`` before
            building it), so the same config gives the same values.
        data: ``"fashion_mnist"`` (real images) or ``"gaussian"`` (seeded noise).
        size: input height and width (32 for the CIFAR networks).
        num_classes: classifier outputs (10 for CIFAR-10).
        C: first-stage channels of the NB201 network (16 in the benchmark).
        N: cells per stage (5 in the benchmark).
    """

    batch_size: int = 64
    seed: int = 0
    data: str = "fashion_mnist"
    size: int = 32
    num_classes: int = 10
    C: int = 16
    N: int = 5

    def __post_init__(self) -> None:
        if self.data not in DATA_SOURCES:
            raise InvalidChoiceError("data", self.data, DATA_SOURCES)

    @property
    def key(self) -> str:
        """8 hex digits identifying the configuration in the cache."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:8]

    def batch(self) -> Batch:
        """The run's minibatch (``B x 3 x size x size``, ``B``)."""
        if self.data == "gaussian":
            return gaussian_batch(self.batch_size, self.seed, self.size, num_classes=self.num_classes)
        return fashion_mnist_batch(self.batch_size, self.seed, self.size)


@dataclass
class ZCResult:
    """What `run_metrics` returns.

    Attributes:
        table: one row per architecture string (input order), one column per metric.
        times: the same shape, seconds each value took when it was computed.
        computed: values computed by this call.
        reused: values read from the cache.
    """

    table: pd.DataFrame
    times: pd.DataFrame
    computed: int
    reused: int


@lru_cache(maxsize=4)
def _cached_batch(config: ZCConfig) -> Batch:
    return config.batch()


def compute_arch(arch: NB201Arch | str, metrics: Sequence[str], config: ZCConfig = ZCConfig()) -> list[dict]:
    """Compute ``metrics`` for one architecture; returns cache records (``arch, metric, config, value, time_s``).

    The gradient metrics of `SHARED_GRADIENT_METRICS` that are asked together share one forward pass
    (`gradient_metrics`; same values as one by one); each of them is recorded with an equal share of that pass's
    time, so ``time_s`` summed over metrics is still the architecture's compute time.
    """
    space = get_space("nb201")
    a = space.parse(arch) if isinstance(arch, str) else arch
    torch.manual_seed(config.seed)
    net = space.to_module(a, num_classes=config.num_classes, C=config.C, N=config.N)
    batch = _cached_batch(config)
    shared = tuple(m for m in metrics if m in SHARED_GRADIENT_METRICS)
    values: dict[str, float] = {}
    times: dict[str, float] = {}
    if len(shared) > 1:
        t0 = time.perf_counter()
        values.update(gradient_metrics(net, batch, shared))
        dt = (time.perf_counter() - t0) / len(shared)
        times.update(dict.fromkeys(shared, dt))
    for m in metrics:
        if m in values:
            continue
        t0 = time.perf_counter()
        values[m] = compute(m, net, batch)
        times[m] = time.perf_counter() - t0
    return [
        {"arch": a.arch_str, "metric": m, "config": config.key, "value": values[m], "time_s": times[m]}
        for m in metrics
    ]


def load_cache(path: str | Path) -> dict[tuple[str, str, str], dict]:
    """Records of a cache file keyed by ``(arch, metric, config)``; torn or malformed lines are skipped."""
    p = Path(path)
    out: dict[tuple[str, str, str], dict] = {}
    if not p.exists():
        return out
    for line in p.read_text().splitlines():
        try:
            rec = json.loads(line)
            out[(rec["arch"], rec["metric"], rec["config"])] = rec
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return out


def _open_for_append(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    f = open(path, "a")  # noqa: SIM115  (closed by the caller)
    if torn:
        f.write("\n")  # end a line torn by a killed run, so the next record starts on its own line
    return f


def _worker_init() -> None:
    torch.set_num_threads(1)


def run_metrics(
    archs: Iterable[NB201Arch | str],
    metrics: Sequence[str],
    cache: str | Path | None = None,
    config: ZCConfig = ZCConfig(),
    workers: int = 0,
    progress: bool = True,
) -> ZCResult:
    """Compute every metric for every NB201 architecture, reusing and extending a cache.

    Args:
        archs: cells (`NB201Arch` or arch strings / NASLib tuples).
        metrics: registered metric names (unknown ones raise `InvalidChoiceError` before any work).
        cache: JSON-lines file to read and append; ``None`` keeps results in memory only.
        config: batch and network settings (part of the cache key).
        workers: ``0`` computes in this process; ``N > 0`` uses ``N`` spawned processes (one torch thread each).
        progress: show a progress bar (one step per architecture).

    Returns:
        `ZCResult` with the values table and how many were computed vs read from the cache.
    """
    for m in metrics:
        get_metric(m)
    space = get_space("nb201")
    arch_strs = [space.parse(a).arch_str if isinstance(a, str) else a.arch_str for a in archs]
    cached = load_cache(cache) if cache is not None else {}
    key = config.key
    records = {(a, m): cached[(a, m, key)] for a in arch_strs for m in metrics if (a, m, key) in cached}
    reused = len(records)
    todo: dict[str, list[str]] = {}
    for a in dict.fromkeys(arch_strs):
        missing = [m for m in metrics if (a, m) not in records]
        if missing:
            todo[a] = missing

    sink = _open_for_append(Path(cache)) if cache is not None and todo else None
    bar = tqdm(total=len(todo), desc="zero-cost", unit="arch", disable=not progress or not todo)
    computed = 0

    def store(recs: list[dict]) -> None:
        nonlocal computed
        for r in recs:
            records[(r["arch"], r["metric"])] = r
            computed += 1
            if sink is not None:
                sink.write(json.dumps(r) + "\n")
        if sink is not None:
            sink.flush()
        bar.update(1)

    try:
        if workers > 0 and todo:
            with ProcessPoolExecutor(
                workers, mp_context=get_context("spawn"), initializer=_worker_init
            ) as pool:
                futures = [pool.submit(compute_arch, a, ms, config) for a, ms in todo.items()]
                for fut in as_completed(futures):
                    store(fut.result())
        else:
            for a, ms in todo.items():
                store(compute_arch(a, ms, config))
    finally:
        bar.close()
        if sink is not None:
            sink.close()

    def frame(field: str) -> pd.DataFrame:
        data = {m: [records[(a, m)].get(field, math.nan) for a in arch_strs] for m in metrics}
        return pd.DataFrame(data, index=pd.Index(arch_strs, name="arch"))

    return ZCResult(table=frame("value"), times=frame("time_s"), computed=computed, reused=reused)
