"""RoBoT's reference surrogate (bayes_opt 1.2.0's GP and acq_max) and pinned seeded runs on small subsets."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from bo.robot import (
    REFERENCE_OPTIONS,
    ROBOT_METRICS,
    _ReferenceGP,
    nb201_metric_matrix,
    nb201_signal,
    robot_search,
    signal_maximisers,
)
from nag.errors import InvalidChoiceError
from tests.conftest import requires_data

torch.set_num_threads(1)


def test_reference_gp_matches_scikit_learn():
    """Same kernel, length scale, mean and std as ``GaussianProcessRegressor`` (what ``bayes_opt`` 1.2.0 uses)."""
    sk = pytest.importorskip("sklearn.gaussian_process")
    from sklearn.gaussian_process.kernels import Matern

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (15, 6))
    y = 50 + 20 * np.sin(2 * x[:, 0]) + 5 * x[:, 1] ** 2
    xq = rng.uniform(-1, 1, (40, 6))
    ref = sk.GaussianProcessRegressor(
        kernel=Matern(nu=2.5),
        alpha=1e-6,
        normalize_y=True,
        n_restarts_optimizer=5,
        random_state=np.random.RandomState(3),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(x, y)
    mean_sk, std_sk = ref.predict(xq, return_std=True)
    rs = np.random.RandomState(3)
    gp = _ReferenceGP(torch.as_tensor(x), torch.as_tensor(y), rs)
    assert np.exp(gp.theta) == pytest.approx(ref.kernel_.length_scale, rel=1e-3)
    mean, std = gp.predict(torch.as_tensor(xq))
    np.testing.assert_allclose(mean.numpy(), mean_sk, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(std.numpy(), std_sk, rtol=1e-3, atol=1e-4)
    # the restarts consumed five numbers from the shared stream, as scikit-learn does
    rs2 = np.random.RandomState(3)
    rs2.uniform(size=5)
    assert rs.uniform() == rs2.uniform()


def test_reference_first_weight_is_bayes_opt_first_point():
    """The first (random) weight is ``RandomState(seed).uniform(-1, 1)`` per dimension in sorted-name order."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 50))
    y = rng.normal(size=50)
    names = ("snip", "fisher", "grad_norm")
    r = robot_search(x, y, 1, seed=7, names=names, **REFERENCE_OPTIONS)
    expected_sorted = np.random.RandomState(7).uniform(-1.0, 1.0, 3)  # fisher, grad_norm, snip
    np.testing.assert_allclose(r.weights[0], expected_sorted[[2, 0, 1]])


@pytest.fixture(scope="module")
def nb201_subset():
    from nag.benchmarks.nb201 import NB201Benchmark

    bench = NB201Benchmark()
    m = nb201_metric_matrix("cifar10", benchmark=bench)
    s = nb201_signal("cifar10", "cifar10", bench)
    sub = np.random.default_rng(0).choice(15625, 500, replace=False)
    return m[:, sub], s[sub], sub


def test_pinned_seeded_run_on_a_nb201_subset(nb201_subset):
    """Golden regression: RoBoT (reference GP) on 500 seeded NB201 cells, T = 8, seed 1."""
    m, s, sub = nb201_subset
    ref = REFERENCE_OPTIONS | {"n_candidates": 2000}
    r = robot_search(m, s, 8, seed=1, names=tuple(ROBOT_METRICS), **ref)
    assert r.queried == [61, 231, 100, 110, 59, 76, 27, 315]
    assert r.pick == 231 and sub[r.pick] == 6982 and r.pick_signal == pytest.approx(73.05)
    assert r.t0 == 4 and len(r.queries) == 8
    # the result does not depend on the row order once names are given (bayes_opt sorts its dimensions by name)
    perm = [5, 3, 1, 0, 2, 4]
    names = tuple(np.array(list(ROBOT_METRICS))[perm])
    r2 = robot_search(m[perm], s, 8, seed=1, names=names, **ref)
    assert r2.queried == r.queried
    np.testing.assert_allclose(r2.best_weights, r.best_weights[perm])


@requires_data("transnas101/naslib_zc_transbench101_micro.json.gz")
def test_pinned_seeded_run_on_transnas_micro():
    from nag.benchmarks.transnas101 import TransNAS101

    tnb = TransNAS101("micro")
    names = ("grad_norm", "snip", "grasp", "fisher", "jacov")
    r = robot_search(
        tnb.metric_matrix("class_scene", names),
        tnb.signal("class_scene"),
        8,
        seed=3,
        names=names,
        **(REFERENCE_OPTIONS | {"n_candidates": 2000}),
    )
    assert r.queried == [48, 683, 29, 167, 482, 645, 230, 681]
    assert r.pick == 482 and r.pick_signal == pytest.approx(53.25935745239258)
    assert tnb.rank("class_scene", r.pick)[0] == 1 + int((tnb.signal("class_scene") > r.pick_signal).sum())


def test_reference_gp_needs_its_acquisition_optimiser():
    x = np.random.default_rng(0).normal(size=(2, 20))
    with pytest.raises(InvalidChoiceError, match="acq_optimiser"):
        robot_search(x, np.arange(20.0), 3, gp="reference", acq_optimiser="sobol")
    with pytest.raises(InvalidChoiceError, match="gp"):
        robot_search(x, np.arange(20.0), 3, gp="sklearn")
    with pytest.raises(ValueError, match="names"):
        robot_search(x, np.arange(20.0), 3, names=("a",))


def test_signal_maximisers_treat_representation_noise_as_ties():
    from nag.benchmarks.nb201 import NB201Benchmark

    assert signal_maximisers(np.array([1.0, 3.0, 3.0 - 1e-8, 2.0])).tolist() == [1, 2]
    # CIFAR-100's two best 12-epoch cells: 61.32 and 61.31999993 in the table
    s = nb201_signal("cifar100", "target", NB201Benchmark())
    assert signal_maximisers(s).tolist() == [10165, 13714]
