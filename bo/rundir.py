"""Run directories: one writer at a time (a lock held for the life of the process) and run files read defensively.

**Lock.** `RunLock` takes an exclusive ``flock`` on ``RUN/.lock`` before anything of the run is written and keeps it
until it is released or the process ends. The kernel drops a ``flock`` when its holder dies, however it dies
(SIGKILL included), so a lock file left by a dead process is stale by construction and simply taken over; the file
holds the holder's PID only to name it in the refusal. A second writer (``nag search --out SAME``, a second
``--resume``) gets `RunLockedError`, a `nag.errors.NagRuntimeError` (CLI exit 1): the run is fine, it is busy.

**Files.** `read_json_file` turns every way a run file can be damaged (missing, empty, not UTF-8, not JSON, not an
object) into one `RunFileError` line naming the file and what is wrong; `bo.loop` validates the fields with the
`expect_*` helpers, which raise `ValueError` naming the field (wrapped into `RunFileError` with the file).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from pathlib import Path
from typing import Any

from nag.errors import NagRuntimeError

__all__ = [
    "LOCK_NAME",
    "RunLock",
    "RunLockedError",
    "RunFileError",
    "read_json_file",
    "expect",
    "expect_int",
    "expect_number",
    "expect_list",
]

#: The lock file inside a run directory.
LOCK_NAME = ".lock"


class RunLockedError(NagRuntimeError):
    """Another live process holds the run directory's lock."""

    def __init__(self, run_dir: Path, pid: int | None) -> None:
        self.run_dir = run_dir
        self.pid = pid
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(
            f"run {str(run_dir)!r} is in use by {holder} (lock {str(run_dir / LOCK_NAME)!r}); "
            "wait for it to finish or stop it, then resume with `nag search --resume "
            f"{run_dir}`"
        )


class RunFileError(NagRuntimeError):
    """A run file is missing or damaged; the message names the file and what is wrong."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class RunLock:
    """Exclusive lock of a run directory, held until `release` (or the end of the process).

    Use as a context manager (``with RunLock(run_dir): ...``) or call `acquire` / `release`. Creates ``run_dir`` if
    needed (the lock file lives inside it). Not re-entrant: a second `RunLock` on the same directory in the same
    process is refused like any other holder (``flock`` locks belong to open files, not processes).

    Raises:
        RunLockedError: on `acquire`, when a live process holds the lock.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock (non-blocking) and write this process's PID into the lock file."""
        if self._fd is not None:
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(self.run_dir, self._holder()) from None
        except BaseException:
            os.close(fd)
            raise
        # A stale file of a dead holder may hold its PID: overwrite, not append.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (idempotent). The file stays: removing it would race with a process about to lock it."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor releases the flock

    def _holder(self) -> int | None:
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_json_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        RunFileError: the file is missing, unreadable, empty, not UTF-8, not JSON, or not a JSON object.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RunFileError(path, "missing") from None
    except OSError as e:
        raise RunFileError(path, f"cannot be read ({e.strerror or e})") from None
    if not raw.strip():
        raise RunFileError(path, f"empty ({len(raw)} bytes); the run file is damaged")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RunFileError(path, f"not UTF-8 text (byte {e.start}); the run file is damaged") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise RunFileError(
            path,
            f"not valid JSON ({e.msg}: line {e.lineno} column {e.colno}); the file is truncated or damaged",
        ) from None
    except RecursionError:
        raise RunFileError(path, "not valid JSON (nested too deeply); the run file is damaged") from None
    if not isinstance(obj, dict):
        raise RunFileError(path, f"expected a JSON object, got {_json_type(obj)}")
    return obj


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, int | float):
        return f"number {v}"
    if isinstance(v, str):
        return f"string {v[:40]!r}"
    if isinstance(v, list):
        return f"a list of {len(v)}"
    return "an object"


def expect(d: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str, prefix: str = "") -> Any:
    """``d[key]`` if it is an instance of ``kind`` (booleans never pass as numbers).

    Raises:
        ValueError: ``key`` is missing or of another type; the message names ``prefix + key`` and ``what``.
    """
    if key not in d:
        raise ValueError(f"missing key {prefix + key!r} ({what})")
    v = d[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(v, bool) and bool not in kinds) or not isinstance(v, kinds):
        raise ValueError(f"{prefix + key!r} must be {what}, got {_json_type(v)}")
    return v


def expect_int(d: dict[str, Any], key: str, minimum: int | None = None, prefix: str = "") -> int:
    """``d[key]`` as an integer ``>= minimum``; `ValueError` naming the field otherwise."""
    what = "an integer" if minimum is None else f"an integer >= {minimum}"
    v = expect(d, key, int, what, prefix)
    if minimum is not None and v < minimum:
        raise ValueError(f"{prefix + key!r} must be {what}, got {v}")
    return v


def expect_number(v: Any, field: str, allow_none: bool = True, minimum: float | None = None) -> float | None:
    """``v`` as a float (``None`` passes through when ``allow_none``); `ValueError` naming ``field`` otherwise."""
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(
            f"{field!r} must be a finite number{' or null' if allow_none else ''}, got {_json_type(v)}"
        )
    if minimum is not None and v < minimum:
        raise ValueError(f"{field!r} must be >= {minimum}, got {v}")
    return float(v)


def expect_list(d: dict[str, Any], key: str, item: type | tuple[type, ...] | None, what: str) -> list[Any]:
    """``d[key]`` as a list whose items are instances of ``item`` (``None``: any); `ValueError` otherwise."""
    v = expect(d, key, list, f"a list of {what}")
    if item is not None:
        kinds = item if isinstance(item, tuple) else (item,)
        for i, x in enumerate(v):
            if (isinstance(x, bool) and bool not in kinds) or not isinstance(x, kinds):
                raise ValueError(f"{key!r}[{i}] must be {what}, got {_json_type(x)}")
    return v
