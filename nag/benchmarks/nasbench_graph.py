"""NAS-Bench-Graph tabular oracle over the ``.bench`` tables of the ``nas-bench-graph`` package.

Qin et al., "NAS-Bench-Graph: Benchmarking Graph Neural Architecture Search", NeurIPS 2022 Datasets and Benchmarks.

The package (PyPI ``nas-bench-graph==1.4.0``) ships its "light" tables in ``nas_bench_graph/light/<dataset>.bench``:
one pickled ``dict`` per dataset, keyed by the package's architecture hash (``Arch.valid_hash()``, see
`nag.spaces.nasbench_graph`), each value ``{"valid_perf", "perf", "latency", "para"}``. Per-epoch curves and training
times exist only in the full release on figshare, not in the package, so `NASBenchGraphBenchmark.cost` is ``None``.

Datasets, as the package names them: ``cora``, ``citeseer``, ``pubmed`` (Planetoid), ``cs``, ``physics`` (Coauthor),
``photo``, ``computers`` (Amazon), ``arxiv`` and ``proteins`` (OGB); aliases such as ``ogbn-arxiv`` or
``coauthor-cs`` are accepted. The first eight cover all 26,206 architectures; ``proteins`` covers only the 2,021 whose
ops are all in ``PROTEINS_OPS`` (``gcn sage arma fc skip``), the rest reads NaN there.

Metrics (the same names on every dataset; values as stored, no unit conversion):

* ``val_perf`` / ``test_perf`` — validation / test performance in [0, 1]: accuracy, ROC-AUC on ``proteins``
  (package fields ``valid_perf`` / ``perf``). Search on ``val_perf``; report ``test_perf``.
* ``latency_s`` — inference latency in seconds (``latency``).
* ``params_mb`` — parameters in millions (``para``; named like NAS-Bench-201's ``params_mb``).

Parsing a table takes about 0.1 s (unpickling a 2 MB dict), so no parquet cache is kept; each dataset is read once
per process.
"""

from __future__ import annotations

import importlib.util
import math
import pickle
from functools import cache, cached_property
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from nag.benchmarks.base import Benchmark, BenchmarkSpec
from nag.benchmarks.data import data_dirs, resolve, verify
from nag.errors import DataNotFoundError, InvalidChoiceError
from nag.spaces.nasbench_graph import NASBenchGraphSpace, NBGArch

__all__ = ["NASBenchGraphBenchmark", "DATASETS", "METRICS", "bench_path", "load_raw", "load_table"]

#: Dataset names, as the package's files are named.
DATASETS: tuple[str, ...] = (
    "cora",
    "citeseer",
    "pubmed",
    "cs",
    "physics",
    "photo",
    "computers",
    "arxiv",
    "proteins",
)
#: Our metric name -> the package's record field.
METRICS: dict[str, str] = {
    "val_perf": "valid_perf",
    "test_perf": "perf",
    "latency_s": "latency",
    "params_mb": "para",
}

_HOW = "pip install nas-bench-graph==1.4.0 (it ships light/<dataset>.bench), or put the file under $NAG_DATA_DIR/"


def _space() -> NASBenchGraphSpace:
    from nag.spaces import get_space

    return cast(NASBenchGraphSpace, get_space("nasbench_graph"))


def bench_path(dataset: str) -> Path:
    """Path of ``<dataset>.bench``: the installed package's ``light/`` folder, else the data resolver.

    Raises:
        InvalidChoiceError: ``dataset`` is not one of `DATASETS`.
        DataNotFoundError: the file is in neither place.
        NagRuntimeError: the file differs from the pinned release's SHA-256.
    """
    if dataset not in DATASETS:
        raise InvalidChoiceError("dataset", dataset, DATASETS)
    rel = f"nasbench_graph/{dataset}.bench"
    searched: list[str] = []
    spec = importlib.util.find_spec("nas_bench_graph")
    if spec is not None and spec.origin:
        p = Path(spec.origin).parent / "light" / f"{dataset}.bench"
        if p.is_file():
            verify(p, rel)  # a pickle: checked against the pinned release before it is loaded
            return p
        searched.append(str(p.parent))
    try:
        return resolve(rel)
    except DataNotFoundError:
        raise DataNotFoundError(rel, searched + [str(d) for d in data_dirs()], _HOW) from None


@cache
def load_raw(dataset: str) -> dict[int, dict[str, float]]:
    """The package's table for ``dataset``: ``{key: {"valid_perf", "perf", "latency", "para"}}`` (read once)."""
    # the package's own reader (``nas_bench_graph.light_read``) is exactly this pickle load
    with open(bench_path(dataset), "rb") as f:
        return pickle.load(f)


