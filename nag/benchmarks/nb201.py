"""NAS-Bench-201 tabular oracle over ``shared/data/nb201``, or the package's embedded default where that is absent.

Each file is read through `nag.benchmarks.data.locate`: the full file when a data directory holds it (verified against
its SHA-256, cached as parquet by content), else the compact stand-in in ``nag/benchmarks/default`` (the same parse with
fewer columns: no HELP latencies, NB201 v1.0 copies or NASLib scores, no robustness table). A metric only the full
tables hold raises `DataNotFoundError` naming the file; `NB201Benchmark.data_sources` says what was read.

Datasets: ``cifar10``, ``cifar100``, ``ImageNet16-120`` (aliases ``c10``, ``c100``, ``in16``, ``imagenet16``, ...).
Metric names (the same for every dataset where the data has them; NaN where a row has no value):

* ``test_acc`` — 200-epoch test accuracy (%), NATS-Bench averages; ``test_acc_nb201v1`` — NB201 v1.0 values.
* ``val_acc`` / ``valid_test_acc`` — cifar10-valid split, 200 epochs (CIFAR-10 only).
* ``val_acc_hp12`` / ``test_acc_hp12`` — 12-epoch validation / test accuracy: the cheap search-time signals
  (``val_acc_hp12`` of CIFAR-10 is ``cifar10valid_val_acc_hp12``).
* ``cost_hp12_s`` — seconds of the 12-epoch training run (cifar10-valid), the cost of a query; `cost` returns it.
* ``params_mb`` — parameters in millions (ImageNet16-120's raw count is converted).
* ``naswot``, ``synflow``, ``logsynflow``, ``nregions`` — precomputed training-free metrics (FreeREA cache).
* ``<metric>_<device>`` from HW-NAS-Bench: ``latency_*`` (ms) / ``energy_*`` (mJ) on ``edgegpu``, ``raspi4``,
  ``edgetpu``, ``pixel3``, ``eyeriss``, ``fpga``, and ``arithmetic_intensity_eyeriss``.
* ``help_latency_ms_<device>`` — HELP latencies (27 device settings; the same values under every dataset).
* ``zc_<name>`` — NAS-Bench-Suite-Zero's 13 training-free metrics (CIFAR-10 and ImageNet16-120), looked up by the
  cell with ops that cannot reach the output (or cannot be reached) set to ``none``; failures (-1e8) become NaN.
* ``naslib_zc_<name>`` and ``naslib_zc_<name>_time_s`` — NASLib's 12 metrics and their compute time, for its 725
  cells only (all three datasets), plus ``naslib_val_acc``.
* ``robust_<attack>`` — CIFAR-10 adversarial accuracies (FGSM, PGD, APGD-CE, Square at several eps) and
  ``robust_clean_val_acc``.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Sequence
from functools import cached_property

import numpy as np
import pandas as pd

from nag.benchmarks.base import Benchmark, BenchmarkSpec, load_frame
from nag.benchmarks.data import DataFile, not_found
from nag.errors import DataNotFoundError, InvalidChoiceError, NagRuntimeError
from nag.spaces.nb201 import EDGES, NB201Arch

__all__ = [
    "NB201Benchmark",
    "load",
    "load_table",
    "load_arch_strings",
    "reduce_unreachable",
    "DATASETS",
    "DEVICES",
    "PARSERS",
]

TABLE = "nb201/nb201_table.csv.gz"
ZC_FILES = {
    "cifar10": "nb201/nb201_zc_proxies.csv.gz",
    "ImageNet16-120": "nb201/nb201_ImageNet16-120_zc_proxies.csv.gz",
}
NASLIB_ZC = "nb201/naslib_zc_nasbench201_725archs.json.gz"
ROBUSTNESS = "nb201/robustness_cifar10.csv.gz"

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
_PREFIX = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "in16"}
DEVICES: tuple[str, ...] = ("edgegpu", "raspi4", "edgetpu", "pixel3", "eyeriss", "fpga")
_HW_COLS = (
    ("edgegpu", "latency"),
    ("edgegpu", "energy"),
    ("raspi4", "latency"),
    ("edgetpu", "latency"),
    ("pixel3", "latency"),
    ("eyeriss", "latency"),
    ("eyeriss", "energy"),
    ("eyeriss", "arithmetic_intensity"),
    ("fpga", "latency"),
    ("fpga", "energy"),
)
_ZC_FAIL = -1e7  # NAS-Bench-Suite-Zero codes failures as -1e8
#: FreeREA's precomputed training-free metrics (main-table columns), predictor inputs beside the ``zc_*`` ones.
_FREEREA = ("naswot", "synflow", "logsynflow", "nregions")

#: What NAS-Bench-201 means to searches, predictors and guidance (`BenchmarkSpec`).
SPEC = BenchmarkSpec(
    datasets=DATASETS,
    default_dataset="cifar10",
    dataset_aliases={
        "c10": "cifar10",
        "cifar-10": "cifar10",
        "c100": "cifar100",
        "cifar-100": "cifar100",
        "in16": "ImageNet16-120",
        "imagenet16": "ImageNet16-120",
        "imagenet16-120": "ImageNet16-120",
        "imagenet": "ImageNet16-120",
        "in16-120": "ImageNet16-120",
    },
    signals={
        "val_acc_hp12": (None, "val_acc_hp12"),  # the target dataset's 12-epoch validation (the default)
        "val_acc": (None, "val_acc"),  # 200-epoch validation: cifar10-valid only
        "cifar10:val_acc_hp12": ("cifar10", "val_acc_hp12"),  # RoBoT's protocol: CIFAR-10 12-epoch validation
    },
    signal_aliases={
        "target": "val_acc_hp12",
        "cifar10": "cifar10:val_acc_hp12",
        "robot": "cifar10:val_acc_hp12",
        "val200": "val_acc",
    },
    report="test_acc",
    key="format",  # isomorphic cells have their own table rows (each was trained)
    index="space",
    exhaustive=True,
    costed_metrics=("val_acc_hp12",),  # the table holds the 12-epoch training time only
    targets=("accuracy", "latency", "energy", "params"),
    accuracy_label="test_acc",
    devices=DEVICES,
    # RoBoT's six metrics (He et al., ICLR 2024) under their NAS-Bench-Suite-Zero names
    training_free=("grad_norm", "snip", "grasp", "fisher", "synflow", "jacov"),
    zc_kernel=True,
)


def reduce_unreachable(arch: NB201Arch) -> NB201Arch:
    """Set to ``none`` every edge that cannot carry signal from the input to the output.

    An edge carries signal only if its source is reachable from cell node 0 through non-``none`` edges and its target
    reaches cell node 3 the same way. This is the key of NAS-Bench-Suite-Zero's 9,445-row tables.
    """
    ops = list(arch.ops)
    fwd = {0}
    for d in (1, 2, 3):
        if any(s in fwd and ops[k] != "none" for k, (s, dd) in enumerate(EDGES) if dd == d):
            fwd.add(d)
    bwd = {3}
    for s in (2, 1, 0):
        if any(d in bwd and ops[k] != "none" for k, (ss, d) in enumerate(EDGES) if ss == s):
            bwd.add(s)
    return NB201Arch(
        tuple("none" if s not in fwd or d not in bwd else ops[k] for k, (s, d) in enumerate(EDGES))
    )  # type: ignore[arg-type]


def _parse_naslib_json(path) -> pd.DataFrame:
    with gzip.open(path, "rt") as f:
        raw = json.load(f)
    rows = []
    for ds, archs in raw.items():
        for key, rec in archs.items():
            row = {"dataset": ds, "net": key, "naslib_val_acc": float(rec.get("val_accuracy", math.nan))}
            for name, v in rec.items():
                if isinstance(v, dict) and "score" in v:
                    row[f"naslib_zc_{name}"] = float(v["score"])
                    row[f"naslib_zc_{name}_time_s"] = float(v.get("time", math.nan))
            rows.append(row)
    return pd.DataFrame(rows)


#: Parse of each file of the data tree (the embedded stand-ins are these parses with fewer columns).
PARSERS = {
    TABLE: ("nb201_table", pd.read_csv),
    ZC_FILES["cifar10"]: ("nb201_zc_cifar10", pd.read_csv),
    ZC_FILES["ImageNet16-120"]: ("nb201_zc_in16", pd.read_csv),
    NASLIB_ZC: ("nb201_naslib_zc", _parse_naslib_json),
    ROBUSTNESS: ("nb201_robustness", pd.read_csv),
}


def load(relpath: str) -> tuple[pd.DataFrame, DataFile]:
    """One NB201 data file parsed (see `PARSERS`): the full file when found (verified; cached as parquet by content
    hash), else the package's embedded stand-in; with where it came from."""
    key, parse = PARSERS[relpath]
    return load_frame(relpath, key, parse)


