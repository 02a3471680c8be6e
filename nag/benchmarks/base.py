"""`Benchmark`: the tabular-oracle interface over real benchmark data, and a parsed-table cache.

A benchmark answers, for an architecture of its search space and a dataset, every value its tables hold (accuracies,
latencies, training-free metrics, ...), and the evaluation cost of a query where the data has it. Dataset names follow
the benchmark; aliases are resolved by `resolve_dataset`. Unknown datasets or metrics raise `InvalidChoiceError`.
"""

from __future__ import annotations

import contextlib
import io
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

import pandas as pd

from nag.benchmarks.data import RESTORE_HINT, DataFile, atomic_write_bytes, cache_dir, file_sha256, locate
from nag.errors import InvalidChoiceError, NagRuntimeError

__all__ = ["Benchmark", "cached_table", "load_frame"]

ArchT = TypeVar("ArchT")


class Benchmark(ABC, Generic[ArchT]):
    """Tabular oracle over a search space's real benchmark data.

    Class attributes:
        space_name: the registry name of the search space whose architectures it answers for.
        dataset_aliases: alternative spellings -> benchmark dataset name.
    """

    space_name: str
    dataset_aliases: dict[str, str] = {}

    @abstractmethod
    def datasets(self) -> list[str]:
        """Dataset names, as the benchmark spells them."""

    @abstractmethod
    def metrics(self, dataset: str) -> list[str]:
        """Metric names available for ``dataset``."""

    @abstractmethod
    def record(self, arch: ArchT, dataset: str) -> dict[str, float]:
        """Every known value for ``arch`` on ``dataset`` (NaN where the table has none)."""

    @abstractmethod
    def archs(self) -> list[ArchT]:
        """The labelled architectures (all of the space where the benchmark is exhaustive)."""

    @property
    def data_sources(self) -> dict[str, DataFile]:
        """The data files read so far, by path in the data tree, each saying whether it is the full file or the
        package's embedded stand-in (`nag.benchmarks.data.DataFile`). Empty for benchmarks that do not track it."""
        return {}

    def cost(self, arch: ArchT, dataset: str) -> float | None:
        """Seconds one evaluation query of ``arch`` costs (training time), or ``None`` where unknown."""
        return None

    # ------------------------------------------------------------------ provided
    def resolve_dataset(self, dataset: str) -> str:
        """Benchmark name of ``dataset`` (aliases accepted, case-insensitive)."""
        names = self.datasets()
        if dataset in names:
            return dataset
        low = {n.lower(): n for n in names}
        key = dataset.strip().lower()
        if key in low:
            return low[key]
        alias = {k.lower(): v for k, v in self.dataset_aliases.items()}
        if key in alias:
            return alias[key]
        raise InvalidChoiceError("dataset", dataset, names + sorted(self.dataset_aliases))

    def query(self, arch: ArchT, dataset: str, metric: str) -> float:
        """One value; unknown ``metric`` raises `InvalidChoiceError` listing those of the dataset."""
        ds = self.resolve_dataset(dataset)
        rec = self.record(arch, ds)
        if metric not in rec:
            raise InvalidChoiceError("metric", metric, self.metrics(ds))
        return rec[metric]

    def query_many(self, archs: Sequence[ArchT], dataset: str, metric: str) -> list[float]:
        """`query` for many architectures."""
        return [self.query(a, dataset, metric) for a in archs]


def _cache_entry_name(key: str, digest: str) -> str:
    return f"{key}-{digest[:32]}.parquet"


def _remove_other_entries(folder: Path, key: str, keep: Path) -> None:
    """Drop cache entries of ``key`` for other contents (and the old name-size-mtime entries): one per table."""
    pattern = re.compile(rf"{re.escape(key)}-(?:[0-9a-f]{{32}}|\d+-\d+)\.parquet")
    for p in folder.glob(f"{key}-*.parquet"):
        if p != keep and pattern.fullmatch(p.name):
            with contextlib.suppress(OSError):
                p.unlink()


def cached_table(
    source: Path, key: str, parse: Callable[[Path], pd.DataFrame], digest: str | None = None
) -> pd.DataFrame:
    """Parse ``source`` once and keep a parquet copy in the user cache, keyed by the SHA-256 of its content.

    Keyed by content, not by name, size or mtime: a file edited in place (even to the same size with its mtime put
    back) gets a new key and is parsed again, so the cache never serves a table that differs from its source.
    Later loads read the parquet file (columnar, typed: several times faster than re-parsing gzip CSV or JSON).
    Writes are atomic, so concurrent processes never see a torn file; an unwritable cache only costs the re-parse.

    Args:
        source: the file to parse.
        key: the table's name in the cache.
        parse: ``source -> DataFrame``.
        digest: ``source``'s hex SHA-256 when already known (`nag.benchmarks.data.verify` returns it).

    Raises:
        NagRuntimeError: ``source`` cannot be parsed (truncated, not the expected format); the message names it.
    """
    digest = digest or file_sha256(source)
    try:
        folder = cache_dir()
    except OSError:
        folder = None
    path = folder / _cache_entry_name(key, digest) if folder is not None else None
    if path is not None and path.is_file():
        try:
            return pd.read_parquet(path)
        except Exception:  # a corrupt cache entry is rebuilt, never trusted
            path.unlink(missing_ok=True)
    try:
        df = parse(source)
    except NagRuntimeError:
        raise
    except Exception as e:  # any parser failure is a damaged file from the user's point of view: name it
        detail = " ".join(str(e).split()) or type(e).__name__
        raise NagRuntimeError(f"data file {source}: cannot be read ({detail}); {RESTORE_HINT}") from e
    if path is not None:
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        with contextlib.suppress(OSError):
            atomic_write_bytes(path, buf.getvalue())
            _remove_other_entries(path.parent, key, path)
    return df


def load_frame(
    relpath: str, key: str, parse: Callable[[Path], pd.DataFrame]
) -> tuple[pd.DataFrame, DataFile]:
    """The parsed table of data file ``relpath``: the full file (verified, cached by content) when found, else the
    package's embedded stand-in (the same parse, fewer columns). Returns the frame and where it came from.

    Raises:
        DataNotFoundError: neither the file nor an embedded stand-in exists.
        NagRuntimeError: the file is damaged (checksum or parse).
    """
    f = locate(relpath)
    if f.source == "embedded":
        return f.read_embedded(), f
    return cached_table(f.path, key, parse, digest=f.sha256), f
