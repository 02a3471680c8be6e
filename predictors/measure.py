"""Latency measured on this machine: a network of a search space run at batch 1, timed, cached per architecture.

`measure_latency` builds ``space.to_module(arch)`` (NB201, NB101, MobileNetV3), puts it in eval mode and times
single-image forward passes after a warm-up, with the thread count pinned (``torch.set_num_threads``, restored
afterwards; ONNX Runtime's ``intra_op_num_threads``). The ``onnxruntime`` backend exports the network with
``torch.onnx.export`` to a temporary file and runs it in an ``InferenceSession``.

**Paired with a reference network** (the default, ``paired=True``): the network's passes alternate with passes of
one fixed *reference network* of the same space and settings (`reference_arch`: of nine seeded draws, the one with
the median parameter count), and the latency (`LatencyMeasurement.ms`) is the median over pairs of
``pass / reference pass`` times the reference's own latency (`measure_reference`: timed alone for
`REFERENCE_SECONDS`, fastest pass; measured once per setting and machine and kept in the `LatencyCache`, so every
network of a cache shares its scale). On a shared machine, neighbours slow the core for stretches of seconds
(shared caches and memory bandwidth, a hyper-threaded host core: on this project's 2-core machine one MobileNetV3
network ran at 4.0 ms for seconds and at 6.3 ms for the next), in CPU time as in wall time; two passes run
next to each other see the same slowdown, so their ratio does not. This is duet benchmarking (Bulej et al., ICPE
2020) with a constant partner. Measured there (20 networks, each rebuilt and measured twice, seconds apart, torch,
1 thread, 50 pairs): two measurements of one MobileNetV3 network at 64 px differed by a median 0.6-0.7 % paired,
against 2.8-2.9 % with the fastest of its own passes and 7.9-9.3 % with their median; NAS-Bench-201 networks
1.0 % / 1.2 % / 2.8 %. ``paired=False`` keeps the fastest of the network's own passes (as `timeit` recommends: the
noise is one-sided). The median, minimum and inter-quartile range of the network's own passes are kept either way.

Clock: with one thread (the default) each pass is timed by the CPU time of the measuring thread
(``time.thread_time_ns``), because with one intra-op thread torch and ONNX Runtime run the whole forward pass on
the calling thread. On an idle core that equals the wall time; on a shared machine it leaves out the periods the
OS gives the core to other processes, which otherwise double a wall-clock latency at random (observed on a 2-core
machine shared with other jobs: wall medians of one network 13 -> 27 ms, its CPU-time medians 13 -> 14 ms). With
more threads the work runs on other threads too, so the wall clock is used. The wall-clock median is kept either
way (``wall_median_ms``). What no clock removes: busy neighbours also slow the core itself while we hold it
(shared caches, a hyper-threaded host core): the pairing above is what removes that. The absolute scale still
carries the error of the reference's one measurement (a few %): measure on a quiet machine for absolute figures.

`LatencyCache` keeps measurements per (space, architecture text, backend, threads, input size, classes, network
options, machine, library versions) in memory and, given a path, in a JSON file written atomically, so a search
never measures an architecture twice, even across restarts. This is the measurement protocol of latency-aware NAS
on real devices (e.g. nn-Meter, Zhang et al., MobiSys 2021; HW-NAS-Bench, Li et al., ICLR 2021): batch 1, warm-up,
many repeats, a robust statistic, and a partner network against the noise of a shared machine.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from nag.errors import InvalidChoiceError, NagInputError, NagRuntimeError
from nag.io import atomic_write_text
from nag.spaces import ModuleSpace, SearchSpace, get_space

__all__ = [
    "BACKENDS",
    "Backend",
    "CLOCKS",
    "Clock",
    "LatencyMeasurement",
    "LatencyCache",
    "measure_latency",
    "measure_module",
    "onnxruntime_session",
    "machine_fingerprint",
    "module_spaces",
    "pinned_threads",
    "resolve_clock",
    "IsolatedMeasurer",
    "REPEATS",
    "WARMUP",
    "REFERENCE_SECONDS",
    "reference_arch",
    "measure_reference",
]

Backend = Literal["torch", "onnxruntime"]
#: Accepted values of ``backend``.
BACKENDS: tuple[str, ...] = ("torch", "onnxruntime")
Clock = Literal["auto", "cpu", "wall"]
#: Accepted values of ``clock``: ``auto`` = ``cpu`` with one thread, else ``wall``.
CLOCKS: tuple[str, ...] = ("auto", "cpu", "wall")

#: Untimed passes before the timed ones, by default.
WARMUP = 10
#: Timed passes of one measurement (paired: pairs of passes), by default.
REPEATS = 30
#: Seconds the reference network of paired measurements is timed alone for its latency (`measure_reference`).
REFERENCE_SECONDS = 2.0

_CACHE_FORMAT = "nag-latency-cache"
_CACHE_VERSION = 1


# ---------------------------------------------------------------------- result
@dataclass(frozen=True)
class LatencyMeasurement:
    """One latency measurement at batch 1.

    Attributes:
        median_ms: median of the timed forward passes (ms, by ``clock``).
        iqr_ms: inter-quartile range of the timed passes (ms), the spread.
        min_ms: fastest timed pass (ms).
        wall_median_ms: median wall-clock time of the passes (ms; equals ``median_ms`` for ``clock="wall"``).
        clock: ``"cpu"`` (CPU time of the measuring thread) or ``"wall"``.
        repeats: timed passes.
        warmup: untimed passes before them.
        backend: ``"torch"`` or ``"onnxruntime"``.
        threads: intra-op threads the run was pinned to.
        input_size: ``(C, H, W)`` of the single input image.
        wall_s: wall seconds of the whole measurement (building the network, export, warm-up and repeats): what
            a search is charged for it.
        torch_version: ``torch.__version__`` of the run.
        onnxruntime_version: ``onnxruntime.__version__`` for that backend, else ``None``.
        ratio: paired measurements: median over pairs of the network's pass time over the reference network's
            pass time next to it; else ``None``.
        reference_ms: paired measurements: the reference network's latency (ms) the ratio is scaled by.
        reference_arch: paired measurements: the reference network's architecture text.
    """

    median_ms: float
    iqr_ms: float
    min_ms: float
    wall_median_ms: float
    clock: str
    repeats: int
    warmup: int
    backend: str
    threads: int
    input_size: tuple[int, ...]
    wall_s: float
    torch_version: str = field(default_factory=lambda: torch.__version__)
    onnxruntime_version: str | None = None
    ratio: float | None = None
    reference_ms: float | None = None
    reference_arch: str | None = None

    @property
    def ms(self) -> float:
        """The network's latency (ms) as searches, constraints and the local models use it: paired, ``ratio x
        reference_ms``; unpaired, the fastest timed pass (why, in the module docstring)."""
        if self.ratio is not None and self.reference_ms is not None:
            return self.ratio * self.reference_ms
        return self.min_ms

    @property
    def relative_spread(self) -> float:
        """``iqr_ms / median_ms``."""
        return self.iqr_ms / self.median_ms if self.median_ms > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LatencyMeasurement:
        """Inverse of `to_dict`."""
        return cls(**{**d, "input_size": tuple(int(v) for v in d["input_size"])})


# ---------------------------------------------------------------------- checks
def module_spaces() -> list[str]:
    """Registered spaces whose architectures build a real network (`ModuleSpace`: nb201, nb101, mbv3)."""
    from nag.spaces import REGISTRY, space_names

    return [n for n in space_names() if issubclass(REGISTRY.load(n), ModuleSpace)]


def _resolve_space(space: SearchSpace | str) -> ModuleSpace:
    sp = get_space(space) if isinstance(space, str) else space
    if not isinstance(sp, ModuleSpace):
        name = getattr(sp, "name", type(sp).__name__)
        raise NagInputError(
            f"space: {name!r} builds no network (no to_module), so its latency cannot be measured; "
            f"accepted: {', '.join(module_spaces())}"
        )
    return sp


def _resolve_arch(space: ModuleSpace, arch: Any) -> Any:
    a = space.parse(arch) if isinstance(arch, str) else arch
    reasons = space.validate(a)
    if reasons:
        from nag.errors import InvalidArchitectureError

        raise InvalidArchitectureError("arch", space.format(a), "; ".join(reasons))
    return a


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise NagInputError(f"{name}: invalid value {value!r}; accepted: an integer >= {low}")
    return int(value)


def _check_settings(
    backend: str, threads: int, warmup: int, repeats: int, input_size: Sequence[int], clock: str = "auto"
) -> tuple[int, ...]:
    if backend not in BACKENDS:
        raise InvalidChoiceError("backend", backend, BACKENDS)
    if clock not in CLOCKS:
        raise InvalidChoiceError("clock", clock, CLOCKS)
    _check_int("threads", threads, 1)
    _check_int("warmup", warmup, 0)
    _check_int("repeats", repeats, 1)
    size = tuple(input_size)
    if len(size) != 3 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in size
    ):
        raise NagInputError(
            f"input_size: invalid value {input_size!r}; accepted: (C, H, W), positive integers"
        )
    return tuple(int(v) for v in size)


def _check_module_kwargs(module_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    kw = dict(module_kwargs or {})
    if "num_classes" in kw:
        raise NagInputError(
            "module_kwargs: 'num_classes' is its own argument; accepted: other to_module options"
        )
    return kw


# ---------------------------------------------------------------------- timing
@contextlib.contextmanager
def pinned_threads(threads: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``; the previous count is restored afterwards."""
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def resolve_clock(clock: str, threads: int) -> str:
    """``"cpu"`` or ``"wall"``: ``auto`` is ``cpu`` with one thread (see the module docstring), else ``wall``."""
    if clock not in CLOCKS:
        raise InvalidChoiceError("clock", clock, CLOCKS)
    return ("cpu" if threads == 1 else "wall") if clock == "auto" else clock