def load_table() -> pd.DataFrame:
    """The main NB201 table (15,625 x 92; the embedded default has fewer columns), parsed once and cached."""
    return load(TABLE)[0]


def load_arch_strings() -> list[str]:
    """Arch strings in official index order (row ``i`` is index ``i``)."""
    t = load_table()
    if not (t["nb201_index"].to_numpy() == np.arange(len(t))).all():
        raise ValueError(f"{TABLE}: rows are not in nb201_index order")
    return t["arch_str"].tolist()


class NB201Benchmark(Benchmark[NB201Arch]):
    """Every NAS-Bench-201 value in ``shared/data`` for a cell and dataset (see the module docstring)."""

    space_name = "nb201"
    spec = SPEC

    def __init__(self) -> None:
        self._sources: dict[str, DataFile] = {}

    # ------------------------------------------------------------------ tables
    def _load(self, relpath: str) -> pd.DataFrame:
        df, f = load(relpath)
        self._sources[relpath] = f
        return df

    @property
    def data_sources(self) -> dict[str, DataFile]:
        """Where each table read so far came from: the full file or the embedded default (`DataFile.source`)."""
        return dict(self._sources)

    @property
    def embedded(self) -> bool:
        """Whether the main table is the package's embedded default (fewer metrics than the full tables)."""
        _ = self.table
        return self._sources[TABLE].source == "embedded"

    @cached_property
    def table(self) -> pd.DataFrame:
        """The main table (15,625 rows in index order)."""
        return self._load(TABLE)

    @cached_property
    def _row(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.table["arch_str"])}

    @cached_property
    def _column_spec(self) -> dict[str, dict[str, str]]:
        """dataset -> {metric name -> column of the full table} (HELP columns: those the table read has)."""
        help_cols = sorted(c for c in self.table.columns if c.startswith("help_lat_ms_"))
        out: dict[str, dict[str, str]] = {}
        for ds, p in _PREFIX.items():
            m = {
                "test_acc": f"{p}_test_acc",
                "test_acc_nb201v1": f"{p}_test_acc_nb201v1",
                "params_mb": f"params_mb_{p}",
            }
            m["test_acc_hp12"] = f"{p}_test_hp12"
            m["val_acc_hp12"] = "cifar10valid_val_acc_hp12" if ds == "cifar10" else f"{p}_val_hp12"
            for name in ("naswot", "synflow", "logsynflow", "nregions"):
                m[name] = f"{name}_{p}"
            for dev, metric in _HW_COLS:
                m[f"{metric}_{dev}"] = f"hw_{p}_{dev}_{metric}"
            for c in help_cols:
                m[c.replace("help_lat_ms_", "help_latency_ms_")] = c
            m["cost_hp12_s"] = "cifar10valid_cost_hp12_s"
            if ds == "cifar10":
                m.update(val_acc="cifar10valid_val_acc", valid_test_acc="cifar10valid_test_acc")
            out[ds] = m
        return out

    @cached_property
    def _columns(self) -> dict[str, dict[str, str]]:
        """dataset -> {metric name -> table column} for the columns the table read has.

        Raises:
            NagRuntimeError: the full table lacks a column (the embedded default lacks some by design).
        """
        cols = set(self.table.columns)
        out = {ds: {k: c for k, c in m.items() if c in cols} for ds, m in self._column_spec.items()}
        missing = sorted({c for m in self._column_spec.values() for c in m.values()} - cols)
        if missing and not self.embedded:
            raise NagRuntimeError(
                f"data file {self._sources[TABLE].location}: expected columns missing: {missing}"
            )
        return out

    def _full_only(self, ds: str, metric: str) -> str | None:
        """The data file holding ``metric`` where only its full version has it and the embedded default was read."""
        if self.embedded and (
            metric.startswith("help_latency_ms_")
            or (metric in self._column_spec[ds] and metric not in self._columns[ds])
        ):
            return TABLE
        if metric.startswith("robust_") and not self._robust:
            return ROBUSTNESS
        if (
            metric.startswith("naslib_")
            and metric not in self._naslib_names[ds]
            and self._sources[NASLIB_ZC].source == "embedded"
        ):
            return NASLIB_ZC
        return None

    @cached_property
    def _arrays(self) -> dict[str, np.ndarray]:
        arr = {
            c: self.table[c].to_numpy(dtype=np.float64)
            for c in self.table.columns
            if c.startswith(("hw_", "help_"))
        }
        for c in self.table.columns:
            if c not in arr and c not in ("nb201_index", "arch_str", "naslib_tuple"):
                arr[c] = self.table[c].to_numpy(dtype=np.float64)
        arr["params_mb_in16"] = arr["params_mb_in16"] / 1e6  # the source stores a raw count here
        return arr

    @cached_property
    def _zc_by_ds(self) -> dict[str, dict[str, dict[str, float]]]:
        """dataset -> NASLib tuple string of the reduced cell -> {zc_<metric>: value} (failures as NaN)."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for ds, rel in ZC_FILES.items():
            df = self._load(rel)
            names = [c for c in df.columns if c not in ("net", "net_str")]
            vals = df[names].to_numpy(dtype=np.float64, copy=True)
            vals[vals <= _ZC_FAIL] = np.nan
            out[ds] = {
                net: {f"zc_{n}": float(v) for n, v in zip(names, row, strict=True)}
                for net, row in zip(df["net"], vals, strict=True)
            }
        return out

    @cached_property
    def _zc_names(self) -> dict[str, list[str]]:
        return {ds: sorted(next(iter(rows.values()))) for ds, rows in self._zc_by_ds.items()}

    @cached_property
    def _naslib_by_ds(self) -> dict[str, dict[str, dict[str, float]]]:
        """dataset -> NASLib tuple string -> {metric: value} for NASLib's 725 cells."""
        df = self._load(NASLIB_ZC)
        out: dict[str, dict[str, dict[str, float]]] = {ds: {} for ds in DATASETS}
        for rec in df.to_dict("records"):
            ds, net = rec.pop("dataset"), rec.pop("net")
            if ds in out:
                out[ds][net] = {k: float(v) for k, v in rec.items()}
        return out

    def zc_seconds_per_cell(self, dataset: str, metrics: Sequence[str] | None = None) -> float:
        """Mean seconds to compute training-free metrics for one cell on ``dataset``: the sum of the per-metric times
        NASLib recorded, averaged over its 725 timed cells (their hardware).

        Args:
            metrics: metric names (``synflow``, ...); default NASLib's 12. A name NASLib did not time (``zen``) costs
                the mean of the timed ones.
        """
        rows = list(self._naslib_by_ds[self.resolve_dataset(dataset)].values())
        timed = sorted(
            {k[len("naslib_zc_") : -len("_time_s")] for r in rows for k in r if k.endswith("_time_s")}
        )
        mean = {m: float(np.nanmean([r.get(f"naslib_zc_{m}_time_s", math.nan) for r in rows])) for m in timed}
        names = timed if metrics is None else list(metrics)
        return float(sum(mean.get(m, float(np.mean(list(mean.values())))) for m in names))

    @cached_property
    def _robust(self) -> dict[str, dict[str, float]]:
        """NASLib tuple -> robustness values; empty when the file is absent (the embedded default has none)."""
        try:
            df = self._load(ROBUSTNESS)
        except DataNotFoundError:
            return {}
        names = [c for c in df.columns if c != "net"]
        rename = {c: ("robust_clean_val_acc" if c == "val_accs" else f"robust_{c}") for c in names}
        vals = df[names].to_numpy(dtype=np.float64, copy=True)
        return {
            net: {rename[n]: float(v) for n, v in zip(names, row, strict=True)}
            for net, row in zip(df["net"], vals, strict=True)
        }

    # ------------------------------------------------------------------ Benchmark API
    def metrics(self, dataset: str) -> list[str]:
        ds = self.resolve_dataset(dataset)
        names = list(self._columns[ds])
        names += self._zc_names.get(ds, [])
        names += self._naslib_names[ds]
        if ds == "cifar10" and self._robust:
            names += sorted(next(iter(self._robust.values())))
        return names

    def row(self, arch: NB201Arch) -> int:
        """Row (= official index) of ``arch`` in the main table."""
        try:
            return self._row[arch.arch_str]
        except KeyError:
            raise KeyError(f"arch: {arch.arch_str!r} is not in {TABLE}") from None

    def record(self, arch: NB201Arch, dataset: str) -> dict[str, float]:
        ds = self.resolve_dataset(dataset)
        i = self.row(arch)
        arr = self._arrays
        rec = {m: float(arr[c][i]) for m, c in self._columns[ds].items()}
        net = str(arch.naslib_tuple)
        zc_names = self._zc_names.get(ds, [])
        if zc_names:
            rec.update(
                self._zc_by_ds[ds].get(
                    str(reduce_unreachable(arch).naslib_tuple), dict.fromkeys(zc_names, math.nan)
                )
            )
        naslib = self._naslib_by_ds[ds]
        rec.update(naslib.get(net, dict.fromkeys(self._naslib_names[ds], math.nan)))
        if ds == "cifar10" and self._robust:
            rec.update(self._robust[net])
        return rec

    def query(self, arch: NB201Arch, dataset: str, metric: str) -> float:
        """One value; fast path for main-table columns (a dictionary lookup and an array read)."""
        ds = self.resolve_dataset(dataset)
        col = self._columns[ds].get(metric)
        if col is not None:
            return float(self._arrays[col][self.row(arch)])
        self._raise_if_full_only(ds, metric)
        return super().query(arch, ds, metric)

    def _raise_if_full_only(self, ds: str, metric: str) -> None:
        rel = self._full_only(ds, metric)
        if rel is not None:
            raise not_found(rel, f"{metric!r} is in the full tables only (the embedded default lacks it): ")

    @cached_property
    def _naslib_names(self) -> dict[str, list[str]]:
        return {ds: sorted({k for v in rows.values() for k in v}) for ds, rows in self._naslib_by_ds.items()}

    @cached_property
    def _reduced_keys(self) -> list[str]:
        """NASLib tuple of every cell's reduced form (`reduce_unreachable`), in index order: the zc tables' key."""
        return [str(reduce_unreachable(NB201Arch(tuple(o))).naslib_tuple) for o in self._index_ops]

    @cached_property
    def _index_ops(self) -> list[list[str]]:
        return [
            [tok.split("~")[0] for tok in s.replace("+", "").split("|") if tok]
            for s in self.table["arch_str"]
        ]

    def column(self, dataset: str, metric: str) -> np.ndarray:
        """A metric for all 15,625 cells in index order (``15625`` float64): any main-table metric, or a ``zc_*``
        NAS-Bench-Suite-Zero metric (CIFAR-10 and ImageNet16-120; NaN where the source failed)."""
        ds = self.resolve_dataset(dataset)
        if metric in self._columns[ds]:
            return self._arrays[self._columns[ds][metric]].copy()
        if metric in self._zc_names.get(ds, []):
            rows = self._zc_by_ds[ds]
            return np.array([rows[k][metric] if k in rows else math.nan for k in self._reduced_keys])
        self._raise_if_full_only(ds, metric)
        raise InvalidChoiceError("metric", metric, list(self._columns[ds]) + self._zc_names.get(ds, []))

    def cost(self, arch: NB201Arch, dataset: str) -> float | None:
        """Seconds of the 12-epoch training run that produces the search signal (the table's cifar10-valid cost)."""
        v = float(self._arrays["cifar10valid_cost_hp12_s"][self.row(arch)])
        return None if math.isnan(v) else v

    def archs(self) -> list[NB201Arch]:
        from nag.spaces import get_space

        return list(get_space("nb201").enumerate())

    def labelled_column(self, dataset: str, metric: str) -> np.ndarray:
        """`column`: every cell is labelled, in index order."""
        return self.column(dataset, metric)

    def training_free_features(self, dataset: str) -> list[str]:
        """NAS-Bench-Suite-Zero's ``zc_*`` metrics of ``dataset`` (CIFAR-100 has none: CIFAR-10's, as
        ``cifar10:zc_*``, are training-free all the same) plus FreeREA's NASWOT / synflow / log-synflow /
        #linear-regions of the dataset."""
        ds = self.resolve_dataset(dataset)
        own = [m for m in self.metrics(ds) if m.startswith("zc_")]
        if not own:
            own = [f"cifar10:{m}" for m in self.metrics("cifar10") if m.startswith("zc_")]
        return own + [m for m in _FREEREA if m in self.metrics(ds)]

    def metric_matrix(self, dataset: str, metrics: Sequence[str]) -> np.ndarray:
        """NAS-Bench-Suite-Zero's values of ``metrics`` (names without ``zc_``) for all 15,625 cells (``M x 15625``,
        index order; NaN where the source failed). CIFAR-100 has no table of its own: it reads CIFAR-10's (the
        metrics are computed on untrained networks that differ only in the classifier width).

        Raises:
            InvalidChoiceError: field ``metrics``, the unknown names, listing the known ones.
        """
        ds = self.resolve_dataset(dataset)
        src = "cifar10" if ds == "cifar100" else ds
        known = [k for k in self.metrics(src) if k.startswith("zc_")]
        unknown = [m for m in metrics if f"zc_{m}" not in known]
        if unknown:
            raise InvalidChoiceError("metrics", unknown, [k[3:] for k in sorted(known)])
        return np.stack([self.column(src, f"zc_{m}") for m in metrics])
