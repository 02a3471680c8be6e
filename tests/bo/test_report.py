"""`nag report` tables (bo/report.py): readable labels, real-training columns, missing report values; and the warning
for budgets inside a method's initial design (bo/loop.py)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from bo.loop import BOState, InitialDesignWarning, RunConfig, run_search
from bo.oracles import BenchmarkOracle, TrainingOracle
from bo.report import Group, RunRecord, markdown, method_label, seeds_label, write_report
from tests.conftest import requires_images, requires_nb101

torch.set_num_threads(1)


def test_seeds_label():
    assert seeds_label([3]) == "3"
    assert seeds_label([4, 0, 2, 1, 3]) == "5 (0–4)"
    assert seeds_label([7, 0, 2]) == "3 (0, 2, 7)"
    assert seeds_label([0, 1, 2, 3, 10, 40]) == "6 (0–40, not contiguous)"


def test_method_label_without_json():
    assert method_label({"method": "random", "options": ""}) == "random"
    key = {"method": "evolution", "options": '{"population_size": 20, "sample_size": 5}'}
    assert method_label(key) == "evolution (population_size=20, sample_size=5)"
    assert (
        method_label({"method": "robot", "options": '{"normalisation": "rank"}'})
        == "robot (normalisation=rank)"
    )


@requires_images
def test_real_training_runs_fill_dataset_and_signal(tmp_path):
    oracle = TrainingOracle("nb201", epochs=2, n_train=256, n_val=128, n_test=128)
    state = BOState(RunConfig("random", oracle.describe(), budget=2, seed=4))
    for i, (val, test) in enumerate([(40.0, 41.5), (55.0, 52.25)]):  # two queries as the loop records them
        state.archs.append(f"a{i}")
        state.keys.append(f"a{i}")
        state.signals.append(val)
        state.reports.append({"test_acc": test, "train_loss": 1.0})
        state.costs.append(12.0)
        state.feasible.append(True)
        state.phases.append("random")
        state.steps.append(i)
    g = Group({}, [RunRecord(tmp_path, state, {})])
    from bo.report import _group_key

    g.key = _group_key(g.runs[0])
    row = markdown([g]).splitlines()[2].split(" | ")
    assert row[1:4] == ["nb201", "fashion-mnist 256/128/128", "val_acc (2 epochs)"]
    assert row[7] == "52.25 ± 0.00"  # the pick (best validation) and its test accuracy


@requires_nb101
def test_missing_report_values_are_named_not_nan(tmp_path):
    """NAS-Bench-101's table lacks the test accuracy of some cells: the report says so, without NumPy warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        oracle = BenchmarkOracle("nb101", "cifar10")
        st = run_search("random", oracle, 5, seed=0, run_dir=tmp_path / "run")
        assert all(math.isnan(r["test_acc"]) for r in st.reports)  # this seed queries only such cells
        text, files = write_report([tmp_path / "run"], tmp_path / "report")
    row = text.splitlines()[2].split(" | ")
    assert row[7:9] == ["n/a (not in the table)", "n/a (not in the table)"]
    assert "nan" not in text and len(files) == 3


@pytest.fixture(scope="module")
def oracle():
    return BenchmarkOracle("nb201", "cifar10")


@pytest.mark.parametrize(
    "method,options,budget,warned",
    [
        ("evolution", {}, 10, True),
        ("evolution", {}, 11, False),
        ("evolution", {"population_size": 4}, 8, False),
        ("local", {}, 6, True),
        ("random", {}, 3, False),
    ],
)
def test_budget_inside_the_initial_design_warns(oracle, method, options, budget, warned):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_search(method, oracle, budget, seed=1, method_options=options)
    ours = [w for w in caught if issubclass(w.category, InitialDesignWarning)]
    assert len(ours) == int(warned)
    if warned:
        assert str(ours[0].message).startswith(f"{method}: budget {budget} <= its initial design")


