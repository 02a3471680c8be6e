"""TransNAS-Bench-101 reader (nag/benchmarks/transnas101.py): row counts, values, failure codes, ranks."""

from __future__ import annotations

import numpy as np
import pytest

from nag.benchmarks.transnas101 import (
    TNB101_FAILED,
    TNB101_TASKS,
    TransNAS101,
    load_micro_valid_nets,
)
from nag.errors import InvalidChoiceError
from tests.conftest import requires_data

pytestmark = requires_data(
    "transnas101/naslib_zc_transbench101_macro.json.gz",
    "transnas101/naslib_zc_transbench101_micro.json.gz",
    "transnas101/tnb101_micro_valid_nets.csv.gz",
)

ROBOT5 = ("grad_norm", "snip", "grasp", "fisher", "jacov")


@pytest.fixture(scope="module")
def micro() -> TransNAS101:
    return TransNAS101("micro")


@pytest.fixture(scope="module")
def macro() -> TransNAS101:
    return TransNAS101("macro")


def test_row_counts_and_tasks(micro, macro):
    assert micro.tasks() == list(TNB101_TASKS) == macro.tasks()
    assert {t: len(micro.table(t)) for t in micro.tasks()} == dict.fromkeys(TNB101_TASKS, 711)
    sizes = {t: len(macro.table(t)) for t in macro.tasks()}
    assert sizes == {t: 662 if t.startswith("class_") else 725 for t in TNB101_TASKS}
    # one row per architecture and per benchmark index
    for tnb in (micro, macro):
        for t in tnb.tasks():
            tab = tnb.table(t)
            assert tab["arch"].is_unique and tab["idx"].is_unique


def test_values_and_metric_names(micro, macro):
    names = micro.metrics("class_scene")
    assert set(names) == {"epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov"} | {
        "l2_norm",
        "nwot",
        "params",
        "plain",
        "snip",
    }
    row = micro.table("class_scene").iloc[0]
    assert row["arch"] == "(1, 0, 0, 2, 1, 0)" and row["idx"] == 534
    assert row["val_accuracy"] == pytest.approx(34.89251708984375)
    assert macro.table("class_scene").iloc[0]["val_accuracy"] == pytest.approx(54.29438781738281)
    x = micro.metric_matrix("class_scene", ROBOT5)
    assert x.shape == (5, 711)
    # NASLib's failure code: jacov failed on 20 micro cells; kept raw by default, NaN on request
    assert int((x[4] <= TNB101_FAILED).sum()) == 20
    xn = micro.metric_matrix("class_scene", ROBOT5, failed_as_nan=True)
    assert int(np.isnan(xn).sum()) == 20 and -35 < np.nanmin(xn[4]) < -32
    assert micro.metric_time("class_scene", ROBOT5).shape == (5, 711)
    assert (micro.metric_time("class_scene", ROBOT5) > 0).all()
    y = micro.signal("class_scene")
    assert y.shape == (711,) and y.max() == pytest.approx(54.80, abs=0.01)


def test_rank_is_one_for_the_best_and_ties_share(micro):
    y = micro.signal("jigsaw")
    best = int(np.argmax(y))
    assert micro.rank("jigsaw", best) == (1, 0.0)
    worst = int(np.argmin(y))
    r, pct = micro.rank("jigsaw", worst)
    assert r == 1 + int((y > y[worst]).sum()) and pct == pytest.approx(100.0 * (r - 1) / len(y))


def test_micro_valid_nets():
    df = load_micro_valid_nets()
    assert df.shape[0] == 2128 and df["net"].is_unique
    assert {"val_accs", "synflow", "zen", "jacov", "snip"} <= set(df.columns)
    assert not any(c.startswith("Unnamed") for c in df.columns)


def test_bad_names_raise(micro):
    with pytest.raises(InvalidChoiceError, match="space"):
        TransNAS101("nano")
    with pytest.raises(InvalidChoiceError, match="task"):
        micro.table("class_scenery")
    with pytest.raises(InvalidChoiceError, match="metrics"):
        micro.metric_matrix("class_scene", ("synflow",))
