"""RoBoT (bo/robot.py): metric tables, normalisations, search invariants, correctness and cost accounting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bo.robot import (
    FAILED_POLICIES,
    NORMALISATIONS,
    REFERENCE_OPTIONS,
    ROBOT_METRICS,
    combined_score,
    nb201_metric_matrix,
    nb201_signal,
    normalise,
    robot_search,
    signal_ceiling,
)
from nag.errors import InvalidChoiceError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def bench():
    from nag.benchmarks.nb201 import NB201Benchmark

    return NB201Benchmark()


@pytest.fixture(scope="module")
def c10_metrics(bench) -> np.ndarray:
    return nb201_metric_matrix("cifar10", benchmark=bench)


def test_metric_matrix_shape_and_values(bench, c10_metrics):
    assert c10_metrics.shape == (len(ROBOT_METRICS), 15625)
    finite = np.isfinite(c10_metrics)
    # only jacob_cov fails, on the 341 cells whose output is disconnected from the input
    assert finite[:5].all()
    assert (~finite[5]).sum() == 341
    for m in NORMALISATIONS:
        z = normalise(c10_metrics, m)
        assert np.isfinite(z).all()
        assert z[5][~finite[5]].max() == 0.0  # NaN policy: the worst value
    # agrees with the benchmark's per-cell lookup
    archs = bench.archs()
    for i in (0, 1234, 6111, 15624):
        rec = bench.record(archs[i], "cifar10")
        for m, (name, zc) in enumerate(ROBOT_METRICS.items()):
            v = rec[f"zc_{zc}"]
            assert (np.isnan(v) and np.isnan(c10_metrics[m, i])) or v == pytest.approx(c10_metrics[m, i]), (
                name
            )
    # a second call gives back the same matrix
    np.testing.assert_array_equal(nb201_metric_matrix("cifar10", benchmark=bench), c10_metrics)
    assert nb201_metric_matrix("ImageNet16-120", benchmark=bench).shape == (6, 15625)


def test_metric_matrix_unknown_metric(bench):
    with pytest.raises(InvalidChoiceError, match="metrics"):
        nb201_metric_matrix("cifar10", metrics=("nope",), benchmark=bench)


def test_normalisations():
    rng = np.random.default_rng(0)
    x = np.stack([rng.lognormal(0, 3, 500), -rng.lognormal(0, 3, 500), np.full(500, 2.0)])
    x[0, 7] = np.nan
    for how in NORMALISATIONS:
        z = normalise(x, how)
        assert z.shape == x.shape and z.min() >= 0.0 and z.max() <= 1.0
        ok = np.isfinite(x[1])
        # every normalisation is monotone in the raw value
        order = np.argsort(x[1][ok])
        assert (np.diff(z[1][ok][order]) >= 0).all()
    mm = normalise(x, "minmax")
    assert mm[0][np.isfinite(x[0])].min() == 0.0 and mm[0].max() == 1.0
    assert (mm[2] == 0).all()  # constant metric
    r = normalise(x, "rank")
    np.testing.assert_allclose(np.sort(r[1]), np.linspace(0, 1, 500))  # ranks are uniform quantiles
    with pytest.raises(InvalidChoiceError, match="normalisation"):
        normalise(x, "zscore")


def test_search_invariants(bench, c10_metrics):
    sig = nb201_signal("cifar10", "cifar10", bench)
    cost = bench.column("cifar10", "cost_hp12_s")
    a = robot_search(c10_metrics, sig, budget=10, seed=3, cost=cost)
    b = robot_search(c10_metrics, sig, budget=10, seed=3, cost=cost)
    assert a.queried == b.queried and np.array_equal(a.weights, b.weights)  # deterministic per seed
    assert len(a.queried) == len(set(a.queried)) == 10  # budget = distinct queries
    assert [q.n_queries for q in a.queries] == list(range(1, 11))
    assert a.pick_signal == max(sig[i] for i in a.queried) and sig[a.pick] == a.pick_signal
    assert a.best_so_far == list(np.maximum.accumulate([sig[i] for i in a.queried]))
    # phase 1 evaluated up to 2 * budget weights (stopping at `budget` distinct cells) but re-queries were free:
    # T0 distinct, the rest greedy
    assert len(a.bo_values) <= 20 and a.t0 == sum(q.phase == "bo" for q in a.queries) <= 10
    assert len(a.bo_values) == 20 or a.t0 == 10
    fail = ~np.isfinite(c10_metrics)
    tops = {int(np.argmax(combined_score(w, normalise(c10_metrics), fail))) for w in a.weights}
    assert {q.index for q in a.queries if q.phase == "bo"} == tops
    ref = robot_search(c10_metrics, sig, budget=10, seed=3, **REFERENCE_OPTIONS)
    assert len(ref.bo_values) == 10  # the reference: `budget` evaluations
    # cost accounting: the table's 12-epoch cost of every queried cell, metric time unknown
    assert a.query_cost_s == pytest.approx(cost[a.queried].sum())
    assert not a.metric_cost_known and a.total_cost_s == a.query_cost_s
    c = robot_search(c10_metrics, sig, budget=10, seed=3, cost=cost, metric_cost_s=12.5)
    assert c.metric_cost_known and c.total_cost_s == pytest.approx(a.query_cost_s + 12.5)


def test_requeries_are_free():
    # two architectures dominate every combination: many BO evaluations, few distinct queries
    rng = np.random.default_rng(0)
    k = 50
    z = rng.uniform(0.0, 0.1, (2, k))
    z[:, 0], z[:, 1] = (1.0, 1.0), (0.0, 0.0)
    z[0, 2], z[1, 3] = 1.0, 1.0
    sig = rng.uniform(0, 1, k)
    r = robot_search(z, sig, budget=6, seed=0, bo_iters=15, normalised=True)
    assert len(r.bo_values) == 15 and r.t0 < 15
    assert len(r.queried) == 6 and len(set(r.queried)) == 6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_argmax_when_signal_is_a_metric(seed):
    """With signal = one metric's normalised values, the weight e_m ranks the signal exactly: BO must find it."""
    rng = np.random.default_rng(seed)
    k, m = 2000, 3
    z = normalise(rng.normal(size=(m, k)) + 0.3 * rng.normal(size=(1, k)), "minmax")
    sig = z[seed % m].copy()
    r = robot_search(z, sig, budget=20, seed=seed, normalised=True)
    assert r.pick == int(np.argmax(sig))


