"""Guidance terms, hard constraints, re-ranking and Pareto utilities (real NB201 checkpoint)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nag.diffusion.model import GraphDiffusionModel
from nag.diffusion.sampler import sample
from nag.errors import InvalidChoiceError
from nag.guidance import (
    Condition,
    constraint,
    guided_generate,
    hypervolume_2d,
    objective,
    pareto_mask,
    parse_condition,
    scale_schedule,
)
from nag.spaces import get_space


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


@pytest.fixture(scope="module")
def model():
    return GraphDiffusionModel.load("checkpoints/diffusion_nb201.pt")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("latency:edgegpu<=3.5", Condition("latency", "edgegpu", "<=", 3.5)),
        ("params<=0.8", Condition("params", None, "<=", 0.8)),
        ("accuracy:cifar10", Condition("accuracy", "cifar10")),
        ("accuracy:ImageNet16-120 >= 40", Condition("accuracy", "ImageNet16-120", ">=", 40.0)),
        ("latency:pixel3<1e1", Condition("latency", "pixel3", "<", 10.0)),
        ("latency_edgegpu>.5", Condition("latency_edgegpu", None, ">", 0.5)),
    ],
)
def test_parse_condition(text, expected):
    assert parse_condition(text) == expected


@pytest.mark.parametrize("text", ["", "<=3", "latency:edgegpu<=", "latency:edgegpu==3", "lat ency<=3"])
def test_parse_condition_rejects_malformed(text):
    with pytest.raises(InvalidChoiceError, match="constraint"):
        parse_condition(text)


def test_parse_condition_bound_required_or_forbidden():
    with pytest.raises(InvalidChoiceError, match="constraint"):
        parse_condition("latency:edgegpu", require_bound=True)
    with pytest.raises(InvalidChoiceError, match="maximize"):
        parse_condition("accuracy:cifar10>=3", field_name="maximize", require_bound=False)


def test_strict_and_inclusive_bounds_differ_only_at_the_bound():
    v = np.array([2.0, 3.0, 4.0])
    assert parse_condition("latency:edgegpu<3").satisfied(v).tolist() == [True, False, False]
    assert parse_condition("latency:edgegpu<=3").satisfied(v).tolist() == [True, True, False]
    assert parse_condition("latency:edgegpu>3").satisfied(v).tolist() == [False, False, True]
    assert parse_condition("latency:edgegpu>=3").satisfied(v).tolist() == [False, True, True]


def test_one_grammar_for_guidance_and_search():
    from bo.oracles import parse_constraint

    for text in ("latency:edgegpu<3", "energy:eyeriss>=0.5", "params<=0.8"):
        c, k = parse_condition(text, require_bound=True), parse_constraint(text)
        v = np.array([0.1, 0.5, 0.8, 2.9, 3.0, 3.1, np.nan])
        assert c.satisfied(v).tolist() == k.holds_many(v).tolist()
        assert (c.op, c.bound) == (k.op, k.bound)


def test_condition_satisfied_treats_nan_as_infeasible():
    c = parse_condition("latency:edgegpu<=3")
    assert c.satisfied(np.array([2.0, 3.0, 3.1, np.nan])).tolist() == [True, True, False, False]
    assert str(c) == "latency:edgegpu<=3"


def test_scale_schedules():
    t = torch.tensor([0.0, 500.0, 1000.0])
    assert scale_schedule("constant", 1000) is None
    assert torch.allclose(scale_schedule("linear", 1000)(t), torch.tensor([1.0, 0.5, 0.0]))
    assert torch.allclose(scale_schedule("cosine", 1000)(t), torch.tensor([1.0, 0.5**0.5, 0.0]), atol=1e-6)
    with pytest.raises(InvalidChoiceError, match="schedule"):
        scale_schedule("exp", 1000)


def test_constraint_penalty_is_flat_inside_and_pushes_down_outside(nb201):
    g = nb201.encode(nb201.sample(4, seed=1))
    X = g.X.clone().requires_grad_(True)
    v = torch.tensor([0.0, 0.9, 1.0, 3.0])
    fn = lambda graph, t: (graph.X * 0).sum((1, 2)) + v + graph.X[:, 1, 1]  # noqa: E731
    term = constraint(fn, 1.0, "<=", width=0.01)
    out = term.fn(g.__class__(X=X, A=g.A, mask=g.mask, ops=g.ops), torch.zeros(4, dtype=torch.long))
    assert out[0].item() > -1e-6 and out[-1].item() < -1.9
    (gx,) = torch.autograd.grad(out.sum(), X)
    assert gx[0, 1, 1].abs() < 1e-6 and gx[3, 1, 1] == pytest.approx(-1.0, abs=1e-4)
    up = objective(fn, maximize=False).fn(g, torch.zeros(4, dtype=torch.long))
    assert torch.allclose(up, -fn(g, None))


def test_params_constraint_guidance_steers_the_sampler(nb201, model):
    """Seeded golden figures: a params <= 0.4 M constraint takes the feasible share from 62% to >= 95%."""
    fn = lambda g, t: nb201.soft_num_params(g)  # noqa: E731
    sched = scale_schedule("linear", model.schedule.num_train_timesteps)
    base = sample(model, nb201, 300, steps=10, solver="dpm", seed=0)
    guided = sample(
        model,
        nb201,
        300,
        steps=10,
        solver="dpm",
        seed=0,
        guidance=[constraint(fn, 0.4, width=0.05, scale=5.0, schedule=sched)],
    )

    def share(res):
        return float((nb201.num_params([a for a in res.archs if a is not None]) / 1e6 <= 0.4).mean())

    assert share(base) < 0.75
    assert share(guided) >= 0.95
    assert guided.validity == 1.0 and len(set(guided.archs)) >= 0.85 * 300


def test_guided_generate_hard_constraint_rank_and_exclude(nb201, model):
    def params(archs):
        return nb201.num_params(archs) / 1e6

    excluded = nb201.sample(20, seed=3)
    res = guided_generate(
        model,
        nb201,
        30,
        feasible=lambda a: params(a) <= 0.3,
        rank=lambda a: -params(a),
        pool=60,
        exclude=excluded,
        seed=0,
        steps=10,
        solver="dpm",
    )
    assert len(res.archs) == 30 == len(set(res.archs))
    assert not set(res.archs) & set(excluded)
    p = params(res.archs)
    assert (p <= 0.3).all() and np.all(np.diff(p) >= 0)  # ranked best (smallest) first
    assert np.allclose(res.scores, -p)
    assert res.pool >= 60 and res.infeasible > 0 and 0 < res.feasible_share < 1


def test_guided_generate_reports_impossible_constraints(nb201, model):
    with pytest.raises(RuntimeError, match="infeasible"):
        guided_generate(
            model, nb201, 5, feasible=lambda a: np.zeros(len(a), bool), max_rounds=2, steps=5, solver="dpm"
        )


def _brute_pareto(y, maximize):
    s = np.where(maximize, 1, -1) * y
    return np.array(
        [not any((s[j] >= s[i]).all() and (s[j] > s[i]).any() for j in range(len(s))) for i in range(len(s))]
    )


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=25), st.booleans())
def test_pareto_mask_matches_brute_force(points, flip):
    y = np.array(points, dtype=float)
    maximize = (True, flip)
    assert (pareto_mask(y, maximize) == _brute_pareto(y, np.array(maximize))).all()


def test_hypervolume_2d_closed_forms():
    # accuracy up, latency down; reference (0, 10)
    assert hypervolume_2d(np.array([[2.0, 4.0]]), (0.0, 10.0)) == pytest.approx(12.0)
    two = np.array([[2.0, 4.0], [3.0, 8.0]])  # union of 2x6 and 3x2 overlapping in 2x2 -> 12 + 6 - 4
    assert hypervolume_2d(two, (0.0, 10.0)) == pytest.approx(14.0)
    assert hypervolume_2d(np.array([[-1.0, 4.0]]), (0.0, 10.0)) == 0.0  # outside the reference box


@given(st.lists(st.tuples(st.integers(1, 9), st.integers(0, 8)), min_size=1, max_size=12))
def test_hypervolume_2d_equals_grid_count(points):
    """On integer points the area equals the number of unit cells dominated by some point."""
    y = np.array(points, dtype=float)
    cells = sum(
        any(a >= i + 1 and b <= j for a, b in points) for i, j in itertools.product(range(9), range(9))
    )
    assert hypervolume_2d(y, (0.0, 9.0)) == pytest.approx(cells)