def _time_calls(
    fns: Sequence[Callable[[], object]], warmup: int, repeats: int, seconds: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Wall and thread CPU times (ms), each ``len(fns) x n``: ``n`` rounds in which every function of ``fns`` runs
    once, in order (a network and its reference side by side), after ``warmup`` untimed rounds; ``n = repeats``,
    or more rounds until ``seconds`` have passed."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    wall_ns, cpu_ns = time.perf_counter_ns, time.thread_time_ns
    end = wall_ns() + int(seconds * 1e9)
    while len(wall[0]) < repeats or wall_ns() < end:
        for i, fn in enumerate(fns):
            t0, c0 = wall_ns(), cpu_ns()
            fn()
            c1, t1 = cpu_ns(), wall_ns()
            wall[i].append((t1 - t0) / 1e6)
            cpu[i].append((c1 - c0) / 1e6)
    return np.array(wall), np.array(cpu)


@cache
def _ort():
    try:
        import onnxruntime
    except ImportError:  # pragma: no cover - depends on the environment
        raise NagInputError(
            "backend: 'onnxruntime' needs the onnxruntime and onnx packages (pip install 'nag[onnx]'); "
            "accepted without them: torch"
        ) from None
    return onnxruntime


def _export_onnx(module: nn.Module, x: torch.Tensor, path: str) -> None:
    """``torch.onnx.export`` of an eval-mode module, input ``x`` (``1 x C x H x W``) named ``input``."""
    kwargs = dict(input_names=["input"], output_names=["output"], opset_version=17)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            # the TorchScript exporter: ~10x faster than the dynamo one on these networks (0.3-2 s vs 4-10 s)
            torch.onnx.export(module, (x,), path, dynamo=False, **kwargs)
        except Exception:  # noqa: BLE001 - a torch without it, or an op it lacks: the dynamo exporter
            torch.onnx.export(module, (x,), path, dynamo=True, verbose=False, **kwargs)


def onnxruntime_session(module: nn.Module, input_size: Sequence[int], threads: int = 1):
    """Export ``module`` to ONNX (temporary file) and open it in ONNX Runtime on the CPU.

    Args:
        module: the network (put in eval mode here).
        input_size: ``(C, H, W)``; the graph is exported for batch 1.
        threads: ``intra_op_num_threads`` (one inter-op thread, sequential execution).

    Returns:
        An ``onnxruntime.InferenceSession`` with input ``"input"`` (``1 x C x H x W`` float32) and output
        ``"output"``.
    """
    ort = _ort()
    module.eval()
    x = torch.zeros(1, *input_size)
    with tempfile.TemporaryDirectory(prefix="nag-onnx-") as tmp:
        path = os.path.join(tmp, "model.onnx")
        _export_onnx(module, x, path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def measure_module(
    module: nn.Module,
    input_size: Sequence[int],
    *,
    backend: Backend | str = "torch",
    threads: int = 1,
    warmup: int = WARMUP,
    repeats: int = REPEATS,
    clock: Clock | str = "auto",
    seed: int = 0,
    reference: tuple[Callable[[], object], float] | None = None,
) -> LatencyMeasurement:
    """Time ``module`` on one ``1 x C x H x W`` input (any module: a whole network or one block).

    Args:
        module: the module; set to eval mode.
        input_size: ``(C, H, W)``.
        backend: ``"torch"`` (``torch.inference_mode``) or ``"onnxruntime"``.
        threads: intra-op threads, pinned for the measurement (torch's count is restored afterwards).
        warmup: untimed passes first (allocator, caches, lazy initialisation).
        repeats: timed passes; their minimum, median and IQR are kept.
        clock: ``"cpu"`` (thread CPU time), ``"wall"``, or ``"auto"`` (cpu with one thread; module docstring).
        seed: seed of the random input.
        reference: ``(run, ms)``: one pass of a reference network (`reference_arch`) and its latency; its
            passes then alternate with the module's and `LatencyMeasurement.ms` is the median pass ratio times
            ``ms`` (module docstring).

    Returns:
        A `LatencyMeasurement`; ``wall_s`` covers the export (onnxruntime) and all passes.

    Raises:
        InvalidChoiceError: unknown ``backend`` or ``clock``.
        NagInputError: ``threads < 1``, ``warmup < 0``, ``repeats < 1`` or a malformed ``input_size``.
    """
    size = _check_settings(backend, threads, warmup, repeats, input_size, clock)
    clk = resolve_clock(clock, threads)
    t_start = time.perf_counter()
    with pinned_threads(threads):
        run = _runner(module, size, backend, threads, seed)
        fns = [run] if reference is None else [run, reference[0]]
        with torch.inference_mode():
            wall, cpu = _time_calls(fns, warmup, repeats)
    times = cpu if clk == "cpu" else wall
    paired = {}
    if reference is not None:
        paired = dict(ratio=float(np.median(times[0] / times[1])), reference_ms=float(reference[1]))
    return _record(times[0], wall[0], clk, warmup, backend, threads, size, t_start, **paired)


def _record(
    times: np.ndarray,
    wall: np.ndarray,
    clock: str,
    warmup: int,
    backend: str,
    threads: int,
    size: tuple[int, ...],
    t_start: float,
    **extra: Any,
) -> LatencyMeasurement:
    """The `LatencyMeasurement` of one network's timed passes (``times`` by ``clock``, ``wall``: ms each) begun at
    ``t_start`` (`time.perf_counter`); ``extra``: the paired fields."""
    q1, med, q3 = np.percentile(times, [25, 50, 75])
    return LatencyMeasurement(
        median_ms=float(med),
        iqr_ms=float(q3 - q1),
        min_ms=float(times.min()),
        wall_median_ms=float(np.median(wall)),
        clock=clock,
        repeats=len(times),
        warmup=warmup,
        backend=backend,
        threads=threads,
        input_size=size,
        wall_s=time.perf_counter() - t_start,
        onnxruntime_version=_ort().__version__ if backend == "onnxruntime" else None,
        **extra,
    )


def _runner(module: nn.Module, size: tuple[int, ...], backend: str, threads: int, seed: int = 0):
    """One forward pass of ``module`` (eval mode) on a seeded ``1 x C x H x W`` input, as a callable: torch, or an
    ONNX Runtime session of its export (kept alive by the callable)."""
    module.eval()
    x = torch.randn(1, *size, generator=torch.Generator().manual_seed(seed))
    if backend == "torch":
        return lambda: module(x)
    session = onnxruntime_session(module, size, threads)
    feed = {"input": x.numpy()}
    return lambda: session.run(None, feed)


# ---------------------------------------------------------------------- the reference network
def reference_arch(space: SearchSpace | str, module_kwargs: Mapping[str, Any] | None = None) -> Any:
    """The reference network of paired measurements: of nine architectures drawn with seed 0, the one whose
    network (built with ``module_kwargs``) has the median parameter count — a typical member of the space, so
    that a slow stretch of the machine slows it as it slows the networks it is paired with."""
    sp = _resolve_space(space)
    return _reference_arch(sp.name, json.dumps(_check_module_kwargs(module_kwargs), sort_keys=True))


@cache
def _reference_arch(space_name: str, kwargs_json: str) -> Any:
    sp = get_space(space_name)
    draws = sp.sample(9, seed=0)
    with torch.random.fork_rng(devices=[]):
        sizes = [
            sum(p.numel() for p in sp.to_module(a, **json.loads(kwargs_json)).parameters()) for a in draws
        ]
    return draws[int(np.argsort(sizes, kind="stable")[len(draws) // 2])]


@functools.lru_cache(maxsize=8)
def _reference_run(
    space_name: str, backend: str, size: tuple[int, ...], num_classes: int, threads: int, kwargs_json: str
) -> tuple[str, Callable[[], object]]:
    """``(architecture text, one pass)`` of the reference network for one setting, built once per process."""
    sp = get_space(space_name)
    kw = json.loads(kwargs_json)
    a = _reference_arch(space_name, kwargs_json)
    with torch.random.fork_rng(devices=[]), pinned_threads(threads):
        torch.manual_seed(0)  # the same reference weights in every process
        module = sp.to_module(a, num_classes=num_classes, **kw)
        return sp.format(a), _runner(module, size, backend, threads)


def _settings(
    space: SearchSpace | str,
    backend: str,
    input_size: Sequence[int],
    num_classes: int,
    threads: int,
    warmup: int,
    repeats: int,
    clock: str,
    module_kwargs: Mapping[str, Any] | None,
) -> tuple[ModuleSpace, tuple[int, ...], dict[str, Any]]:
    sp = _resolve_space(space)
    size = _check_settings(backend, threads, warmup, repeats, input_size, clock)
    _check_int("num_classes", num_classes, 1)
    return sp, size, _check_module_kwargs(module_kwargs)


def measure_reference(
    space: SearchSpace | str,
    *,
    backend: Backend | str = "torch",
    input_size: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    threads: int = 1,
    warmup: int = WARMUP,
    repeats: int = REPEATS,
    clock: Clock | str = "auto",
    module_kwargs: Mapping[str, Any] | None = None,
    seconds: float = REFERENCE_SECONDS,
) -> LatencyMeasurement:
    """The reference network's latency for one setting (`reference_arch`): timed alone for ``seconds`` (at least
    ``repeats`` passes), the fastest pass (``min_ms``); the scale of every paired measurement in that setting.
    Arguments as in `measure_latency`."""
    sp, size, kw = _settings(
        space, backend, input_size, num_classes, threads, warmup, repeats, clock, module_kwargs
    )
    t0 = time.perf_counter()
    text, run = _reference_run(
        sp.name, backend, size, int(num_classes), int(threads), json.dumps(kw, sort_keys=True)
    )
    with pinned_threads(threads), torch.inference_mode():
        wall, cpu = _time_calls([run], warmup, repeats, seconds)
    clk = resolve_clock(clock, threads)
    times = (cpu if clk == "cpu" else wall)[0]
    return _record(times, wall[0], clk, warmup, backend, threads, size, t0, reference_arch=text)


@functools.lru_cache(maxsize=8)
def _process_reference_ms(*key: Any) -> float:
    """`measure_reference` once per process and setting (for paired measurements made without a cache)."""
    space, backend, size, num_classes, threads, clock, kwargs_json = key
    return measure_reference(
        space, backend=backend, input_size=size, num_classes=num_classes, threads=threads, clock=clock,
        module_kwargs=json.loads(kwargs_json),
    ).min_ms  # fmt: skip


def measure_latency(
    space: SearchSpace | str,
    arch: Any,
    *,
    backend: Backend | str = "torch",
    input_size: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    threads: int = 1,
    warmup: int = WARMUP,
    repeats: int = REPEATS,
    clock: Clock | str = "auto",
    module_kwargs: Mapping[str, Any] | None = None,
    paired: bool = True,
    reference_ms: float | None = None,
) -> LatencyMeasurement:
    """Latency of ``arch``'s untrained network on this machine, batch 1, eval mode (`LatencyMeasurement.ms`).

    Args:
        space: a space that builds networks (`module_spaces`: nb201, nb101, mbv3), or its name.
        arch: the space's architecture, or its text form.
        backend: ``"torch"`` or ``"onnxruntime"`` (exported with ``torch.onnx.export``).
        input_size: ``(C, H, W)`` of the single input image (NB201: ``(3, 32, 32)``; MobileNetV3 accepts small
            inputs, e.g. ``(3, 64, 64)``).
        num_classes: classifier outputs.
        threads: intra-op threads, pinned and restored afterwards.
        warmup: untimed passes (paired: pairs) first.
        repeats: timed passes (paired: pairs).
        clock: ``"auto"`` (thread CPU time with one thread, else wall), ``"cpu"`` or ``"wall"``.
        module_kwargs: further ``to_module`` options (NB201 ``C``/``N``, MobileNetV3 ``width_mult``, ...).
        paired: alternate the passes with the reference network's (module docstring); ``False``: the fastest of
            the network's own passes.
        reference_ms: paired: the reference's latency (`measure_reference`, e.g. kept in a `LatencyCache`);
            ``None``: measured once in this process.

    Returns:
        A `LatencyMeasurement`; ``wall_s`` includes building the network.

    Raises:
        NagInputError: the space builds no network; ``threads < 1``; bad counts or ``input_size``;
            ``num_classes`` inside ``module_kwargs``.
        InvalidChoiceError: unknown ``backend`` or ``clock``.
        InvalidArchitectureError: ``arch`` is not a valid member of the space.
    """
    sp, size, kw = _settings(
        space, backend, input_size, num_classes, threads, warmup, repeats, clock, module_kwargs
    )
    a = _resolve_arch(sp, arch)
    t0 = time.perf_counter()
    reference = None
    if paired:
        kw_json = json.dumps(kw, sort_keys=True)
        text, run = _reference_run(sp.name, backend, size, int(num_classes), int(threads), kw_json)
        if reference_ms is None:
            reference_ms = _process_reference_ms(sp.name, backend, size, int(num_classes), int(threads),
                                                 resolve_clock(clock, threads), kw_json)  # fmt: skip
        reference = (run, float(reference_ms))
    with pinned_threads(threads):  # building (initialisation) runs pinned too
        module = sp.to_module(a, num_classes=num_classes, **kw)
    build_s = time.perf_counter() - t0
    m = measure_module(
        module, size, backend=backend, threads=threads, warmup=warmup, repeats=repeats, clock=clock,
        reference=reference,
    )  # fmt: skip
    extra = {"reference_arch": text} if paired else {}
    return LatencyMeasurement(**{**m.to_dict(), "input_size": size, "wall_s": m.wall_s + build_s, **extra})


# ---------------------------------------------------------------------- cache
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@cache
def machine_fingerprint() -> str:
    """What a latency depends on beside the network: CPU model, architecture, logical CPUs, torch and ONNX
    Runtime versions (e.g. ``Intel Xeon ... | x86_64 | 2 cpus | torch 2.13.0 | ort 1.32.0``)."""
    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except ImportError:
        ort = "none"
    return f"{_cpu_model()} | {platform.machine()} | {os.cpu_count()} cpus | torch {torch.__version__} | ort {ort}"


class LatencyCache:
    """Measurements per architecture and setting, in memory and (with ``path``) in a JSON file.

    The key is (space, ``space.format(arch)``, backend, threads, clock, input size, classes, ``module_kwargs``,
    `machine_fingerprint`, and whether it was paired); the warm-up and repeat counts are not part of it (the same
    quantity, measured with more or less precision). Beside them, per setting, the reference network's latency
    (`reference_ms`), the scale of every paired measurement in it. Every new measurement is written at once with `nag.io.atomic_write_text`, merged
    with entries another process may have added to the file meanwhile.

    Attributes:
        path: the JSON file, or ``None`` for memory only.
        hits: lookups answered from the cache.
        misses: lookups that measured.

    Args:
        path: JSON file; read when it exists.

    Raises:
        NagRuntimeError: the file exists but is not a latency cache (damaged JSON or another format).
    """

    @staticmethod
    def default_path() -> Path:
        """Where a search and `nag generate` keep this machine's measurements: ``~/.cache/nag/latency_local.json``."""
        return Path.home() / ".cache" / "nag" / "latency_local.json"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.hits = 0
        self.misses = 0
        self._entries: dict[str, dict[str, Any]] = self._read() if self.path is not None else {}

    # ------------------------------------------------------------------ keys
    @staticmethod
    def key(
        space: SearchSpace | str,
        arch: Any,
        *,
        backend: str = "torch",
        input_size: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        threads: int = 1,
        clock: Clock | str = "auto",
        module_kwargs: Mapping[str, Any] | None = None,
        paired: bool = True,
    ) -> str:
        """The cache key of a network measurement (a JSON string; see the class docstring)."""
        sp = _resolve_space(space)
        a = _resolve_arch(sp, arch)
        fields = LatencyCache._fields(sp, backend, input_size, num_classes, threads, clock, module_kwargs)
        # unpaired keys are those of earlier versions, whose entries hold the same quantity
        return LatencyCache.make_key({**fields, "arch": sp.format(a), **({"paired": True} if paired else {})})

    @staticmethod
    def reference_key(
        space: SearchSpace | str,
        *,
        backend: str = "torch",
        input_size: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        threads: int = 1,
        clock: Clock | str = "auto",
        module_kwargs: Mapping[str, Any] | None = None,
    ) -> str:
        """The cache key of the reference network's latency in one setting (`measure_reference`)."""
        sp = _resolve_space(space)
        fields = LatencyCache._fields(sp, backend, input_size, num_classes, threads, clock, module_kwargs)
        return LatencyCache.make_key(
            {**fields, "reference": sp.format(reference_arch(sp, fields["module_kwargs"]))}
        )

    @staticmethod
    def _fields(
        sp: ModuleSpace,
        backend: str,
        input_size: Sequence[int],
        num_classes: int,
        threads: int,
        clock: str,
        module_kwargs: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        return {
            "space": sp.name,
            "backend": backend,
            "threads": int(threads),
            "clock": resolve_clock(clock, threads),
            "input_size": [int(v) for v in input_size],
            "num_classes": int(num_classes),
            "module_kwargs": _check_module_kwargs(module_kwargs),
        }

    @staticmethod
    def make_key(fields: Mapping[str, Any]) -> str:
        """A key from free fields (e.g. one block of a latency table) plus `machine_fingerprint`."""
        return json.dumps({**fields, "machine": machine_fingerprint()}, sort_keys=True, default=str)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> LatencyMeasurement | None:
        """The stored measurement of ``key``, or ``None``."""
        d = self._entries.get(key)
        return None if d is None else LatencyMeasurement.from_dict(d)

    def put(self, key: str, measurement: LatencyMeasurement) -> None:
        """Store ``measurement`` under ``key`` (and write the file)."""
        self.put_many({key: measurement})

    def put_many(self, items: Mapping[str, LatencyMeasurement]) -> None:
        """Store several measurements and write the file once."""
        for key, m in items.items():
            self._entries[key] = m.to_dict()
        self.save()

    def lookup(self, key: str, measure: Callable[[], LatencyMeasurement]) -> LatencyMeasurement:
        """The stored measurement of ``key``; ``measure()`` only when there is none (then stored)."""
        got = self.get(key)
        if got is not None:
            self.hits += 1
            return got
        self.misses += 1
        m = measure()
        self.put(key, m)
        return m

    def measure(
        self,
        space: SearchSpace | str,
        arch: Any,
        *,
        backend: Backend | str = "torch",
        input_size: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        threads: int = 1,
        warmup: int = WARMUP,
        repeats: int = REPEATS,
        clock: Clock | str = "auto",
        module_kwargs: Mapping[str, Any] | None = None,
        paired: bool = True,
        measurer: IsolatedMeasurer | None = None,
    ) -> LatencyMeasurement:
        """`measure_latency` through the cache: an architecture is measured once per setting and machine
        (``measurer``: in that clean process rather than this one, see `IsolatedMeasurer`). Paired measurements
        share the reference latency the cache holds for their setting (`reference_ms`), so one cache keeps one
        scale across runs."""
        _check_settings(backend, threads, warmup, repeats, input_size, clock)
        settings = dict(
            backend=backend,
            input_size=input_size,
            num_classes=num_classes,
            threads=threads,
            clock=clock,
            module_kwargs=module_kwargs,
        )
        run = measure_latency if measurer is None else measurer.measure

        def measure() -> LatencyMeasurement:
            ref = (
                self.reference_ms(space, warmup=warmup, repeats=repeats, measurer=measurer, **settings)
                if paired
                else None
            )
            return run(
                space, arch, warmup=warmup, repeats=repeats, paired=paired, reference_ms=ref, **settings
            )

        return self.lookup(self.key(space, arch, paired=paired, **settings), measure)

    def reference_ms(
        self,
        space: SearchSpace | str,
        *,
        backend: Backend | str = "torch",
        input_size: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        threads: int = 1,
        warmup: int = WARMUP,
        repeats: int = REPEATS,
        clock: Clock | str = "auto",
        module_kwargs: Mapping[str, Any] | None = None,
        measurer: IsolatedMeasurer | None = None,
    ) -> float:
        """The reference network's latency in one setting (`measure_reference`), measured on first use (in
        ``measurer``'s process when given) and kept: the scale of every paired measurement of the cache."""
        settings = dict(
            backend=backend,
            input_size=input_size,
            num_classes=num_classes,
            threads=threads,
            clock=clock,
            module_kwargs=module_kwargs,
        )
        run = measure_reference if measurer is None else measurer.measure_reference
        m = self.lookup(
            self.reference_key(space, **settings),
            lambda: run(space, warmup=warmup, repeats=repeats, **settings),
        )
        return m.min_ms

    # ------------------------------------------------------------------ file
    def _read(self) -> dict[str, dict[str, Any]]:
        assert self.path is not None
        if not self.path.exists():
            return {}
        try:
            obj = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise NagRuntimeError(
                f"latency cache {self.path}: unreadable ({err}); remove it to start anew"
            ) from None
        if (
            not isinstance(obj, dict)
            or obj.get("format") != _CACHE_FORMAT
            or not isinstance(obj.get("entries"), dict)
        ):
            raise NagRuntimeError(
                f"latency cache {self.path}: not a {_CACHE_FORMAT} file; remove it or choose another path"
            )
        if obj.get("version") != _CACHE_VERSION:
            raise NagRuntimeError(
                f"latency cache {self.path}: version {obj.get('version')!r}; accepted: {_CACHE_VERSION}"
            )
        return dict(obj["entries"])

    def save(self) -> None:
        """Write the file atomically (no-op without ``path``), keeping entries other writers added."""
        if self.path is None:
            return
        on_disk = self._read()
        self._entries = {**on_disk, **self._entries}
        text = json.dumps(
            {"format": _CACHE_FORMAT, "version": _CACHE_VERSION, "entries": self._entries},
            indent=1,
            sort_keys=True,
        )
        atomic_write_text(self.path, text + "\n")

    def __repr__(self) -> str:
        return f"LatencyCache(path={str(self.path) if self.path else None!r}, entries={len(self)}, hits={self.hits}, misses={self.misses})"


# ---------------------------------------------------------------------- a clean process for measuring
def _worker_main() -> None:
    """The measuring process (``python -m predictors.measure``): one JSON request per line on stdin
    (``{"space", "arch", "kwargs"}``, or ``{"space", "reference": true, "kwargs"}`` for `measure_reference`), one JSON line back on stdout (the measurement, or ``{"error": ...}``)."""
    import sys

    out = sys.stdout
    sys.stdout = sys.stderr  # nothing else may write to the answer channel
    for line in sys.stdin:
        req = json.loads(line)
        try:
            kw = dict(req["kwargs"])
            torch.set_num_threads(int(kw.get("threads", 1)))
            if req.get("reference"):
                ans = measure_reference(req["space"], **kw).to_dict()
            else:
                sp = _resolve_space(req["space"])
                ans = measure_latency(sp, sp.parse(req["arch"]), **kw).to_dict()
        except Exception as e:  # noqa: BLE001 - sent back and raised in the caller
            ans = {"error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(ans) + "\n")
        out.flush()


class IsolatedMeasurer:
    """Measures latency in a separate, long-lived process that does nothing else (``python -m
    predictors.measure``, started on first use, talking JSON lines over a pipe: it inherits no state of this one,
    and a caller's script needs no ``if __name__ == "__main__"`` guard).

    A search that trains networks in its own process times them slower and slower: after six Lightning trainings
    the same untrained MobileNetV3 networks read 10 % slower in that process, and in 200-s MobileNetV3 searches
    only 17 % of the 550 networks measured in the search process met the median latency of 50 random networks
    measured at its start (about half should), so random search paid 14 measurements per query. A process that
    only measures keeps one scale for the whole run. Its start-up (a torch import, ~3 s) is paid once; each call
    adds a few ms of transfer. Usable as a context manager; `close` ends the process.
    """

    def __init__(self) -> None:
        self._proc: Any = None

    def measure(self, space: SearchSpace | str, arch: Any, **kwargs: Any) -> LatencyMeasurement:
        """`measure_latency(space, arch, **kwargs)` in the worker process."""
        sp = _resolve_space(space)
        return self._ask({"space": sp.name, "arch": sp.format(_resolve_arch(sp, arch))}, kwargs)

    def measure_reference(self, space: SearchSpace | str, **kwargs: Any) -> LatencyMeasurement:
        """`measure_reference(space, **kwargs)` in the worker process."""
        return self._ask({"space": _resolve_space(space).name, "reference": True}, kwargs)

    def _ask(self, request: dict[str, Any], kwargs: Mapping[str, Any]) -> LatencyMeasurement:
        import subprocess
        import sys

        if self._proc is None or self._proc.poll() is not None:
            root = str(Path(__file__).resolve().parents[1])
            env = dict(
                os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
            )
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "predictors.measure"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True, env=env,
            )  # fmt: skip
        kw = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
        self._proc.stdin.write(json.dumps({**request, "kwargs": kw}, default=str) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise NagRuntimeError(
                f"latency measurement: the measuring process ended (exit {self._proc.poll()})"
            )
        d = json.loads(line)
        if "error" in d:
            raise NagRuntimeError(f"latency measurement: {d['error']}")
        return LatencyMeasurement.from_dict(d)

    @property
    def pid(self) -> int | None:
        """The measuring process's id (``None`` before the first measurement)."""
        return None if self._proc is None else self._proc.pid

    def close(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self._proc.kill()
            self._proc = None

    def __enter__(self) -> IsolatedMeasurer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __getstate__(self) -> dict[str, Any]:  # a copy (e.g. for a Ray or process worker) starts its own
        return {"_proc": None}


if __name__ == "__main__":
    _worker_main()
