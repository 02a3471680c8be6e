"""TransNAS-Bench-101 micro benchmark: NASLib's per-task tables (`nag.benchmarks.transnas101`) as a `Benchmark`.

NASLib's zero-cost file holds, for each of the seven tasks, 711 labelled cells of the 4,096, each with one score
(``val_accuracy``: the task's validation score as NASLib reports it, higher is better) and eleven training-free
metrics with their compute time. There is one score per task, so the search signal and the reported value are the
same metric (as in RoBoT's ``search_tnb101.py``, which sets its "test" accuracy to the validation score). Searches
run over the task's labelled cells only (`BenchmarkSpec.index` ``"labelled"``), like NAS-Bench-101's.

Metric names per task: ``val_accuracy``; the metrics ``epe_nas``, ``fisher``, ``flops``, ``grad_norm``, ``grasp``,
``jacov``, ``l2_norm``, ``nwot``, ``params``, ``plain``, ``snip`` (NASLib's failure code ``-1e8`` read as NaN here,
kept raw by `metric_matrix` as RoBoT's reference reads it); ``<metric>_time_s`` (seconds NASLib spent on it).
Unlabelled cells have NaN everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

from nag.benchmarks.base import Benchmark, BenchmarkSpec
from nag.benchmarks.transnas101 import TNB101_TASKS, TransNAS101
from nag.errors import InvalidChoiceError
from nag.spaces.transnas101 import TNBMicroArch, TransNASMicroSpace

__all__ = ["TransNASMicroBenchmark", "SPEC"]

#: What TransNAS-Bench-101 micro means to searches, predictors and RoBoT (`BenchmarkSpec`).
SPEC = BenchmarkSpec(
    datasets=TNB101_TASKS,
    default_dataset="class_scene",
    dataset_aliases={
        "scene": "class_scene",
        "object": "class_object",
        "layout": "room_layout",
        "segmentation": "segmentsemantic",
        "semantic": "segmentsemantic",
        "surface_normal": "normal",
    },
    # NASLib's file has one score per task: the signal is also the report
    signals={"val_accuracy": (None, "val_accuracy")},
    signal_aliases={"target": "val_accuracy"},
    report="val_accuracy",
    key="format",  # one row per code tuple: isomorphic cells were trained separately
    index="labelled",
    # RoBoT's TransNAS-Bench-101 metrics (search_tnb101.py) but synflow, which these files lack
    training_free=("grad_norm", "snip", "grasp", "fisher", "jacov"),
)


class TransNASMicroBenchmark(Benchmark[TNBMicroArch]):
    """Per-task scores and training-free metrics of NASLib's 711 labelled TransNAS-Bench-101 micro cells."""

    space_name = "transnas101_micro"
    spec = SPEC

    def __init__(self) -> None:
        self.space = TransNASMicroSpace()
        self._columns: dict[tuple[str, str], np.ndarray] = {}

    @cached_property
    def tables(self) -> TransNAS101:
        """The parsed NASLib tables (read once per process)."""
        return TransNAS101("micro")

    @cached_property
    def _rows(self) -> dict[str, dict[str, int]]:
        return {t: {k: i for i, k in enumerate(self.tables.archs(t))} for t in self.tables.tasks()}

    def _scores(self, task: str) -> list[str]:
        return self.tables.metrics(task)

    def metrics(self, dataset: str) -> list[str]:
        """``val_accuracy``, the training-free metrics, then their ``<metric>_time_s``."""
        task = self.resolve_dataset(dataset)
        names = self._scores(task)
        return ["val_accuracy", *names, *(f"{m}_time_s" for m in names)]

    def _value_column(self, task: str, metric: str) -> np.ndarray:
        """``K`` float64 values of ``metric`` over the task's rows (NaN for NASLib's failure code)."""
        tab = self.tables.table(task)
        if metric == "val_accuracy":
            return tab["val_accuracy"].to_numpy(dtype=np.float64)
        if metric.endswith("_time_s") and metric[: -len("_time_s")] in self._scores(task):
            return tab[f"{metric[: -len('_time_s')]}_time"].to_numpy(dtype=np.float64)
        if metric in self._scores(task):
            return self.tables.metric_matrix(task, (metric,), failed_as_nan=True)[0]
        raise InvalidChoiceError("metric", metric, self.metrics(task))

    def column(self, dataset: str, metric: str) -> np.ndarray:
        """``metric`` for the task's labelled cells in `labelled` order (``711`` float64, a copy)."""
        return self._column_ref(self.resolve_dataset(dataset), metric).copy()

    def record(self, arch: TNBMicroArch, dataset: str) -> dict[str, float]:
        """Every value of ``arch`` on task ``dataset``; NaN everywhere for an unlabelled cell."""
        task = self.resolve_dataset(dataset)
        i = self._rows[task].get(self.space.format(arch))
        names = self.metrics(task)
        if i is None:
            return dict.fromkeys(names, np.nan)
        return {m: float(self._column_ref(task, m)[i]) for m in names}

    def query(self, arch: TNBMicroArch, dataset: str, metric: str) -> float:
        """One value (a dictionary lookup and an array read); NaN for an unlabelled cell."""
        task = self.resolve_dataset(dataset)
        if metric not in self.metrics(task):
            raise InvalidChoiceError("metric", metric, self.metrics(task))
        i = self._rows[task].get(self.space.format(arch))
        return np.nan if i is None else float(self._column_ref(task, metric)[i])

    def _column_ref(self, task: str, metric: str) -> np.ndarray:
        if (task, metric) not in self._columns:
            self._columns[(task, metric)] = self._value_column(task, metric)
        return self._columns[(task, metric)]

    def archs(self) -> list[TNBMicroArch]:
        """Cells labelled on every task (the seven tasks share NASLib's 711 cells), in the file's row order."""
        common = set.intersection(*(set(self._rows[t]) for t in self.tables.tasks()))
        return [self.space.parse(k) for k in self.tables.archs(self.spec.default_dataset) if k in common]

    def labelled(self, dataset: str) -> list[TNBMicroArch]:
        """The task's labelled cells in the file's row order (the index of `column` and `metric_matrix`)."""
        return [self.space.parse(k) for k in self.tables.archs(self.resolve_dataset(dataset))]

    def labelled_column(self, dataset: str, metric: str) -> np.ndarray:
        """`column`: it is indexed by `labelled`."""
        return self.column(dataset, metric)

    def training_free_features(self, dataset: str) -> list[str]:
        """The eleven NASLib metrics of the task (failures as NaN)."""
        return self._scores(self.resolve_dataset(dataset))

    def metric_matrix(self, dataset: str, metrics: Sequence[str]) -> np.ndarray:
        """``M x 711`` raw metric values in `labelled` order, NASLib's ``-1e8`` failure code kept (RoBoT's reference
        normalises it as the minimum).

        Raises:
            InvalidChoiceError: field ``metrics``, the unknown names, listing the task's metrics.
        """
        return self.tables.metric_matrix(self.resolve_dataset(dataset), tuple(metrics))

    def cost(self, arch: TNBMicroArch, dataset: str) -> float | None:
        """``None``: NASLib's file holds no training time."""
        self.resolve_dataset(dataset)
        return None
