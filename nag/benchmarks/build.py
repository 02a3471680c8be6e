"""Turn the fetched upstream files (`nag.benchmarks.fetch`) into the tables the benchmarks read.

Each `Target` of the registry is made from its inputs under ``<root>/sources/``, hashed, and placed at
``<root>/<relpath>`` (atomically) only when the hash is the pinned one; a table that comes out different is reported
and not placed, so the resolver never finds a table other than the published one. Upstream pickles are read with an
unpickler that accepts only the numpy/pandas classes these files use; HELP's ``.pt`` lists with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nag.benchmarks.data import sha256
from nag.benchmarks.fetch import source_path
from nag.benchmarks.sources import NB201_COLUMNS, SOURCES, TARGETS, Column, Target
from nag.errors import NagRuntimeError
from nag.io import atomic_write_bytes, remove_stale_temps

__all__ = [
    "BuildResult",
    "build_target",
    "build_all",
    "produce",
    "gzip_bytes",
    "deb_member",
    "load_pickle",
    "nb201_table_text",
]


@dataclass(frozen=True)
class BuildResult:
    """Outcome of one target: ``status`` is ``match`` (built, checksum reproduced, placed), ``present`` (already in
    place with the pinned checksum), ``differs`` (built, other checksum, not placed) or ``missing input`` (a source
    file is not fetched or damaged; ``detail`` names it)."""

    relpath: str
    expected: str
    got: str | None
    status: str
    detail: str = ""
    columns_not_rebuilt: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def gzip_bytes(data: bytes, name: str, mtime: int) -> bytes:
    """``data`` gzipped as the shipped tables are: zlib level 9, memory level 9, the file name and time in the
    header, OS byte "Unix" (`gzip.compress` differs: no name, memory level 8)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
    body = comp.compress(data) + comp.flush()
    # magic, deflate, FNAME flag, mtime, XFL 2 (best compression), OS 3 (Unix), name, NUL
    header = b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + b"\x02\x03" + name.encode("latin-1") + b"\x00"
    return header + body + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)


def deb_member(deb: Path, member: str) -> bytes:
    """The bytes of ``member`` in the ``data.tar.*`` of a Debian package (an ``ar`` archive), read in memory."""
    with open(deb, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise NagRuntimeError(f"{deb}: not a Debian package (no ar header)")
        while header := f.read(60):
            name = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58])
            payload = f.read(size)
            if size % 2:
                f.read(1)  # ar pads members to even offsets
            if name.startswith("data.tar"):
                with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
                    try:
                        extracted = tar.extractfile(member)
                    except KeyError:
                        extracted = None
                    if extracted is None:
                        raise NagRuntimeError(f"{deb}: no file {member} in {name}")
                    return extracted.read()
    raise NagRuntimeError(f"{deb}: no data.tar member")


# The only globals the upstream pickles (pandas DataFrames of 2020-2021, lists of numpy floats) refer to.
_PICKLE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("builtins", "slice"),
    ("pandas.core.frame", "DataFrame"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"),
}


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a data pickle")
        return super().find_class(module, name)


def load_pickle(path: Path) -> Any:
    """Unpickle an upstream data file, refusing any class outside the numpy/pandas ones data files use."""
    with open(path, "rb") as f, warnings.catch_warnings():
        # numpy 2 still resolves numpy.core.* for old pickles, with a DeprecationWarning
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return _DataUnpickler(f).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
            raise NagRuntimeError(f"{path}: cannot read as a data pickle ({e})") from None


_NASLIB_OPS = {"skip_connect": 0, "none": 1, "nor_conv_3x3": 2, "nor_conv_1x1": 3, "avg_pool_3x3": 4}
_NASLIB_EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def _naslib_tuple(arch_str: str) -> str:
    """NASLib's text key of an NB201 cell, e.g. ``"(4, 3, 3, 0, 0, 0)"`` (its edge order and op codes)."""
    ops: dict[tuple[int, int], str] = {}
    for to, node in enumerate(arch_str.split("+"), start=1):
        for item in node.strip("|").split("|"):
            op, frm = item.split("~")
            ops[(int(frm), to)] = op
    return str(tuple(_NASLIB_OPS[ops[e]] for e in _NASLIB_EDGES))


