"""`predictors.design`: conditions checked before anything trains; guided design meets its hard constraints
(real NB201 table / embedded default and the shipped generator)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nag.diffusion.model import GraphDiffusionModel
from nag.errors import InvalidChoiceError, NagInputError
from nag.spaces import get_space
from predictors.design import design, parse_request, reachable_range


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


def test_parse_request_reads_and_normalises(nb201):
    req = parse_request(nb201, ["accuracy:cifar10"], ["latency_edgegpu<=4", "params<0.9"])
    assert [c.target for c in req.maximize] == ["accuracy"]
    assert [(c.target, c.qualifier, c.bound) for c in req.constraints] == [
        ("latency", "edgegpu", 4.0),
        ("params", None, 0.9),
    ]
    assert not req.empty and parse_request(nb201).empty
    p = parse_request(nb201, pareto="accuracy:cifar10,latency:pixel3")
    assert p.pareto_cost is not None and p.pareto_cost.qualifier == "pixel3" and len(p.maximize) == 1


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"maximize": ["accuracy:mnist"]}, "dataset"),
        ({"constraints": ["latency:nokia3310<=3"]}, "device"),
        ({"constraints": ["latency<=3"]}, "constraint"),
        ({"constraints": ["flops<=3"]}, "target"),
        ({"constraints": ["latency:edgegpu<=-1"]}, "constraint"),
        ({"constraints": ["accuracy:cifar10>=99.5"]}, "constraint"),
        ({"pareto": "accuracy:cifar10"}, "pareto"),
        ({"pareto": "accuracy:cifar10,latency:nodevice"}, "device"),
        ({"maximize": ["accuracy:cifar10"], "pareto": "accuracy:cifar10,latency:pixel3"}, "maximize"),
    ],
)
def test_bad_requests_name_the_field(nb201, kw, field):
    with pytest.raises((InvalidChoiceError, NagInputError), match=field):
        parse_request(nb201, **kw)


def test_reachable_range_is_the_tables(nb201):
    from nag.guidance import parse_condition

    lo, hi = reachable_range(nb201, parse_condition("params<=1"))
    # NB201's smallest cell (all none / pooling) and largest (all conv3x3), in millions of parameters.
    assert lo == pytest.approx(0.0734, abs=1e-3) and hi == pytest.approx(1.5312, abs=1e-3)
    lo, hi = reachable_range(nb201, parse_condition("accuracy:cifar10>=90"))
    assert 10.0 <= lo < 11.0 and hi == pytest.approx(94.37, abs=0.01)
    assert reachable_range(get_space("nb101"), parse_condition("params<=1")) is None


def test_design_meets_hard_constraints_and_ranks(nb201, saved_predictors):
    from predictors.base import load_predictor

    torch.manual_seed(0)
    model = GraphDiffusionModel.load("checkpoints/diffusion_nb201.pt")
    req = parse_request(nb201, ["accuracy:cifar10"], ["params<=0.8"])
    given = [load_predictor(p) for p in saved_predictors]
    res = design(nb201, model, req, 6, n_train=30, seed=3, pool=12, predictors=given)
    assert len(res.archs) == 6 and len({str(a) for a in res.archs}) == 6
    obj_pred, par_pred = res.predicted
    assert np.all(par_pred <= 0.8)  # exact parameter counts: a hard constraint that holds exactly
    assert np.allclose(res.true[1], par_pred)
    assert np.all(np.diff(obj_pred) <= 1e-9)  # best predicted first
    assert res.attempts >= 6 and not res.pareto


@pytest.fixture(scope="module")
def saved_predictors(tmp_path_factory):
    """A small clean and noise-aware CIFAR-10 predictor saved as `nag train predictor --out` saves them."""
    from predictors.api import train_predictor

    d = tmp_path_factory.mktemp("pred")
    small = {"ensemble": 2, "max_epochs": 40, "min_epochs": 10}
    train_predictor("nb201", "test_acc", "cifar10", 40, seed=1, out=d / "clean.pt", **small)
    train_predictor("nb201", "test_acc", "cifar10", 40, seed=1, out=d / "na.pt", features="none",
                    noise_aware_model_path="checkpoints/diffusion_nb201.pt", **small)  # fmt: skip
    return d / "clean.pt", d / "na.pt"


def test_given_predictors_are_reused_not_retrained(nb201, saved_predictors):
    from predictors.base import load_predictor

    model = GraphDiffusionModel.load("checkpoints/diffusion_nb201.pt")
    given = [load_predictor(p) for p in saved_predictors]
    assert all(
        p.metrics["task"] == {"space": "nb201", "dataset": "cifar10", "target": "test_acc"} for p in given
    )
    steps = []
    res = design(nb201, model, parse_request(nb201, ["accuracy:cifar10"]), 5, seed=2, pool=10, predictors=given,
                 progress=steps.append)  # fmt: skip
    info = res.targets[0].info
    assert "clean_fit" not in info and "noise_aware_fit" not in info  # nothing trained
    assert steps[0] == "accuracy:cifar10: loading the predictors"
    assert len(res.archs) == 5 and np.all((res.predicted[0] >= 0) & (res.predicted[0] <= 100))
    # shown values follow the labels' scale: within the range of the 40 labelled cells' accuracies
    assert np.all(res.predicted[0] <= 94.37 + 1e-6)


def test_a_predictor_of_another_dataset_is_refused(nb201, saved_predictors):
    from predictors.base import load_predictor

    model = GraphDiffusionModel.load("checkpoints/diffusion_nb201.pt")
    with pytest.raises(
        InvalidChoiceError, match=r"predictor: .*'dataset': 'cifar10'.*accepted: .*'cifar100'"
    ):
        design(nb201, model, parse_request(nb201, ["accuracy:cifar100"]), 3,
               predictors=[load_predictor(saved_predictors[0])])  # fmt: skip
    with pytest.raises(NagInputError, match="two clean predictors"):
        design(nb201, model, parse_request(nb201, ["accuracy:cifar10"]), 3,
               predictors=[load_predictor(saved_predictors[0])] * 2)  # fmt: skip


def test_cli_predictor_option(saved_predictors, tmp_path, capsys):
    from nag.cli import main

    def run(args):
        with pytest.raises(SystemExit) as e:
            main(args)
        out = capsys.readouterr()
        return e.value.code or 0, out.out, out.err

    base = [
        "generate",
        "--space",
        "nb201",
        "--maximize",
        "accuracy:cifar10",
        "-n",
        "4",
        "--pool",
        "8",
        "--quiet",
    ]
    code, out, err = run([*base, *(x for p in saved_predictors for x in ("--predictor", str(p)))])
    assert code == 0, err
    preds = [float(ln.split(" pred ")[1].split()[0]) for ln in out.splitlines()]
    assert len(preds) == 4 and all(0 <= p <= 100 for p in preds)
    code, _, err = run(["generate", "--space", "nb201", "-n", "3", "--predictor", str(saved_predictors[0])])
    assert code == 2 and err.startswith("error: --predictor:")
    bad = tmp_path / "not.pt"
    bad.write_bytes(b"nothing")
    code, _, err = run([*base, "--predictor", str(bad)])
    assert code == 2 and str(bad) in err and err.count("\n") == 1


def test_ensemble_calibration_maps_onto_the_labels():
    """After fitting, predictions on the training set are the least-squares affine map of the standardised mean
    (slope > 0: rankings unchanged), so their mean equals the labels' mean."""
    from predictors.accuracy import AccuracyPredictorConfig, EnsemblePredictor
    from predictors.api import load_pool

    pool = load_pool("nb201", "test_acc", "cifar10", "none")
    rows = np.random.default_rng(0).choice(len(pool), 60, replace=False)
    g, y, _ = pool.subset(rows)
    p = EnsemblePredictor(
        AccuracyPredictorConfig(ops=g.ops, ensemble=2, max_epochs=30, min_epochs=10, seed=0)
    )
    p.fit(g, y)
    pred = p.predict(g).mean.numpy()
    assert p.metrics["calibration_alpha"] > 0
    assert pred.mean() == pytest.approx(float(y.float().mean()), abs=1e-3)
    raw = p.standardized(g).mean(0).detach().numpy()
    assert np.array_equal(np.argsort(raw, kind="stable"), np.argsort(pred, kind="stable"))
