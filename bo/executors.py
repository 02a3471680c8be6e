"""Executors: evaluate the ``q`` architectures of a batch, one after another or concurrently.

* `SerialExecutor` — in this process, in order.
* `ProcessExecutor` — a pool of ``workers`` spawned processes on this machine (one torch thread each).
* `RayExecutor` — Ray tasks on a local instance or a cluster (``ray.init(address=...)``); ``pip install nag[ray]``.

All yield ``(position, Evaluation)`` pairs as evaluations complete (`Executor.imap`), so the search loop can save
each one the moment it is paid for; the loop restores proposal order itself. Oracles travel by pickle (benchmark
tables are re-opened on the receiving side, see `bo.oracles.Oracle.__getstate__`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any

from bo.oracles import Evaluation, Oracle
from nag.errors import InvalidChoiceError

__all__ = [
    "Executor",
    "SerialExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "EXECUTORS",
    "WARM_UP_MODULES",
    "get_executor",
    "warm_up_imports",
]

#: Executor names, as ``nag search --executor`` accepts them.
EXECUTORS: tuple[str, ...] = ("serial", "process", "ray")


class Executor(ABC):
    """Evaluates architectures with an oracle; a context manager that releases its workers on exit."""

    name: str

    @abstractmethod
    def imap(self, oracle: Oracle, archs: Sequence[Any]) -> Iterator[tuple[int, Evaluation]]:
        """Evaluate each architecture (one oracle call each); yield ``(index into archs, evaluation)`` as each
        completes (any order)."""

    def harvest(self) -> list[tuple[int, Evaluation]]:
        """Evaluations of the `imap` call in progress that completed but were not yielded yet (non-blocking).

        Called by the search loop when an interrupt (Ctrl-C, SIGTERM) cuts an `imap` short, so that evaluations
        already paid for are saved, not repeated on resume. Executors that evaluate in this process have none.
        """
        return []

    def map(self, oracle: Oracle, archs: Sequence[Any]) -> list[Evaluation]:
        """All evaluations, in the order of ``archs``."""
        out: list[Evaluation | None] = [None] * len(archs)
        for i, ev in self.imap(oracle, archs):
            out[i] = ev
        return out  # type: ignore[return-value]

    def close(self) -> None:
        """Release workers (idempotent); executors without workers have nothing to release."""
        return None

    def abort(self) -> None:
        """Release workers without waiting for evaluations in flight (on an interrupt or an error); `close` here."""
        self.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class SerialExecutor(Executor):
    """Evaluates in this process, one architecture at a time, in order."""

    name = "serial"

    def imap(self, oracle: Oracle, archs: Sequence[Any]) -> Iterator[tuple[int, Evaluation]]:
        for i, a in enumerate(archs):
            yield i, oracle.evaluate([a])[0]


def _evaluate_one(oracle: Oracle, arch: Any) -> Evaluation:
    return oracle.evaluate([arch])[0]


#: What a Ray worker imports before its first evaluation (`RayExecutor` ``warm_up``): a training query needs them
#: all, and importing them takes ~10 s per process (Lightning alone ~7 s).
WARM_UP_MODULES: tuple[str, ...] = ("torch", "lightning", "bo.oracles", "bo.lit", "bo.task_data")


def warm_up_imports(modules: Sequence[str]) -> int:
    """Import ``modules`` in this (worker) process; returns its pid."""
    import importlib

    for m in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(m)
    return os.getpid()


#: ``prctl`` option: the signal the kernel sends this process when its parent dies (``<linux/prctl.h>``).
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """Make this worker end when ``parent_pid`` does, however the parent dies (SIGKILL included).

    On Linux the kernel sends SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``); a daemon thread that
    polls ``os.getppid()`` backs it up (other systems, or the parent dying before the ``prctl`` call). Without
    this a pool worker of a killed search stays blocked on its pipe forever, holding its oracle's memory.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still covers it
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="nag-parent-watchdog", daemon=True).start()