def _column_values(col: Column, root: Path, loaded: dict[str, Any], keys: list[str]) -> Any:
    """The 15,625 values of one column, reading (once) the source file it comes from."""
    import pandas as pd

    n = 15625
    if col.kind == "index":
        return list(range(n))
    if col.kind == "naslib_tuple":
        return [_naslib_tuple(s) for s in keys]
    path = source_path(root, SOURCES[col.source])
    if col.source not in loaded:
        if col.kind in ("frame", "list", "records"):
            loaded[col.source] = load_pickle(path)
        elif col.kind == "freerea":
            loaded[col.source] = pd.read_csv(path, index_col="index").reindex(range(n))
        elif col.kind == "hw":
            loaded[col.source] = pd.read_csv(path).set_index("net")
        elif col.kind == "torch_list":
            import torch

            loaded[col.source] = torch.load(path, weights_only=True)
        else:
            raise ValueError(f"column {col.name}: unknown kind {col.kind!r}")
    data = loaded[col.source]
    values: Any
    if col.kind in ("frame", "freerea"):
        values = data[col.field].to_numpy()
    elif col.kind == "hw":
        values = data[col.field].reindex([_naslib_tuple(s) for s in keys]).to_numpy()
    elif col.kind == "records":
        values = [float(r[col.field]) for r in data]
    else:
        values = list(data)
    if len(values) != n:
        raise NagRuntimeError(f"{path}: {len(values)} values for column {col.name}, expected {n}")
    return values


def nb201_table_text(root: Path) -> str:
    """The joined NB201 table as CSV text, from the fetched sources (see `NB201_COLUMNS` for each column's source).

    Rows are in ``nb201_index`` order; FreeREA's files are indexed by it, the other sources list the 15,625
    architectures in that order, HW-NAS-Bench rows are matched by NASLib tuple. Floats are written with 10
    significant digits, as the shipped file has them.
    """
    import pandas as pd

    loaded: dict[str, Any] = {}
    arch = next(c for c in NB201_COLUMNS if c.name == "arch_str")
    keys = [str(s) for s in _column_values(arch, root, loaded, [])]
    frame = pd.DataFrame({c.name: _column_values(c, root, loaded, keys) for c in NB201_COLUMNS})
    for name in frame.columns:
        if frame[name].dtype == object and name not in ("arch_str", "naslib_tuple"):
            frame[name] = frame[name].astype(float)  # numpy scalars from the pickled lists
    return frame.to_csv(index=False, float_format="%.10g")


def _check_inputs(target: Target, root: Path) -> str:
    """Empty when every input of ``target`` is fetched with its pinned size; else what is missing."""
    for key in target.inputs:
        src = SOURCES[key]
        p = source_path(root, src)
        if not p.is_file():
            return f"{key} not fetched (run `nag data fetch`)"
        if p.stat().st_size != src.size:
            return f"{p}: {p.stat().st_size} bytes, pinned {src.size} (fetch it again)"
    return ""


def produce(target: Target, root: Path) -> bytes:
    """The bytes of ``target`` made from its fetched inputs (not verified, not written)."""
    src = source_path(root, SOURCES[target.inputs[0]])
    if target.recipe == "copy":
        return src.read_bytes()
    if target.recipe == "gzip":
        return gzip_bytes(src.read_bytes(), target.gzip_name, target.gzip_mtime)
    if target.recipe == "deb":
        return deb_member(src, target.member)
    if target.recipe == "wheel":
        try:
            with zipfile.ZipFile(src) as whl:
                return whl.read(target.member)
        except (zipfile.BadZipFile, KeyError) as e:
            raise NagRuntimeError(f"{src}: cannot read {target.member} ({e})") from None
    if target.recipe == "nb201_table":
        text = nb201_table_text(root)
        return gzip_bytes(text.encode(), target.gzip_name, target.gzip_mtime)
    raise ValueError(f"{target.relpath}: unknown recipe {target.recipe!r}")


def build_target(target: Target, root: Path, force: bool = False) -> BuildResult:
    """Make one table under ``root`` and place it if its checksum is the pinned one.

    An existing file with the pinned checksum is kept (``present``) unless ``force``.
    """
    root = Path(root)
    dest = root / target.relpath
    if not force and dest.is_file() and sha256(dest) == target.sha256:
        return BuildResult(
            target.relpath, target.sha256, target.sha256, "present", "", target.columns_not_rebuilt
        )
    missing = _check_inputs(target, root)
    if missing:
        return BuildResult(
            target.relpath, target.sha256, None, "missing input", missing, target.columns_not_rebuilt
        )
    data = produce(target, root)
    digest = hashlib.sha256(data).hexdigest()
    if digest != target.sha256:
        detail = "not placed: the content differs from the published table"
        if target.gzip_name:
            try:
                detail += f" (decompressed {len(gzip.decompress(data))} bytes)"
            except OSError:
                pass
        return BuildResult(
            target.relpath, target.sha256, digest, "differs", detail, target.columns_not_rebuilt
        )
    try:
        remove_stale_temps(dest.parent)
        atomic_write_bytes(dest, data)
    except OSError as e:
        raise NagRuntimeError(f"{dest}: cannot write ({e.strerror or e})") from None
    return BuildResult(target.relpath, target.sha256, digest, "match", str(dest), target.columns_not_rebuilt)


def build_all(root: Path, only: list[str] | None = None, force: bool = False) -> list[BuildResult]:
    """Build every target (or those whose relpath is in ``only``), in registry order."""
    names = list(TARGETS) if only is None else only
    return [build_target(TARGETS[r], Path(root), force=force) for r in names]
