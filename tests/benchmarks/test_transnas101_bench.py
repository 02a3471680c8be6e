"""TransNAS-Bench-101 benchmarks (micro, macro): values read straight from NASLib's raw files, the spec, the search
domain."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest

from nag.benchmarks import get_benchmark, get_spec
from nag.benchmarks.data import resolve
from nag.benchmarks.transnas101 import TNB101_TASKS, ZC_FILES
from nag.errors import InvalidChoiceError
from tests.conftest import requires_data

pytestmark = requires_data(ZC_FILES["micro"], ZC_FILES["macro"])

CELLS = ("(1, 0, 0, 2, 1, 0)", "(3, 3, 3, 3, 3, 3)", "(0, 1, 1, 2, 3, 3)")


@pytest.fixture(scope="module")
def raw() -> dict:
    return json.loads(gzip.decompress(resolve(ZC_FILES["micro"]).read_bytes()))


@pytest.fixture(scope="module")
def bench():
    return get_benchmark("transnas101_micro")


def test_values_match_the_raw_file(bench, raw):
    sp = bench.space
    for task in ("class_scene", "jigsaw", "autoencoder"):
        for key in CELLS:
            rec = raw[task][key]
            got = bench.record(sp.parse(key), task)
            assert got["val_accuracy"] == rec["val_accuracy"]
            assert got["snip"] == rec["snip"]["score"] and got["snip_time_s"] == rec["snip"]["time"]
            assert bench.query(sp.parse(key), task, "grad_norm") == rec["grad_norm"]["score"]
    # published values of two cells (NASLib's zc_transbench101_micro.json)
    assert bench.query(sp.parse("(1, 0, 0, 2, 1, 0)"), "class_scene", "val_accuracy") == pytest.approx(
        34.8925171
    )
    assert bench.query(sp.parse("(3, 3, 3, 3, 3, 3)"), "class_scene", "params") == pytest.approx(41.443935)


def test_failure_code_is_nan_in_records_and_raw_in_the_matrix(bench, raw):
    task = "class_scene"
    keys = [k for k, r in raw[task].items() if r["jacov"]["score"] <= -1e8]
    assert len(keys) == 20
    assert math.isnan(bench.query(bench.space.parse(keys[0]), task, "jacov"))
    m = bench.metric_matrix(task, ("jacov",))
    assert m.shape == (1, 711) and int((m <= -1e8).sum()) == 20
    assert int(np.isnan(bench.column(task, "jacov")).sum()) == 20


def test_labelled_cells_and_index_order(bench, raw):
    for task in TNB101_TASKS:
        keys = [bench.space.format(a) for a in bench.labelled(task)]
        assert keys == list(raw[task]) and len(keys) == 711
        np.testing.assert_array_equal(
            bench.column(task, "val_accuracy"), [raw[task][k]["val_accuracy"] for k in keys]
        )
    assert bench.index_archs("jigsaw") == bench.labelled("jigsaw")
    unlabelled = next(a for a in bench.space.enumerate() if bench.space.format(a) not in raw["class_scene"])
    assert all(math.isnan(v) for v in bench.record(unlabelled, "class_scene").values())


def test_spec_and_names(bench):
    spec = get_spec("transnas101_micro")
    assert spec is bench.spec
    assert spec.signals == {"val_accuracy": (None, "val_accuracy")} and spec.report == "val_accuracy"
    assert spec.key == "format" and spec.index == "labelled" and not spec.exhaustive
    assert bench.datasets() == list(TNB101_TASKS)
    assert bench.resolve_dataset("scene") == "class_scene"
    with pytest.raises(InvalidChoiceError, match="dataset"):
        bench.resolve_dataset("cifar10")
    with pytest.raises(InvalidChoiceError, match="metric"):
        bench.query(bench.space.parse(CELLS[0]), "class_scene", "test_acc")


def test_oracle_searches_the_labelled_cells_only(bench):
    from bo.oracles import BenchmarkOracle

    o = BenchmarkOracle("transnas101_micro", "jigsaw")
    assert o.signal == "val_accuracy" and o.report_metrics == ("val_accuracy",)
    d = o.domain()
    assert d.size == 711 and d.key_kind == "format"
    rng = np.random.default_rng(0)
    archs = d.sample(20, rng)
    assert all(a in d for a in archs)
    ev = o.evaluate(archs[:3])
    assert all(e.signal == e.report["val_accuracy"] and e.cost_s is None for e in ev)
    ref = o.reference()
    assert ref["n_archs"] == 711 and ref["signal_max"] == pytest.approx(
        float(np.max(bench.column("jigsaw", "val_accuracy")))
    )


def test_macro_values_match_the_raw_file():
    raw = json.loads(gzip.decompress(resolve(ZC_FILES["macro"]).read_bytes()))
    bench = get_benchmark("transnas101_macro")
    sp = bench.space
    for task in TNB101_TASKS:
        keys = [sp.format(a) for a in bench.labelled(task)]
        assert keys == list(raw[task])  # NASLib's keys round-trip through the space
        assert len(keys) == (662 if task.startswith("class_") else 725)
        k = keys[3]
        assert bench.query(sp.parse(k), task, "val_accuracy") == raw[task][k]["val_accuracy"]
        assert bench.query(sp.parse(k), task, "snip") == raw[task][k]["snip"]["score"]
    # published value (NASLib's zc_transbench101_macro.json, first class_scene row)
    assert bench.query(sp.parse("64-1242-basic"), "class_scene", "val_accuracy") == pytest.approx(54.2943878)
    assert len(bench.archs()) == 662 and bench.spec.index == "labelled"
    assert bench.metric_matrix("jigsaw", bench.spec.training_free).shape == (5, 725)