def _worker_init(threads: int, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    # Ctrl-C in a terminal signals the whole process group: only the parent handles it (saves the run and stops
    # the pool); a worker interrupted mid-evaluation would only turn a paid evaluation into an error.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)


class ProcessExecutor(Executor):
    """A pool of spawned worker processes on this machine (created on first use, reused across steps).

    Workers end with their parent (`_die_with_parent`), and `close` stops them without waiting for evaluations in
    flight when the search is interrupted.

    Args:
        workers: processes in the pool.
        threads: torch CPU threads per worker.
    """

    name = "process"

    def __init__(self, workers: int = 2, threads: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers: must be >= 1, got {workers}")
        self.workers = workers
        self.threads = threads
        self._pool: ProcessPoolExecutor | None = None
        self._inflight: dict[Future, int] = {}  # futures of the `imap` in progress not yielded yet

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=get_context("spawn"),
                initializer=_worker_init,
                initargs=(self.threads, os.getpid()),
            )
        return self._pool

    def imap(self, oracle: Oracle, archs: Sequence[Any]) -> Iterator[tuple[int, Evaluation]]:
        if not archs:
            return
        pool = self._get_pool()
        futures: dict[Future, int] = {pool.submit(_evaluate_one, oracle, a): i for i, a in enumerate(archs)}
        self._inflight = dict(futures)
        todo = set(futures)
        try:
            while todo:
                done, todo = wait(todo, return_when=FIRST_COMPLETED)
                for f in sorted(done, key=futures.__getitem__):
                    ev = f.result()
                    del self._inflight[f]
                    yield futures[f], ev
        finally:
            for f in todo:
                f.cancel()

    def harvest(self) -> list[tuple[int, Evaluation]]:
        out = []
        for f, i in sorted(self._inflight.items(), key=lambda x: x[1]):
            if f.done() and not f.cancelled() and f.exception(timeout=0) is None:
                out.append((i, f.result()))
        self._inflight = {}
        return out

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            self._inflight = {}
            pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        if self._pool is None:
            return
        # Stop the workers now instead of waiting for evaluations whose results nobody will read.
        for p in list((self._pool._processes or {}).values()):
            with contextlib.suppress(Exception):
                p.terminate()
        self.close()


class RayExecutor(Executor):
    """Ray tasks, one per architecture, on a local Ray instance or an existing cluster.

    Args:
        address: ``ray.init`` address (``"auto"``, ``"ray://host:10001"``, ...); ``None`` starts a local instance.
        num_cpus: CPUs of a local instance (``None``: Ray's default); ignored when connecting to a cluster.
        task_cpus: CPUs each evaluation task reserves.
        task_gpus: GPUs each evaluation task reserves (e.g. 1 for a `TrainingOracle` on GPU nodes).
        shutdown: call ``ray.shutdown()`` on `close` when this executor started Ray.
        warm_up: on a local instance, have each of its ``num_cpus`` workers import `WARM_UP_MODULES` as soon as
            it starts, in the background (the driver meanwhile loads its generator and proposes); ``wait_warm``
            waits for them. Measured (``experiments/bench/bench_real_task.py --part ray``, 4 MobileNetV3 training
            queries, 2 workers, 1 thread each, two runs): 0.52 / 0.52 x the serial wall time with warmed workers,
            0.91 / 0.77 x with cold ones (each first query imports Lightning and the oracle); 0.87 / 0.80 x when
            ``ray.init`` and the warm-up are counted too.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        task_cpus: float = 1.0,
        task_gpus: float = 0.0,
        shutdown: bool = True,
        warm_up: bool = True,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ImportError(
                "executor: ray is not installed; pip install 'nag[ray]' (or pip install ray)"
            ) from None
        self._ray = ray
        self.address = address
        self._started = False
        if not ray.is_initialized():
            kw: dict[str, Any] = {"address": address, "include_dashboard": False, "log_to_driver": False}
            if address is None and num_cpus is not None:
                kw["num_cpus"] = num_cpus
            ray.init(**kw)
            self._started = True
        self._shutdown = shutdown
        self._task = ray.remote(num_cpus=task_cpus, num_gpus=task_gpus)(_evaluate_one)
        self._oracle_refs: dict[int, tuple[Oracle, Any]] = {}
        self._warming: list[Any] = []
        if warm_up and self._started and num_cpus:
            warm = ray.remote(num_cpus=task_cpus, num_gpus=task_gpus)(warm_up_imports)
            self._warming = [warm.remote(WARM_UP_MODULES) for _ in range(max(1, int(num_cpus // task_cpus)))]

    def wait_warm(self) -> list[int]:
        """Wait until the warm-up tasks have run; the pids of the workers that ran them."""
        pids = self._ray.get(self._warming) if self._warming else []
        self._warming = []
        return pids

    def _ref(self, oracle: Oracle) -> Any:
        # one copy of the oracle in the object store per executor, not one per task
        hit = self._oracle_refs.get(id(oracle))
        if hit is None or hit[0] is not oracle:
            hit = (oracle, self._ray.put(oracle))
            self._oracle_refs[id(oracle)] = hit
        return hit[1]

    def imap(self, oracle: Oracle, archs: Sequence[Any]) -> Iterator[tuple[int, Evaluation]]:
        if not archs:
            return
        ray = self._ray
        ref = self._ref(oracle)
        index = {self._task.remote(ref, a): i for i, a in enumerate(archs)}
        todo = list(index)
        while todo:
            done, todo = ray.wait(todo, num_returns=1)
            for r in done:
                yield index[r], ray.get(r)

    def close(self) -> None:
        self._oracle_refs.clear()
        if self._started and self._shutdown and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False


def get_executor(name: str, workers: int = 2, address: str | None = None) -> Executor:
    """Build an executor by name (`EXECUTORS`); ``workers`` sizes the process pool / a local Ray instance."""
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(address=address or None, num_cpus=workers if not address else None)
    raise InvalidChoiceError("executor", name, EXECUTORS)