def _latency_state(tmp_path):
    """A benchmark-style run with a table latency: 3 queries (one over the bound) and 2 measured-out candidates."""
    oracle = {
        "kind": "benchmark",
        "space": "nb201",
        "dataset": "cifar10",
        "constraints": ["latency:edgegpu<=3"],
    }
    state = BOState(RunConfig("random", oracle, budget=3, seed=1))
    for i, (val, test, lat, ok) in enumerate(
        [(80.0, 79.0, 2.0, True), (85.0, 84.5, 2.9, True), (90.0, 91.0, 4.0, False)]
    ):
        state.archs.append(f"a{i}")
        state.keys.append(f"a{i}")
        state.signals.append(val)
        state.reports.append({"test_acc": test, "latency_edgegpu": lat})
        state.costs.append(1.0)
        state.feasible.append(ok)
        state.phases.append("random")
        state.steps.append(i)
    for k, lat in (("r0", 5.5), ("r1", 3.5)):
        state.measured[k] = {"arch": k, "values": {"latency_edgegpu": lat}, "cost_s": 0.1, "feasible": False}
    state.measured["a0"] = {"arch": "a0", "values": {"latency_edgegpu": 2.0}, "cost_s": 0.1, "feasible": True}
    return RunRecord(tmp_path, state, {})


def test_accuracy_latency_plot_data(tmp_path):
    from bo.report import plot_accuracy_latency

    data = plot_accuracy_latency([_latency_state(tmp_path)], tmp_path / "al.png")
    assert (tmp_path / "al.png").stat().st_size > 0 and len(data) == 1
    (p,) = data
    assert (p["metric"], p["report_metric"], p["bound"]) == ("latency_edgegpu", "test_acc", 3.0)
    (s,) = p["series"]
    assert s["latency"] == [2.0, 2.9, 4.0] and s["accuracy"] == [79.0, 84.5, 91.0]
    assert s["feasible"] == [True, True, False] and s["rejected"] == [5.5, 3.5]
    assert s["pick"] == (2.9, 84.5)  # best feasible signal: the query over the bound is not the pick
    # runs without a latency write nothing
    plain = _latency_state(tmp_path)
    plain.state.reports = [{"test_acc": 1.0}] * 3
    plain.state.measured = {}
    assert (
        plot_accuracy_latency([plain], tmp_path / "none.png") == [] and not (tmp_path / "none.png").exists()
    )


def test_report_writes_accuracy_latency_for_a_real_task(tmp_path):
    """`nag report` of a real search under ``latency:local``: the plot holds every query and every ruled-out
    candidate at its measured latency, the bound and the pick."""
    import numpy as np

    from bo.report import accuracy_latency_data, load_runs
    from nag.spaces import get_space

    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "d.npz", x=(rng.random((120, 12, 12)) * 255).astype(np.uint8), y=rng.integers(0, 3, 120)
    )
    kw = dict(data=f"npz:{tmp_path / 'd.npz'}", epochs=1, size=12, module_kwargs={"C": 4, "N": 1},
              latency_cache=str(tmp_path / "lat.json"))  # fmt: skip
    probe = TrainingOracle("nb201", constraints=["latency:local<=1000"], **kw)
    lat = sorted(m.values["latency_local"] for m in probe.measure(get_space("nb201").sample(8, seed=3)))
    bound = lat[len(lat) // 2]
    oracle = TrainingOracle("nb201", constraints=[f"latency:local<={bound}"], **kw)
    st = run_search("random", oracle, 3, seed=1, run_dir=tmp_path / "run")
    _, files = write_report([tmp_path / "run"], tmp_path / "report")
    assert tmp_path / "report" / "accuracy_latency.png" in files
    (p,) = accuracy_latency_data(load_runs([tmp_path / "run"]))
    (s,) = p["series"]
    assert p["bound"] == pytest.approx(bound) and p["metric"] == "latency_local"
    assert s["latency"] == [r["latency_local"] for r in st.reports] and max(s["latency"]) <= bound
    assert s["accuracy"] == [r["test_acc"] for r in st.reports]
    assert sorted(s["rejected"]) == sorted(
        st.measured[k]["values"]["latency_local"] for k in st.rejected_keys
    )
    i = st.pick_index()
    assert s["pick"] == (st.reports[i]["latency_local"], st.reports[i]["test_acc"])
