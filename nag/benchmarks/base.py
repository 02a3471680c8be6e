"""`Benchmark`: the tabular-oracle interface over real benchmark data, and a parsed-table cache.

A benchmark answers, for an architecture of its search space and a dataset, every value its tables hold (accuracies,
latencies, training-free metrics, ...), and the evaluation cost of a query where the data has it. Dataset names follow
the benchmark; aliases are resolved by `resolve_dataset`. Unknown datasets or metrics raise `InvalidChoiceError`.
"""

from __future__ import annotations

import io
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

import pandas as pd

from nag.benchmarks.data import atomic_write_bytes, cache_dir
from nag.errors import InvalidChoiceError

__all__ = ["Benchmark", "cached_table"]

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


def cached_table(source: Path, key: str, parse: Callable[[Path], pd.DataFrame]) -> pd.DataFrame:
    """Parse ``source`` once and keep a parquet copy in the user cache, keyed by name, size and mtime.

    Later loads read the parquet file (columnar, typed: several times faster than re-parsing gzip CSV or JSON).
    Writes are atomic, so concurrent processes never see a torn file.
    """
    st = source.stat()
    path = cache_dir() / f"{key}-{st.st_size}-{math.floor(st.st_mtime)}.parquet"
    if path.is_file():
        try:
            return pd.read_parquet(path)
        except Exception:  # a corrupt cache entry is rebuilt, never trusted
            path.unlink(missing_ok=True)
    df = parse(source)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())
    return df
