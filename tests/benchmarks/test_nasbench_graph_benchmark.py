"""NAS-Bench-Graph benchmark: every value against the package's own lookup (``light_read`` + ``Arch.valid_hash``)."""

import math

import numpy as np
import pytest
from nas_bench_graph import light_read
from nas_bench_graph.architecture import Arch

from nag.benchmarks import get_benchmark
from nag.benchmarks.nasbench_graph import DATASETS, METRICS, load_table
from nag.errors import InvalidArchitectureError, InvalidChoiceError
from nag.spaces import get_space
from nag.spaces.nasbench_graph import NBGArch


@pytest.fixture(scope="module")
def bench():
    return get_benchmark("nasbench_graph")


@pytest.fixture(scope="module")
def space():
    return get_space("nasbench_graph")


def _package_record(arch: NBGArch, dataset: str) -> dict:
    return light_read(dataset)[Arch(list(arch.links), list(arch.ops)).valid_hash()]


def test_datasets_and_metrics(bench):
    assert bench.datasets() == list(DATASETS)
    assert set(DATASETS) == {
        "cora",
        "citeseer",
        "pubmed",
        "cs",
        "physics",
        "photo",
        "computers",
        "arxiv",
        "proteins",
    }
    assert bench.metrics("cora") == ["val_perf", "test_perf", "latency_s", "params_mb"]
    assert bench.space_name == "nasbench_graph"


@pytest.mark.parametrize("dataset", DATASETS)
def test_records_equal_package_lookup(bench, space, dataset):
    pkg = light_read(dataset)
    labelled = bench.archs(dataset)
    assert len(labelled) == len(pkg) == (2021 if dataset == "proteins" else 26206)
    rng = np.random.default_rng(0)
    # representatives and non-representative native forms of the same classes
    archs = [labelled[i] for i in rng.choice(len(labelled), 40, replace=False)]
    archs += [space.equivalents(a)[-1] for a in archs[:10]]
    for a in archs:
        rec, ref = bench.record(a, dataset), pkg[Arch(list(a.links), list(a.ops)).valid_hash()]
        assert rec == {m: float(ref[f]) for m, f in METRICS.items()}
        assert bench.query(a, dataset, "val_perf") == float(ref["valid_perf"])
    t = load_table(dataset)
    keys = t["key"].to_numpy()[t["labelled"].to_numpy()]
    assert set(keys.tolist()) == set(pkg)
    assert np.array_equal(
        bench.column(dataset, "test_perf")[t["labelled"]], [float(pkg[k]["perf"]) for k in keys]
    )


def test_proteins_outside_reduced_ops_is_nan(bench, space):
    a = space.parse("links=[0,1,2,3];ops=[gat,gat,gat,gat]")
    assert all(math.isnan(v) for v in bench.record(a, "proteins").values())
    b = space.parse("links=[0,1,2,3];ops=[gcn,sage,arma,fc]")
    assert bench.record(b, "ogbn-proteins")["test_perf"] == float(_package_record(b, "proteins")["perf"])


def test_best_validation_on_cora(bench, space):
    col = bench.column("cora", "val_perf")
    best = space.from_index(int(np.argmax(col)))
    pkg = light_read("cora")
    best_key = max(pkg, key=lambda k: pkg[k]["valid_perf"])
    assert space.bench_key(best) == best_key
    assert bench.query(best, "cora", "val_perf") == pytest.approx(0.8193333333333334, abs=1e-12)
    assert bench.record(best, "Cora")["test_perf"] == float(pkg[best_key]["perf"])


def test_archs_and_cost(bench, space):
    archs = bench.archs()
    assert archs == list(space.enumerate())
    assert bench.cost(archs[0], "cora") is None
    assert bench.table("pubmed").shape == (26206, 7)


def test_aliases(bench, space):
    a = space.from_index(100)
    for alias, name in [
        ("ogbn-arxiv", "arxiv"),
        ("Coauthor-CS", "cs"),
        ("amazon-photo", "photo"),
        ("CiteSeer", "citeseer"),
    ]:
        assert bench.record(a, alias) == bench.record(a, name)


def test_errors(bench, space):
    a = space.from_index(0)
    with pytest.raises(InvalidChoiceError, match="dataset"):
        bench.record(a, "mnist")
    with pytest.raises(InvalidChoiceError, match="dataset"):
        bench.query(a, "imagenet", "val_perf")
    with pytest.raises(InvalidChoiceError, match="metric"):
        bench.query(a, "cora", "accuracy")
    with pytest.raises(InvalidArchitectureError):
        bench.record(NBGArch((0, 0, 0, 0), ("skip",) * 4), "cora")
