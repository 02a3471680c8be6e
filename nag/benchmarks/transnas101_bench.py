"""TransNAS-Bench-101 benchmarks (micro and macro): NASLib's per-task tables (`nag.benchmarks.transnas101`) as
`Benchmark` s.

NASLib's zero-cost files hold, for each of the seven tasks, a sample of labelled architectures (micro: 711 of the
4,096 cells, the same for every task; macro: 662 of the 3,256 networks for the two classification tasks, 725 for the
others), each with one score (``val_accuracy``: the task's validation score as NASLib reports it, higher is better)
and eleven training-free metrics with their compute time. There is one score per task, so the search signal and the
reported value are the same metric (as in RoBoT's ``search_tnb101.py``, which sets its "test" accuracy to the
validation score). Searches run over the task's labelled architectures only (`BenchmarkSpec.index` ``"labelled"``),
like NAS-Bench-101's.

Metric names per task: ``val_accuracy``; the metrics ``epe_nas``, ``fisher``, ``flops``, ``grad_norm``, ``grasp``,
``jacov``, ``l2_norm``, ``nwot``, ``params``, ``plain``, ``snip`` (NASLib's failure code ``-1e8`` read as NaN here,
kept raw by `metric_matrix` as RoBoT's reference reads it); ``<metric>_time_s`` (seconds NASLib spent on it).
Unlabelled architectures have NaN everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

from nag.benchmarks.base import ArchT, Benchmark, BenchmarkSpec
from nag.benchmarks.transnas101 import TNB101_TASKS, TransNAS101
from nag.errors import InvalidChoiceError
from nag.spaces.base import SearchSpace
from nag.spaces.transnas101 import TNBMacroArch, TNBMicroArch, TransNASMacroSpace, TransNASMicroSpace

__all__ = [
    "TransNASBenchmark",
    "TransNASMicroBenchmark",
    "TransNASMacroBenchmark",
    "MICRO_SPEC",
    "MACRO_SPEC",
]

#: What TransNAS-Bench-101 micro means to searches, predictors and RoBoT (`BenchmarkSpec`).
MICRO_SPEC = BenchmarkSpec(
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
#: TransNAS-Bench-101 macro: the same facts (one network per block sequence, no isomorphism to merge).
MACRO_SPEC = MICRO_SPEC


class TransNASBenchmark(Benchmark[ArchT]):
    """Per-task scores and training-free metrics of NASLib's labelled architectures of one TransNAS-Bench-101 space.

    Class attributes:
        variant: ``"micro"`` or ``"macro"`` (which NASLib file).
        space_cls: the search space class.
    """

    variant: str
    space_cls: type[SearchSpace]

    def __init__(self) -> None:
        self.space = self.space_cls()
        self._columns: dict[tuple[str, str], np.ndarray] = {}

    @cached_property
    def tables(self) -> TransNAS101:
        """The parsed NASLib tables (read once per process)."""
        return TransNAS101(self.variant)

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
        """``metric`` for the task's labelled architectures in `labelled` order (``K`` float64, a copy)."""
        return self._column_ref(self.resolve_dataset(dataset), metric).copy()

    def record(self, arch: ArchT, dataset: str) -> dict[str, float]:
        """Every value of ``arch`` on task ``dataset``; NaN everywhere for an unlabelled architecture."""
        task = self.resolve_dataset(dataset)
        i = self._rows[task].get(self.space.format(arch))
        names = self.metrics(task)
        if i is None:
            return dict.fromkeys(names, np.nan)
        return {m: float(self._column_ref(task, m)[i]) for m in names}

    def query(self, arch: ArchT, dataset: str, metric: str) -> float:
        """One value (a dictionary lookup and an array read); NaN for an unlabelled architecture."""
        task = self.resolve_dataset(dataset)
        if metric not in self.metrics(task):
            raise InvalidChoiceError("metric", metric, self.metrics(task))
        i = self._rows[task].get(self.space.format(arch))
        return np.nan if i is None else float(self._column_ref(task, metric)[i])

    def _column_ref(self, task: str, metric: str) -> np.ndarray:
        if (task, metric) not in self._columns:
            self._columns[(task, metric)] = self._value_column(task, metric)
        return self._columns[(task, metric)]

    def archs(self) -> list[ArchT]:
        """Architectures labelled on every task (micro: NASLib's 711 cells, shared by the seven tasks; macro: the 662
        of the classification tasks), in the file's row order of the default task."""
        common = set.intersection(*(set(self._rows[t]) for t in self.tables.tasks()))
        return [self.space.parse(k) for k in self.tables.archs(self.spec.default_dataset) if k in common]

    def labelled(self, dataset: str) -> list[ArchT]:
        """The task's labelled architectures in the file's row order (the index of `column` and `metric_matrix`)."""
        return [self.space.parse(k) for k in self.tables.archs(self.resolve_dataset(dataset))]

    def labelled_column(self, dataset: str, metric: str) -> np.ndarray:
        """`column`: it is indexed by `labelled`."""
        return self.column(dataset, metric)

    def training_free_features(self, dataset: str) -> list[str]:
        """The eleven NASLib metrics of the task (failures as NaN)."""
        return self._scores(self.resolve_dataset(dataset))

    def metric_matrix(self, dataset: str, metrics: Sequence[str]) -> np.ndarray:
        """``M x K`` raw metric values in `labelled` order, NASLib's ``-1e8`` failure code kept (RoBoT's reference
        normalises it as the minimum).

        Raises:
            InvalidChoiceError: field ``metrics``, the unknown names, listing the task's metrics.
        """
        return self.tables.metric_matrix(self.resolve_dataset(dataset), tuple(metrics))

    def cost(self, arch: ArchT, dataset: str) -> float | None:
        """``None``: NASLib's file holds no training time."""
        self.resolve_dataset(dataset)
        return None


class TransNASMicroBenchmark(TransNASBenchmark[TNBMicroArch]):
    """NASLib's 711 labelled TransNAS-Bench-101 micro cells per task."""

    space_name = "transnas101_micro"
    spec = MICRO_SPEC
    variant = "micro"
    space_cls = TransNASMicroSpace


class TransNASMacroBenchmark(TransNASBenchmark[TNBMacroArch]):
    """NASLib's 662 (classification) or 725 (other tasks) labelled TransNAS-Bench-101 macro networks per task."""

    space_name = "transnas101_macro"
    spec = MACRO_SPEC
    variant = "macro"
    space_cls = TransNASMacroSpace
