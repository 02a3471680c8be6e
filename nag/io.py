"""One way to write files: atomically (temporary file in the same folder, fsync, rename).

Readers never see half a file, and a kill leaves at most a ``.<name>.<pid>.tmp`` file that
`remove_stale_temps` cleans up (a temp file of a live process is left alone).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_path",
    "cached_json",
    "remove_stale_temps",
]


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on normal exit it is fsynced and renamed over ``path``.

    For writers that want a path (``DataFrame.to_csv``, ``Figure.savefig``, ``torch.save``). On an exception the
    temporary file is removed and ``path`` is untouched. The temporary name keeps ``path``'s suffix so writers that
    infer the format from it (matplotlib) still do.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(f)`` on a binary temporary file beside ``path``, then rename it over ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)
        f.flush()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode(encoding))


def cached_json(
    path: str | os.PathLike[str], key: Any, compute: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """The JSON record stored at ``path`` when it was made with ``key``; otherwise ``compute()``, stored atomically
    with ``"key": key`` (how experiments resume: a killed run recomputes only the records it had not written).

    Args:
        path: the record's file.
        key: the settings the record depends on (JSON-serialisable; compared after a JSON round trip).
        compute: makes the record (a dict without ``"key"``).
    """
    import json

    path = Path(path)
    key = json.loads(json.dumps(key))
    if path.is_file():
        rec = json.loads(path.read_text())
        if rec.get("key") == key:
            return rec
    rec = {"key": key, **compute()}
    atomic_write_text(path, json.dumps(rec))
    return rec


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete ``.*.<pid>.tmp*`` files left in ``folder`` by dead processes; return what was removed."""
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        parts = p.name.split(".")
        if not p.name.startswith(".") or "tmp" not in parts:
            continue
        i = parts.index("tmp")
        if i < 1 or not parts[i - 1].isdigit():
            continue
        if int(parts[i - 1]) == os.getpid() or _pid_alive(int(parts[i - 1])):
            continue
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed
