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
from tests.conftest import requires_nb101

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
