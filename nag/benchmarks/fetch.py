"""Download the pinned upstream files of `nag.benchmarks.sources` into ``<root>/sources/<key>``.

A download goes to ``<file>.part``; an interrupted one (Ctrl-C, SIGTERM, a kill, a dropped connection) leaves that
file, and the next run asks the server only for the missing bytes (HTTP ``Range``; a ``file://`` source is read from
the same offset). A finished ``.part`` is checked against the pinned size and SHA-256 and only then moved into place
atomically (`nag.io.atomic_path`); a file with the wrong checksum is deleted and refused, nothing is placed.

The caller chooses the root (the CLI: ``$NAG_DATA_DIR``, else ``~/.cache/nag``) and an optional mirror URL base.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nag.benchmarks.data import sha256
from nag.benchmarks.sources import Source, mirror_url
from nag.errors import NagRuntimeError
from nag.io import atomic_path, remove_stale_temps

__all__ = ["FetchResult", "source_path", "fetch_source", "is_fetched"]

#: Called with (bytes on disk, total bytes) as a download advances.
Progress = Callable[[int, int], None]

_CHUNK = 1 << 16


@dataclass(frozen=True)
class FetchResult:
    """What `fetch_source` did: ``status`` is ``present`` (already there and verified), ``downloaded`` or
    ``resumed`` (continued a ``.part`` file); ``transferred`` is the number of bytes read from the URL."""

    key: str
    path: Path
    status: str
    transferred: int
    url: str


def source_path(root: Path, source: Source) -> Path:
    """Where ``source`` is stored under the data root."""
    return Path(root) / "sources" / source.key


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def is_fetched(root: Path, source: Source) -> bool:
    """Whether ``source`` is in place with its pinned size and checksum."""
    p = source_path(root, source)
    return p.is_file() and p.stat().st_size == source.size and sha256(p) == source.sha256


def _open_from(url: str, offset: int, timeout: float) -> tuple[Iterator[bytes], int, Callable[[], None]]:
    """Open ``url`` at byte ``offset``; return (chunks, where they start: ``offset`` or 0, close)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        f: BinaryIO = open(urllib.request.url2pathname(parsed.path), "rb")  # noqa: SIM115 - closed by the caller
        f.seek(offset)
        return iter(lambda: f.read(_CHUNK), b""), offset, f.close
    req = urllib.request.Request(url, headers={"User-Agent": "nag-data-fetch"})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - URLs come from the pinned registry
    start = 0
    if offset and resp.status == 206:
        # "bytes <first>-<last>/<total>": trust the server's first byte, not our request
        content_range = resp.headers.get("Content-Range", "")
        try:
            start = int(content_range.split()[1].split("-")[0])
        except (IndexError, ValueError):
            start = -1
        if start != offset:
            resp.close()
            raise NagRuntimeError(
                f"{url}: asked for bytes from {offset}, got Content-Range {content_range!r}"
            )
    return iter(lambda: resp.read(_CHUNK), b""), start, resp.close


def _download(
    source: Source, url: str, part: Path, progress: Progress | None, timeout: float
) -> tuple[int, int]:
    """Fill ``part`` up to the pinned size; return (offset resumed from, bytes transferred)."""
    have = part.stat().st_size if part.exists() else 0
    if have >= source.size:
        return have, 0
    chunks, start, close = _open_from(url, have, timeout)
    # start is either `have` or 0: a server that ignores Range sends the whole file, so write it from byte 0
    mode = "ab" if start else "wb"
    have = start
    transferred = 0
    try:
        with open(part, mode) as f:
            for block in chunks:
                # never write past the pinned size: a longer file is wrong anyway, and the checksum will say so
                block = block[: source.size + 1 - have]
                f.write(block)
                have += len(block)
                transferred += len(block)
                if progress is not None:
                    progress(have, source.size)
                if have > source.size:
                    break
    finally:
        close()
    return start, transferred


def fetch_source(
    source: Source,
    root: Path,
    mirror: str | None = None,
    progress: Progress | None = None,
    timeout: float = 60.0,
) -> FetchResult:
    """Download ``source`` into ``<root>/sources/<key>`` (or its ``mirror`` copy), resuming a ``.part`` file.

    Raises:
        NagRuntimeError: the download failed (the ``.part`` is kept for a later resume), the file is shorter than
            pinned (kept, to be resumed), longer than pinned or has another checksum (deleted); nothing is placed.
    """
    dest = source_path(root, source)
    url = mirror_url(source, mirror)
    if is_fetched(root, source):
        return FetchResult(source.key, dest, "present", 0, url)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NagRuntimeError(f"{source.key}: cannot create {dest.parent} ({e.strerror})") from None
    remove_stale_temps(dest.parent)  # a run killed while placing a file leaves its temp; the .part files stay
    part = _part_path(dest)
    try:
        start, transferred = _download(source, url, part, progress, timeout)
    except (urllib.error.URLError, OSError) as e:
        kept = part.stat().st_size if part.exists() else 0
        reason = getattr(e, "reason", None) or e
        raise NagRuntimeError(
            f"{source.key}: download from {url} failed ({reason}); {kept} bytes kept in {part} for a resume"
        ) from None
    size = part.stat().st_size
    if size < source.size:
        raise NagRuntimeError(
            f"{source.key}: {url} gave {size} of {source.size} bytes (truncated); kept in {part}, "
            "run again to resume"
        )
    if size > source.size:
        part.unlink()
        raise NagRuntimeError(f"{source.key}: {url} is longer than the pinned {source.size} bytes; refused")
    digest = sha256(part)
    if digest != source.sha256:
        part.unlink()
        raise NagRuntimeError(
            f"{source.key}: sha256 {digest} of {url} differs from the pinned {source.sha256}; refused, nothing placed"
        )
    with atomic_path(dest) as tmp:
        os.replace(part, tmp)
    return FetchResult(source.key, dest, "resumed" if start else "downloaded", transferred, url)