@cache
def load_table(dataset: str) -> pd.DataFrame:
    """One row per architecture in `NASBenchGraphSpace.enumerate` order (26,206 rows), NaN where unlabelled.

    Columns: ``key`` (the package hash, int64), ``arch`` (text form of the representative), ``labelled`` (bool) and
    the `METRICS` (float64).
    """
    raw = load_raw(dataset)
    space = _space()
    keys = np.asarray(space.keys(), dtype=np.int64)
    row_of = {int(k): i for i, k in enumerate(keys)}
    unknown = [k for k in raw if k not in row_of]
    if unknown:
        raise ValueError(
            f"{bench_path(dataset)}: {len(unknown)} keys are no architecture of the space, e.g. {unknown[0]}"
        )
    cols = {m: np.full(len(keys), math.nan) for m in METRICS}
    rows = np.fromiter((row_of[k] for k in raw), dtype=np.int64, count=len(raw))
    for m, field in METRICS.items():
        cols[m][rows] = np.fromiter((float(r[field]) for r in raw.values()), dtype=np.float64, count=len(raw))
    labelled = np.zeros(len(keys), dtype=bool)
    labelled[rows] = True
    return pd.DataFrame(
        {"key": keys, "arch": [str(a) for a in space.enumerate()], "labelled": labelled, **cols}
    )


class NASBenchGraphBenchmark(Benchmark[NBGArch]):
    """Validation/test performance, latency and parameter count of every NAS-Bench-Graph architecture."""

    space_name = "nasbench_graph"
    spec = BenchmarkSpec(
        datasets=DATASETS,
        default_dataset="cora",
        dataset_aliases={
            "ogbn-arxiv": "arxiv",
            "ogbn_arxiv": "arxiv",
            "ogbn-proteins": "proteins",
            "ogbn_proteins": "proteins",
            "coauthor-cs": "cs",
            "coauthorcs": "cs",
            "coauthor-physics": "physics",
            "coauthorphysics": "physics",
            "amazon-photo": "photo",
            "amazonphoto": "photo",
            "amazon-computers": "computers",
            "amazoncomputers": "computers",
            "computer": "computers",
        },
        signals={"val_perf": (None, "val_perf")},
        signal_aliases={"target": "val_perf"},
        report="test_perf",
        key="canonical",  # one row per isomorphism class (the package's representatives)
        index="space",
        targets=("accuracy",),
        accuracy_label="test_perf",
    )

    def __init__(self) -> None:
        self._columns: dict[str, dict[str, np.ndarray]] = {}

    @cached_property
    def space(self) -> NASBenchGraphSpace:
        """The search space whose architectures this benchmark answers for."""
        return _space()

    def _arrays(self, dataset: str) -> dict[str, np.ndarray]:
        """metric -> ``26206`` float64 array of ``dataset`` (aliases accepted), built once per instance."""
        ds = self.resolve_dataset(dataset)
        if ds not in self._columns:
            t = load_table(ds)
            self._columns[ds] = {m: t[m].to_numpy(dtype=np.float64) for m in METRICS}
        return self._columns[ds]

    # ------------------------------------------------------------------ Benchmark API
    def metrics(self, dataset: str) -> list[str]:
        self.resolve_dataset(dataset)
        return list(METRICS)

    def record(self, arch: NBGArch, dataset: str) -> dict[str, float]:
        """Every metric of ``arch`` on ``dataset`` (NaN on ``proteins`` outside its reduced op set).

        Raises:
            InvalidChoiceError: unknown dataset.
            InvalidArchitectureError: ``arch`` is not a valid architecture of the space.
        """
        arr = self._arrays(dataset)
        i = self.space.index(arch)
        return {m: float(a[i]) for m, a in arr.items()}

    def query(self, arch: NBGArch, dataset: str, metric: str) -> float:
        """One value; unknown ``metric`` raises `InvalidChoiceError` listing `METRICS`."""
        arr = self._arrays(dataset)
        if metric not in arr:
            raise InvalidChoiceError("metric", metric, list(METRICS))
        return float(arr[metric][self.space.index(arch)])

    def column(self, dataset: str, metric: str) -> np.ndarray:
        """``metric`` for all 26,206 architectures in `NASBenchGraphSpace.enumerate` order (float64, a copy)."""
        arr = self._arrays(dataset)
        if metric not in arr:
            raise InvalidChoiceError("metric", metric, list(METRICS))
        return arr[metric].copy()

    def table(self, dataset: str) -> pd.DataFrame:
        """The whole table of ``dataset`` (see `load_table`); a copy, safe to modify."""
        return load_table(self.resolve_dataset(dataset)).copy()

    def cost(self, arch: NBGArch, dataset: str) -> float | None:
        """``None``: the package's tables hold no training time (only the full figshare release has curves)."""
        self.resolve_dataset(dataset)
        return None

    def labelled(self, dataset: str) -> list[NBGArch]:
        """`archs` labelled on ``dataset``, in index order."""
        return self.archs(dataset)

    def labelled_column(self, dataset: str, metric: str) -> np.ndarray:
        """`column` at the `labelled` rows."""
        rows = np.flatnonzero(self.table(dataset)["labelled"].to_numpy())
        return self.column(dataset, metric)[rows]

    def archs(self, dataset: str | None = None) -> list[NBGArch]:
        """All 26,206 representatives, or those labelled on ``dataset`` (2,021 on ``proteins``), in index order."""
        reps = list(self.space.enumerate())
        if dataset is None:
            return reps
        labelled = load_table(self.resolve_dataset(dataset))["labelled"].to_numpy()
        return [reps[i] for i in np.flatnonzero(labelled)]
