"""NB101 benchmark oracle: raw values through, isomorphic cells on one row, full records averaged over repeats."""

from __future__ import annotations

import gzip
import json
import math
import pickle
from collections import defaultdict

import networkx as nx
import numpy as np
import pytest

from nag.benchmarks import get_benchmark
from nag.benchmarks.data import resolve
from nag.errors import InvalidChoiceError
from nag.spaces import get_space
from nag.spaces.nb101 import INPUT, OUTPUT, NB101Arch
from tests.conftest import requires_nb101

pytestmark = requires_nb101


@pytest.fixture(scope="module")
def bench():
    return get_benchmark("nb101")


@pytest.fixture(scope="module")
def space():
    return get_space("nb101")


@pytest.fixture(scope="module")
def raw() -> dict[str, dict[str, float]]:
    with gzip.open(resolve("nb101/naslib_zc_nasbench101_500archs.json.gz"), "rt") as f:
        return json.load(f)["nasbench101"]["cifar10"]


@pytest.fixture(scope="module")
def records() -> dict:
    with open(resolve("nb101/naslib_nb101_30archs.pkl"), "rb") as f:
        return pickle.load(f)


@pytest.fixture(scope="module")
def rows_by_hash(space, raw) -> dict[str, list[str]]:
    out = defaultdict(list)
    for key in raw:
        out[space.canonical(space.parse(key))].append(key)
    return dict(out)


def test_values_equal_raw_json_exactly(bench, space, raw, rows_by_hash):
    single = [keys[0] for keys in rows_by_hash.values() if len(keys) == 1][:3]
    assert len(single) == 3
    for key in single:
        rec = bench.record(space.parse(key), "cifar10")
        assert rec["naslib_val_acc"] == raw[key]["val_accuracy"]
        for name, v in raw[key].items():
            if name != "val_accuracy":
                assert rec[f"naslib_zc_{name}"] == v, name
        if space.canonical(space.parse(key)) not in bench.tables.full:
            assert rec["val_acc"] == raw[key]["val_accuracy"]
            assert rec["params_mb"] == raw[key]["params"]
            assert math.isnan(rec["test_acc"]) and bench.cost(space.parse(key), "cifar10") is None


def test_isomorphic_rows_are_averaged(bench, raw, rows_by_hash, space):
    bare = NB101Arch(matrix=[[0, 1], [0, 0]], ops=(INPUT, OUTPUT))
    keys = rows_by_hash[space.canonical(bare)]
    assert len(keys) == 55  # NASLib drew the bare input -> output cell 55 times
    rec = bench.record(bare, "cifar10")
    assert rec["naslib_val_acc"] == pytest.approx(np.mean([raw[k]["val_accuracy"] for k in keys]), abs=1e-12)
    assert rec["naslib_zc_synflow"] == pytest.approx(np.mean([raw[k]["synflow"] for k in keys]), abs=1e-12)


def test_relabelled_and_unpruned_cells_hit_the_same_row(bench, space, raw, rows_by_hash):
    key = next(
        keys[0] for keys in rows_by_hash.values() if len(keys) == 1 and space.parse(keys[0]).num_vertices >= 5
    )
    a = space.parse(key)
    codes = [int(c) for c in key.strip("()").split(",")]
    names = {0: INPUT, 1: OUTPUT, 2: "maxpool3x3", 3: "conv1x1-bn-relu", 4: "conv3x3-bn-relu"}
    unpruned = NB101Arch(matrix=np.reshape(codes[:49], (7, 7)), ops=[names[c] for c in codes[49:]])
    g = nx.DiGraph(a.adjacency())
    orders = [o for o in nx.all_topological_sorts(g) if o != list(range(a.num_vertices))]
    assert orders, "pick a cell with more than one topological order"
    order = orders[0]
    b = NB101Arch(matrix=a.adjacency()[np.ix_(order, order)], ops=[a.ops[i] for i in order])
    assert b != a and space.is_valid(b)
    assert bench.record(b, "cifar10") == bench.record(a, "cifar10")
    # the cell as NASLib stored it (7 x 7, with extraneous vertices) hashes after pruning: same row
    assert unpruned != a and bench.record(unpruned, "cifar10") == bench.record(a, "cifar10")


def test_full_records_are_averaged_over_repeats(bench, space, records):
    for fixed, computed in records.values():
        a = NB101Arch(matrix=fixed["module_adjacency"], ops=fixed["module_operations"])
        rec = bench.record(a, "cifar10")
        runs = computed[108]
        assert rec["params_mb"] * 1e6 == pytest.approx(fixed["trainable_parameters"], abs=1e-6)
        assert rec["test_acc"] == pytest.approx(100 * np.mean([r["final_test_accuracy"] for r in runs]))
        assert rec["val_acc"] == pytest.approx(100 * np.mean([r["final_validation_accuracy"] for r in runs]))
        assert rec["val_acc_halfway"] == pytest.approx(
            100 * np.mean([r["halfway_validation_accuracy"] for r in runs])
        )
        assert bench.cost(a, "cifar10") == pytest.approx(np.mean([r["final_training_time"] for r in runs]))


def test_cell_in_both_files(bench, space, raw, records, rows_by_hash):
    (h,) = set(rows_by_hash) & set(records)
    (key,) = rows_by_hash[h]
    rec = bench.record(space.parse(key), "cifar10")
    assert rec["naslib_val_acc"] == raw[key]["val_accuracy"]  # NASLib's value is one of the three repeats
    assert raw[key]["val_accuracy"] in [100 * r["final_validation_accuracy"] for r in records[h][1][108]]
    assert rec["val_acc"] == pytest.approx(
        100 * np.mean([r["final_validation_accuracy"] for r in records[h][1][108]])
    )


def test_archs_one_per_class_and_all_labelled(bench, space, rows_by_hash, records):
    archs = bench.archs()
    hashes = [space.canonical(a) for a in archs]
    assert len(set(hashes)) == len(hashes) == len(set(rows_by_hash) | set(records)) == 321
    assert all(space.is_valid(a) for a in archs)
    assert all(not math.isnan(bench.query(a, "cifar10", "val_acc")) for a in archs)


def test_metrics_match_record_keys(bench, space):
    rec = bench.record(bench.archs()[0], "cifar10")
    assert list(rec) == bench.metrics("cifar10")
    assert {"val_acc", "test_acc", "train_time_s", "params_mb", "naslib_val_acc", "naslib_zc_synflow"} <= set(
        rec
    )


def test_unknown_cell_dataset_and_metric(bench, space):
    labelled = {space.canonical(a) for a in bench.archs()}
    unknown = next(a for a in space.sample(200, seed=0) if space.canonical(a) not in labelled)
    with pytest.raises(KeyError, match="not among") as e:
        bench.record(unknown, "cifar10")
    assert "\n" not in str(e.value)
    a = bench.archs()[0]
    assert bench.query(a, "CIFAR-10", "val_acc") == bench.query(a, "cifar10", "val_acc")
    with pytest.raises(InvalidChoiceError, match="dataset"):
        bench.record(a, "cifar100")
    with pytest.raises(InvalidChoiceError, match="metric"):
        bench.query(a, "cifar10", "accuracy")
