"""NAS-Bench-101 tabular oracle over ``shared/data/nb101`` (CIFAR-10 only).

Two real sources, both keyed here by the benchmark's graph hash (`NB101Space.canonical`), so isomorphic cells share a
row:

* ``naslib_zc_nasbench101_500archs.json.gz`` — NASLib's 500 sampled cells: one 108-epoch validation accuracy (%)
  (one of the benchmark's three repeats, times 100) and 11 training-free metrics computed at initialisation.
  Several rows can be the same cell up to isomorphism (55 rows are the bare input -> output cell): their values are
  averaged (independent draws of the same quantity), so a cell with one row returns the file's values exactly.
* ``naslib_nb101_30archs.pkl`` — 30 full benchmark records: ``trainable_parameters`` and, for every epoch budget in
  the file (108 only), the final and halfway train / validation / test accuracy and training time of each of the
  three repeats; we report the mean over repeats, accuracies in %.

Metric names (NaN where the cell's row has no value):

* ``val_acc`` — 108-epoch validation accuracy (%): the 3-repeat mean where the full record is known, else NASLib's
  single-repeat value. The search signal.
* ``train_acc``, ``test_acc``, ``train_time_s`` — 108-epoch train / test accuracy (%) and training seconds
  (full records only); ``*_halfway`` — the same at epoch 54 of that run. Budgets other than 108, if a file has them,
  get the suffix ``_e<epochs>``. `NB101Benchmark.cost` returns ``train_time_s``.
* ``params_mb`` — trainable parameters in millions (full record, else NASLib's ``params``).
* ``naslib_val_acc`` and ``naslib_zc_<name>`` — NASLib's values as stored (``epe_nas``, ``fisher``, ``flops``,
  ``grad_norm``, ``grasp``, ``jacov``, ``l2_norm``, ``params``, ``plain``, ``snip``, ``synflow``).
"""

from __future__ import annotations

import gzip
import json
import math
import pickle
from collections import defaultdict
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

from nag.benchmarks.base import Benchmark, BenchmarkSpec
from nag.benchmarks.data import resolve
from nag.spaces.nb101 import NB101Arch, NB101Space

__all__ = ["NB101Benchmark", "NB101Tables", "load_tables", "ZC_FILE", "FULL_FILE"]

ZC_FILE = "nb101/naslib_zc_nasbench101_500archs.json.gz"
FULL_FILE = "nb101/naslib_nb101_30archs.pkl"
_MAIN_EPOCHS = 108
_STATS = (("train_accuracy", "train_acc", 100.0), ("validation_accuracy", "val_acc", 100.0))
_STATS += (("test_accuracy", "test_acc", 100.0), ("training_time", "train_time_s", 1.0))


@dataclass(frozen=True)
class NB101Tables:
    """Parsed NAS-Bench-101 data, keyed by graph hash.

    Attributes:
        zc: hash -> NASLib metric -> values of every row of that cell (file order).
        full: hash -> metric -> value from the full records (already averaged over repeats).
        archs: hash -> the pruned cell (the first row seen), in file order: the 500-cell file, then the 30 records.
        zc_names: NASLib metric names, in file order.
        full_names: full-record metric names, in a fixed order.
    """

    zc: dict[str, dict[str, list[float]]]
    full: dict[str, dict[str, float]]
    archs: dict[str, NB101Arch]
    zc_names: tuple[str, ...]
    full_names: tuple[str, ...]


def _suffix(epochs: int) -> str:
    return "" if epochs == _MAIN_EPOCHS else f"_e{epochs}"


