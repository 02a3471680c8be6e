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


def test_design_meets_hard_constraints_and_ranks(nb201):
    torch.manual_seed(0)
    model = GraphDiffusionModel.load("checkpoints/diffusion_nb201.pt")
    req = parse_request(nb201, ["accuracy:cifar10"], ["params<=0.8"])
    res = design(nb201, model, req, 6, n_train=30, seed=3, pool=12)
    assert len(res.archs) == 6 and len({str(a) for a in res.archs}) == 6
    obj_pred, par_pred = res.predicted
    assert np.all(par_pred <= 0.8)  # exact parameter counts: a hard constraint that holds exactly
    assert np.allclose(res.true[1], par_pred)
    assert np.all(np.diff(obj_pred) <= 1e-9)  # best predicted first
    assert res.attempts >= 6 and not res.pareto
