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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import pandas as pd

from nag.benchmarks.data import RESTORE_HINT, DataFile, atomic_write_bytes, cache_dir, file_sha256, locate
from nag.errors import InvalidChoiceError, NagRuntimeError

__all__ = ["Benchmark", "BenchmarkSpec", "KEY_KINDS", "INDEX_KINDS", "cached_table", "load_frame"]

ArchT = TypeVar("ArchT")

#: How a search keys its queries: by the native text (`SearchSpace.format`) or the isomorphism class (`canonical`).
KEY_KINDS: tuple[str, ...] = ("format", "canonical")
#: What the whole-table arrays (`Benchmark.index_archs`, columns, metric matrices) are indexed by.
INDEX_KINDS: tuple[str, ...] = ("space", "labelled")


def _frozen(d: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class BenchmarkSpec:
    """What a benchmark means to the rest of the project: the one home of its facts.

    Oracles, objectives, predictors, RoBoT, DiffusionBO and the CLI ask the spec of a space's benchmark
    (`nag.benchmarks.get_spec`) instead of branching on its name; a new benchmark states them here once.
    Reading a spec imports the benchmark's module but loads no data.

    Attributes:
        datasets: dataset (or task) names, as the benchmark spells them.
        dataset_aliases: alternative spellings -> dataset name (case-insensitive).
        default_dataset: the dataset used when none is named (guidance, ranges).
        signals: search-time signals, name -> ``(dataset or None for the target dataset, metric)``; the first is the
            default. A signal never reads a test value (``shared/PROTOCOL.md``).
        signal_aliases: short names (the CLI's ``--signal``) -> signal name.
        report: the headline report metric (hidden from the search).
        key: identity of an architecture for the query cache (`KEY_KINDS`): ``"format"`` where every native notation
            has its own table row (isomorphic cells trained separately), ``"canonical"`` where isomorphic
            architectures share one.
        index: what whole-table arrays are indexed by (`INDEX_KINDS`): ``"space"`` (`EnumerableSpace.enumerate`
            order) or ``"labelled"`` (`Benchmark.labelled` order of the dataset).
        exhaustive: every architecture of the space has a value on every dataset (whole-space ranges are exact).
        costed_metrics: signal metrics whose training cost `Benchmark.cost` gives (``None``: every metric).
        targets: what guided generation may condition on (`predictors.objectives`): ``accuracy``, ``latency``,
            ``energy``, ``params``.
        accuracy_label: the metric an accuracy predictor learns for guidance (``None``: no accuracy target).
        devices: hardware devices of ``latency_<device>`` / ``energy_<device>`` metrics.
        training_free: the benchmark's names of RoBoT's training-free metrics, rows of `Benchmark.metric_matrix`
            (empty: no metric matrix, so no RoBoT).
        zc_kernel: DiffusionBO's GP surrogate adds the benchmark's ``zc_*`` columns to its kernel by default.
    """

    datasets: tuple[str, ...]
    default_dataset: str
    signals: Mapping[str, tuple[str | None, str]]
    report: str
    dataset_aliases: Mapping[str, str] = field(default_factory=dict)
    signal_aliases: Mapping[str, str] = field(default_factory=dict)
    key: str = "format"
    index: str = "space"
    exhaustive: bool = False
    costed_metrics: tuple[str, ...] | None = None
    targets: tuple[str, ...] = ()
    accuracy_label: str | None = None
    devices: tuple[str, ...] = ()
    training_free: tuple[str, ...] = ()
    zc_kernel: bool = False

    def __post_init__(self) -> None:
        if self.key not in KEY_KINDS:
            raise InvalidChoiceError("key", self.key, KEY_KINDS)
        if self.index not in INDEX_KINDS:
            raise InvalidChoiceError("index", self.index, INDEX_KINDS)
        if not self.signals:
            raise ValueError("signals: a benchmark needs at least one search signal")
        if self.default_dataset not in self.datasets:
            raise InvalidChoiceError("default_dataset", self.default_dataset, self.datasets)
        for name in ("signals", "dataset_aliases", "signal_aliases"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def default_signal(self) -> str:
        """The first signal."""
        return next(iter(self.signals))

    def resolve_signal(self, signal: str | None) -> str:
        """The signal name of ``signal`` (short names accepted; ``None``: the default).

        Raises:
            InvalidChoiceError: field ``signal``, listing the signals and their short names.
        """
        if signal is None:
            return self.default_signal
        name = self.signal_aliases.get(signal, signal)
        if name not in self.signals:
            raise InvalidChoiceError("signal", signal, [*self.signals, *self.signal_aliases])
        return name


class Benchmark(ABC, Generic[ArchT]):
    """Tabular oracle over a search space's real benchmark data.

    Class attributes:
        space_name: the registry name of the search space whose architectures it answers for.
        spec: the benchmark's facts (`BenchmarkSpec`): datasets, signals, report, identity, targets, ...
    """

    space_name: str
    spec: ClassVar[BenchmarkSpec]

    @property
    def dataset_aliases(self) -> Mapping[str, str]:
        """Alternative spellings -> benchmark dataset name (`BenchmarkSpec.dataset_aliases`)."""
        return self.spec.dataset_aliases

    def datasets(self) -> list[str]:
        """Dataset names, as the benchmark spells them (`BenchmarkSpec.datasets`)."""
        return list(self.spec.datasets)

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

    def labelled(self, dataset: str) -> list[ArchT]:
        """The architectures with values on ``dataset`` (default: `archs`)."""
        return self.archs()

    def labelled_column(self, dataset: str, metric: str) -> np.ndarray:
        """``metric`` of every `labelled` architecture of ``dataset``, in that order (``K`` float64)."""
        ds = self.resolve_dataset(dataset)
        return np.asarray([self.query(a, ds, metric) for a in self.labelled(ds)], dtype=np.float64)

    def index_archs(self, dataset: str) -> list[ArchT] | None:
        """The architectures whole-table arrays of ``dataset`` are indexed by (`BenchmarkSpec.index`): the space in
        `enumerate` order, or the `labelled` ones; ``None`` where the space cannot be listed."""
        if self.spec.index == "labelled":
            return self.labelled(dataset)
        from nag.spaces import get_space

        sp = get_space(self.space_name)
        return list(sp.enumerate()) if hasattr(sp, "enumerate") else None

    def training_free_features(self, dataset: str) -> list[str]:
        """Metric names usable as training-free predictor inputs on ``dataset`` (``"<dataset>:<metric>"`` for
        another dataset's); empty when the benchmark has none."""
        return []

    def metric_matrix(self, dataset: str, metrics: Sequence[str]) -> np.ndarray:
        """``M x K`` raw training-free metric values in `index_archs` order (RoBoT's input).

        Raises:
            InvalidChoiceError: the benchmark has no metric matrix (field ``space``) or an unknown metric.
        """
        from nag.benchmarks import metric_matrix_spaces

        raise InvalidChoiceError("space", self.space_name, metric_matrix_spaces())


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