@cache
def load_tables(zc_path: str, full_path: str) -> NB101Tables:
    """Parse both files once per process (they are small: well under a second).

    Args:
        zc_path: path of ``naslib_zc_nasbench101_500archs.json.gz``.
        full_path: path of ``naslib_nb101_30archs.pkl``.
    """
    space = NB101Space()
    with gzip.open(zc_path, "rt") as f:
        raw = json.load(f)["nasbench101"]["cifar10"]
    zc: dict[str, dict[str, list[float]]] = {}
    archs: dict[str, NB101Arch] = {}
    names: dict[str, None] = {}
    for key, rec in raw.items():
        arch = space.parse(key)
        errs = space.validate(arch)
        if errs:
            raise ValueError(f"{ZC_FILE}: cell {key} is invalid: {'; '.join(errs)}")
        h = space.canonical(arch)
        archs.setdefault(h, arch)
        row = zc.setdefault(h, defaultdict(list))
        for name, v in rec.items():
            names[name] = None
            row[name].append(float(v))

    with open(full_path, "rb") as f:
        records = pickle.load(f)  # a trusted NASLib test asset: {hash: (fixed stats, {epochs: [3 repeats]})}
    full: dict[str, dict[str, float]] = {}
    full_names: dict[str, None] = {"params_mb": None}
    for h_file, (fixed, computed) in records.items():
        arch = NB101Arch(matrix=fixed["module_adjacency"], ops=fixed["module_operations"])
        h = space.canonical(arch)
        if h != h_file:
            raise ValueError(f"{FULL_FILE}: record {h_file} hashes to {h}; the hash definitions disagree")
        archs.setdefault(h, arch)
        row = {"params_mb": fixed["trainable_parameters"] / 1e6}
        for epochs in sorted(computed):
            for part, tag in (("final", ""), ("halfway", "_halfway")):
                for stat, name, scale in _STATS:
                    key = f"{name}{tag}{_suffix(int(epochs))}"
                    full_names[key] = None
                    row[key] = float(np.mean([r[f"{part}_{stat}"] for r in computed[epochs]])) * scale
        full[h] = row
    return NB101Tables(
        zc={h: dict(v) for h, v in zc.items()},
        full=full,
        archs=archs,
        zc_names=tuple(names),
        full_names=tuple(full_names),
    )


class NB101Benchmark(Benchmark[NB101Arch]):
    """Every NAS-Bench-101 value in ``shared/data/nb101`` for a cell (see the module docstring)."""

    space_name = "nb101"
    spec = BenchmarkSpec(
        datasets=("cifar10",),
        default_dataset="cifar10",
        dataset_aliases={"cifar-10": "cifar10", "c10": "cifar10"},
        signals={"val_acc": (None, "val_acc")},  # 108-epoch validation
        signal_aliases={"target": "val_acc"},
        report="test_acc",
        key="canonical",  # isomorphic cells share one record (the graph hash)
        index="labelled",
    )

    def __init__(self) -> None:
        self.space = NB101Space()

    @cached_property
    def tables(self) -> NB101Tables:
        """The parsed data (resolved through `nag.benchmarks.data.resolve`, parsed once per process)."""
        return load_tables(str(resolve(ZC_FILE)), str(resolve(FULL_FILE)))

    def metrics(self, dataset: str) -> list[str]:
        """``val_acc``, the full-record metrics, then ``naslib_val_acc`` and ``naslib_zc_<name>``."""
        self.resolve_dataset(dataset)
        t = self.tables
        naslib = [f"naslib_zc_{n}" if n != "val_accuracy" else "naslib_val_acc" for n in t.zc_names]
        names = ["val_acc", *t.full_names, *sorted(naslib, key=lambda n: (n != "naslib_val_acc", n))]
        return list(dict.fromkeys(names))

    def _hash(self, arch: NB101Arch) -> str:
        h = self.space.canonical(arch)
        if h not in self.tables.archs:
            raise KeyError(
                f"nb101: cell {arch} (hash {h}) is not among the {len(self.tables.archs)} labelled cells of "
                f"{ZC_FILE} and {FULL_FILE}"
            )
        return h

    def record(self, arch: NB101Arch, dataset: str) -> dict[str, float]:
        """Every value for ``arch`` (isomorphic cells hit the same row); NaN where unknown.

        Raises:
            KeyError: the cell is in neither file.
            InvalidChoiceError: unknown dataset.
        """
        ds = self.resolve_dataset(dataset)
        h = self._hash(arch)
        t = self.tables
        out = dict.fromkeys(self.metrics(ds), math.nan)
        for name, vals in t.zc.get(h, {}).items():
            # a plain mean, so a single row is returned bit-for-bit
            out["naslib_val_acc" if name == "val_accuracy" else f"naslib_zc_{name}"] = sum(vals) / len(vals)
        out["val_acc"] = out["naslib_val_acc"]
        out["params_mb"] = out.get("naslib_zc_params", math.nan)
        out.update(t.full.get(h, {}))
        return out

    def training_free_features(self, dataset: str) -> list[str]:
        """NASLib's ``naslib_zc_*`` metrics."""
        return [m for m in self.metrics(dataset) if m.startswith("naslib_zc_")]

    def archs(self) -> list[NB101Arch]:
        """One pruned cell per labelled isomorphism class: NASLib's cells in file order, then the remaining full records."""
        return list(self.tables.archs.values())

    def cost(self, arch: NB101Arch, dataset: str) -> float | None:
        """Seconds of the 108-epoch training run (3-repeat mean), where the full record is known."""
        v = self.record(arch, dataset)["train_time_s"]
        return None if math.isnan(v) else v