@pytest.mark.parametrize("metric", ["grad_norm", "fisher"])
def test_finds_argmax_of_a_real_metric(c10_metrics, metric):
    # (synflow / jacob_cov are left out: their top two cells differ by 1e-3 / 1e-7 after min-max, a needle for T=20)
    z = normalise(c10_metrics)
    sig = z[list(ROBOT_METRICS).index(metric)]
    r = robot_search(z, sig, budget=20, seed=0, normalised=True)
    assert r.pick == int(np.argmax(sig))


def test_signal_ceiling_and_validation(bench, c10_metrics):
    test = bench.column("cifar10", "test_acc")
    i, v = signal_ceiling(nb201_signal("cifar10", "target", bench), test)
    assert v == pytest.approx(94.37, abs=0.01)
    with pytest.raises(InvalidChoiceError, match="signal"):
        nb201_signal("cifar10", "test", bench)
    with pytest.raises(ValueError, match="budget"):
        robot_search(c10_metrics, test, budget=0)


def test_failed_values_are_the_worst_under_either_sign():
    """``failed="worst"``: a NaN metric value never lifts a cell, whatever its weight's sign; ``"zero"`` (the
    reference) makes it the best value of a metric with a negative weight."""
    raw = np.array([[0.2, 0.5, np.nan, 0.9], [1.0, 2.0, 3.0, 4.0]])
    z = normalise(raw)
    fail = ~np.isfinite(raw)
    for w0 in (1.0, 0.4, -0.3, -1.0):
        s = combined_score([w0, 0.0], z, fail)
        assert s[2] <= s[[0, 1, 3]].min()  # the failed cell is last (ties allowed)
        np.testing.assert_allclose(
            s[[0, 1, 3]], combined_score([w0, 0.0], z)[[0, 1, 3]]
        )  # finite cells unchanged
    ref = combined_score([-1.0, 0.0], z)
    assert (
        ref[2] == ref.max() > ref[1]
    )  # the reference: the failed cell ties for first under a negative weight
    sig = np.array([5.0, 4.0, 0.1, 3.0])
    with pytest.raises(InvalidChoiceError, match="failed"):
        robot_search(raw, sig, 2, failed="skip")
    assert set(FAILED_POLICIES) == {"zero", "worst"}
    with pytest.raises(ValueError, match="bo_iters_factor"):
        robot_search(raw, sig, 2, bo_iters_factor=0.0)


@pytest.mark.parametrize(
    ("dataset", "signal", "seed", "old_test", "new_test", "random_mean"),
    [
        # CIFAR-10 signal (RoBoT protocol): seed 4's phase 1 never left the synflow-negative region (best BO value
        # 73.87 against 84.75 in the other seeds) and the greedy phase walked that ranking
        ("cifar10", "cifar10", 4, 86.82, 94.37, 93.02),
        # target signal: seed 6's best weight puts jacob_cov at -1, so the 341 cells whose jacob_cov failed (output
        # disconnected, 0.83 %) came right after its top-1 and the greedy phase queried 13 of them
        ("ImageNet16-120", "target", 6, 28.60, 46.48, 43.29),
    ],
)
def test_collapsing_seeds_no_longer_collapse(bench, dataset, signal, seed, old_test, new_test, random_mean):
    """The seeds that collapsed with the reference settings reach the signal's best cell with the defaults, above
    random search's mean at 20 queries (93.02 / 43.29, target signal); the reference settings still collapse."""
    metrics = nb201_metric_matrix(dataset, benchmark=bench)
    sig = nb201_signal(dataset, signal, bench)
    test = bench.column(dataset, "test_acc")
    old = robot_search(metrics, sig, 20, seed=seed, names=tuple(ROBOT_METRICS), **REFERENCE_OPTIONS)
    new = robot_search(metrics, sig, 20, seed=seed, names=tuple(ROBOT_METRICS))
    # the reference settings collapse far below random search (the exact collapsed cell moves with the BoTorch /
    # SciPy release: 28.60 and 28.00 on ImageNet16-120 have both been seen), the defaults do not
    assert test[old.pick] < old_test + 1.0 and test[old.pick] < random_mean - 5.0
    assert test[new.pick] == pytest.approx(new_test, abs=0.01)
    assert new.pick_signal >= sig.max() - 1e-6  # the signal's maximum
