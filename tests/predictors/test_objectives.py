"""Targets for guided generation from text, and the Pareto sweep (real NB201 tables and checkpoint)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from nag.diffusion.model import GraphDiffusionModel
from nag.errors import InvalidChoiceError
from nag.guidance import hypervolume_2d, objective, pareto_generate, pareto_mask, scale_schedule
from nag.spaces import get_space
from predictors.objectives import build_target


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


@pytest.fixture(scope="module")
def model():
    return GraphDiffusionModel.load("checkpoints/diffusion_nb201.pt")


def test_latency_target_predicts_the_table_and_guides(nb201, model):
    t = build_target(nb201, "latency:edgegpu<=3.5", model)
    assert t.unit == t.guide_unit == "ms" and t.condition.bound == 3.5
    archs = nb201.sample(400, seed=0)
    assert spearmanr(t.predict(archs), t.truth(archs)).statistic > 0.95
    g = nb201.encode(archs[:4])
    X = g.X.clone().requires_grad_(True)
    v = t.guide(g.__class__(X=X, A=g.A, mask=g.mask, ops=g.ops), torch.full((4,), 500))
    (gx,) = torch.autograd.grad(v.sum(), X)
    assert v.shape == (4,) and bool(torch.isfinite(gx).all()) and gx.abs().sum() > 0


def test_params_target_is_exact(nb201, model):
    t = build_target(nb201, "params<=0.5", model)
    archs = nb201.sample(50, seed=2)
    assert np.allclose(t.predict(archs), nb201.num_params(archs) / 1e6)
    assert t.truth is not None and np.allclose(t.truth(archs), t.predict(archs))


@pytest.mark.parametrize(
    "text, field",
    [("latency:nokia3310<=3", "device"), ("flops<=3", "target"), ("latency:edgegpu", "constraint")],
)
def test_bad_targets_name_the_field(nb201, model, text, field):
    with pytest.raises(InvalidChoiceError, match=field):
        build_target(nb201, text, model)


def test_pareto_sweep_returns_a_spread_non_dominated_front(nb201, model):
    """Maximise the parameter count (a capacity objective) against edge-GPU latency."""
    lat = build_target(nb201, "latency:edgegpu<=1", model)
    par = build_target(nb201, "params<=1", model)
    sched = scale_schedule("cosine", 1000)
    term = objective(par.guide, scale=5.0, schedule=sched)
    bounds = np.quantile(lat.predict(list(nb201.enumerate())), [0.1, 0.5, 0.9])

    def evaluate(archs):
        return np.stack([par.predict(archs), lat.predict(archs)], 1)

    res = pareto_generate(model, nb201, term, lat.guide, bounds, evaluate, n_per_bound=5, pool_per_bound=20,
                          schedule=sched, steps=5, solver="dpm")  # fmt: skip
    assert len(res.archs) == len(set(res.archs)) >= 10
    assert (res.front == pareto_mask(res.values, (True, False))).all() and res.front.any()
    front = res.values[res.front]
    assert np.ptp(front[:, 1]) > 0.2 * np.ptp(bounds)  # the front spans the swept latencies
    ref = (0.0, float(bounds[-1]) * 1.5)
    assert hypervolume_2d(front, ref) == pytest.approx(hypervolume_2d(res.values, ref))
    assert res.front_archs[0] == res.archs[int(np.flatnonzero(res.front)[np.argmax(front[:, 0])])]
