"""GP surrogate on architecture features and the diffusion-BO candidate generator (real NB201 table)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from bo.acquisition import probability_of_feasibility, select, select_ucb, ucb
from bo.candidates import Bananas, BananasConfig, DiffusionBO, DiffusionBOConfig
from bo.loop import run_search
from bo.oracles import BenchmarkOracle
from bo.surrogate import (
    BoTorchSurrogate,
    CachedFeatures,
    EnsembleSurrogate,
    GPSurrogate,
    GraphFeatures,
    MetricFeatures,
    OpCountFeatures,
    Surrogate,
    graph_features,
)
from nag.benchmarks import get_benchmark
from nag.errors import InvalidChoiceError
from nag.spaces import get_space


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


def test_graph_features_shape_and_gradient(nb201):
    g = nb201.encode(nb201.sample(5, seed=0))
    F = graph_features(g)
    assert F.shape == (5, 8 * 7 + 28)
    assert torch.equal(F[:, : 8 * 7].reshape(5, 8, 7), g.X)
    X = g.X.clone().requires_grad_(True)
    out = graph_features(g.__class__(X=X, A=g.A, mask=g.mask, ops=g.ops)).sum()
    out.backward()
    assert torch.equal(X.grad, torch.ones_like(X))


def test_gp_surrogate_ranks_held_out_cells(nb201):
    """A GP on one-hot features fitted on 100 cells ranks 1,000 others with Spearman > 0.5 (measured 0.6-0.7)."""
    archs = list(nb201.enumerate())
    y = get_benchmark("nb201").column("cifar10", "val_acc_hp12")
    rng = np.random.default_rng(0)
    idx = rng.choice(len(archs), 1100, replace=False)
    tr, te = idx[:100], idx[100:]
    gp = GPSurrogate(GraphFeatures(nb201)).fit([archs[i] for i in tr], torch.tensor(y[tr]))
    mean, var = gp.posterior([archs[i] for i in te])
    assert mean.shape == var.shape == (1000,) and bool((var > 0).all())
    assert spearmanr(mean.detach().numpy(), y[te]).statistic > 0.5


def test_gp_surrogate_rejects_bad_targets():
    with pytest.raises(ValueError, match="finite"):
        GPSurrogate().fit(torch.rand(4, 3), torch.tensor([1.0, float("nan"), 2.0, 3.0]))
    with pytest.raises(ValueError, match="rows"):
        GPSurrogate().fit(torch.rand(1, 3), torch.tensor([1.0]))


def test_diffusion_bo_queries_distinct_valid_cells_and_charges_the_generator():
    oracle = BenchmarkOracle("nb201", "cifar10")
    torch.manual_seed(0)
    state = run_search(
        "diffusion-bo", oracle, budget=7, seed=0,
        method_options={"n_init": 3, "pool": 24, "neighbours_of": 1, "steps": 5},
    )  # fmt: skip
    assert state.n_queries == 7 and len(set(state.archs)) == 7
    assert state.phases[:3] == ["init"] * 3 and set(state.phases[3:]) == {"bo"}
    assert state.one_off_cost_s["generator_training_s"] > 0
    space = get_space("nb201")
    assert all(space.is_valid(space.parse(a)) for a in state.archs)


def test_diffusion_bo_rejects_unknown_options():
    oracle = BenchmarkOracle("nb201", "cifar10")
    with pytest.raises(InvalidChoiceError, match="^acquisition: unknown value 'pi'; accepted: ucb, logei$"):
        DiffusionBOConfig(acquisition="pi")
    with pytest.raises(
        InvalidChoiceError, match="^option: unknown value 'colour'; accepted: checkpoint, n_init"
    ):
        DiffusionBOConfig.from_options(colour="blue")
    with pytest.raises(InvalidChoiceError, match="^pool: unknown value 0; accepted: an integer >= 1$"):
        DiffusionBOConfig(pool=0)
    with pytest.raises(InvalidChoiceError, match="checkpoint"):
        DiffusionBO(oracle.domain(), oracle, DiffusionBOConfig(checkpoint="missing.pt"))


def test_config_is_the_one_source_of_defaults():
    """The CLI, `get_method` and the method read the same frozen dataclass; BANANAS is a preset of it."""
    import dataclasses

    from bo.loop import get_method

    cfg = DiffusionBOConfig(zc_metrics="synflow, params")
    assert cfg.zc_metrics == ("synflow", "params") and cfg.n_init == 6 and cfg.pool == 128
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.pool = 3  # type: ignore[misc]
    ban = BananasConfig()
    assert (ban.surrogate, ban.proposals, ban.n_init, ban.pool, ban.zc) == (
        "ensemble",
        "mutation",
        10,
        100,
        False,
    )
    assert ban.beta == cfg.beta and ban.acquisition == cfg.acquisition  # the rest: diffusion-BO's defaults
    oracle = BenchmarkOracle("nb201", "cifar10")
    m = get_method("bananas", oracle.domain(), oracle, pool=20)
    assert isinstance(m, Bananas) and m.name == "bananas" and m.config == BananasConfig(pool=20)
    assert m.initial_design == ("n_init", 10)


def test_bananas_starts_random_then_mutates_the_best():
    oracle = BenchmarkOracle("nb201", "cifar10")
    state = run_search("bananas", oracle, budget=11, seed=1, method_options={"pool": 20})
    assert state.n_queries == 11 and len(set(state.archs)) == 11
    assert state.phases[:10] == ["init"] * 10 and state.phases[10] == "bo"
    assert "generator_training_s" not in state.one_off_cost_s
    space = get_space("nb201")
    best10 = [space.parse(a) for a in state.archs[:10]]
    last = space.parse(state.archs[10])
    # the BO query is within two edits of one of the initial architectures (a mutation, not a uniform draw)
    assert min(sum(x != y for x, y in zip(last.ops, b.ops, strict=True)) for b in best10) <= 2


def test_gp_posterior_marginals_match_the_joint_posterior(nb201):
    """Row-wise (batched) marginals equal the diagonal of the joint posterior."""
    F = graph_features(nb201.encode(nb201.sample(40, seed=3))).double()
    y = F[:, :10].sum(1) + 0.1 * torch.randn(
        40, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    gp = GPSurrogate(maxiter=30).fit(F[:30], y[:30])
    mean, var = gp.posterior(F[30:])
    joint = gp.model.posterior(gp.model_inputs(F[30:]))
    assert torch.allclose(mean, joint.mean.squeeze(-1), atol=1e-8)
    assert torch.allclose(var, joint.variance.squeeze(-1), atol=1e-8)


def test_linear_metric_kernel_extrapolates_a_linear_trend():
    """With the metric columns in a linear kernel, a target linear in them is extrapolated beyond the observed
    range (an ARD Matérn reverts towards the mean there)."""
    g = torch.Generator().manual_seed(0)
    n = 30
    graph = torch.randint(0, 2, (n + 5, 6), generator=g).double()  # binary "encoding" columns
    z = torch.rand(n + 5, 2, generator=g, dtype=torch.float64)
    z[n:] += 1.0  # held-out rows: metrics beyond every training value
    F = torch.cat([graph, z], 1)
    y = 3.0 * z[:, 0] - 2.0 * z[:, 1]
    lin, _ = GPSurrogate(maxiter=100, n_linear=2).fit(F[:n], y[:n]).posterior(F[n:])
    ard, _ = GPSurrogate(maxiter=100).fit(F[:n], y[:n]).posterior(F[n:])
    err_lin = (lin - y[n:]).abs().max()
    err_ard = (ard - y[n:]).abs().max()
    assert err_lin < 0.2 and err_lin < 0.5 * err_ard
    with pytest.raises(ValueError, match="n_linear"):
        GPSurrogate(n_linear=-1)


def test_whole_space_proposals_score_every_unqueried_cell():
    """``proposals="space"``: the acquisition is maximised over all 15,625 cells; distinct queries; refused where
    the domain cannot be listed."""
    oracle = BenchmarkOracle("nb201", "cifar10")
    dom = oracle.domain()
    assert len(dom.enumerate()) == 15_625 and dom.enumerate(limit=100) is None
    opts = {
        "n_init": 3,
        "zc": True,
        "zc_kernel": "linear",
        "proposals": "space",
        "gp_maxiter": 20,
        "zc_top": None,
    }
    state = run_search("diffusion-bo", oracle, budget=6, seed=0, method_options=opts)
    assert state.n_queries == 6 and len(set(state.archs)) == 6
    assert state.phases == ["init"] * 3 + ["bo"] * 3
    # the last query is the UCB maximiser over every cell not queried before it (recomputed directly)
    before = run_search("diffusion-bo", oracle, budget=5, seed=0, method_options=opts)
    assert before.archs == state.archs[:5]
    method = DiffusionBO(dom, oracle, DiffusionBOConfig(**opts))
    archs, y = method.training_set(before)
    scorer = method.fit_surrogate(archs, y, with_metrics=True)
    queried = {dom.space.parse(a) for a in before.archs}
    pool = [a for a in dom.enumerate() if a not in queried]
    m, var = scorer.posterior(pool)
    assert m.shape == (15_625 - 5,) and bool((var > 0).all())
    best = pool[int(torch.argmax(m + 2.0 * var.sqrt()))]  # beta = 4
    assert dom.space.format(best) == state.archs[5]
    assert select_ucb(scorer, pool, 1, beta=4.0) == [pool.index(best)]
    with pytest.raises(InvalidChoiceError, match="zc_kernel"):
        DiffusionBOConfig(zc_kernel="rbf")
    from bo.oracles import Domain

    with pytest.raises(InvalidChoiceError, match="proposals"):
        DiffusionBO(Domain(get_space("nb101")), oracle, DiffusionBOConfig(proposals="space"))


def test_feasibility_model_learns_a_latency_constraint_from_the_queries():
    """With a constraint in the oracle, diffusion-BO models each constrained metric from the values its queries
    returned and queries only likely-feasible candidates. After 10 queries the model classifies the feasibility of
    all 15,625 cells (median edge-GPU latency bound) with accuracy > 0.7 (measured 0.78-0.80 over seeds 0-2)."""
    oracle = BenchmarkOracle("nb201", "cifar10", constraints=["latency:edgegpu<=5.312"])
    opts = {"n_init": 6, "proposals": "space", "gp_maxiter": 20}
    state = run_search("diffusion-bo", oracle, budget=10, seed=0, method_options=opts)
    method = DiffusionBO(oracle.domain(), oracle, DiffusionBOConfig(**opts))
    archs = oracle.domain().enumerate()
    fitted = method.feasibility.fit(state)
    assert method.feasibility.models == [] and len(fitted.models) == 1  # fit returns a fitted copy
    prob = fitted.probability(archs)
    assert prob.shape == (15_625,) and bool(((prob >= 0) & (prob <= 1)).all())
    truth = get_benchmark("nb201").column("cifar10", "latency_edgegpu") <= 5.312
    assert ((prob >= 0.5) == truth).mean() > 0.7
    kept = fitted.feasible_part(archs[:500], q=1)
    assert 0 < len(kept) < 500 and set(kept) <= set(archs[:500])
    assert bool((fitted.probability(kept) >= 0.5).all())
    free = BenchmarkOracle("nb201", "cifar10")
    assert (
        DiffusionBO(free.domain(), free, DiffusionBOConfig(**opts))
        .feasibility.fit(state)
        .probability(archs[:5])
        is None
    )
    with pytest.raises(
        InvalidChoiceError, match="^min_feasibility: unknown value 1.5; accepted: a number in"
    ):
        DiffusionBOConfig(min_feasibility=1.5)


def test_training_free_metrics_are_charged_per_distinct_cell():
    """Every distinct cell whose metrics diffusion-BO read is charged NASLib's mean time per cell (7.9 s for the 13
    metrics on CIFAR-10, 1.2 s for synflow, params and flops); scoring the whole space with metrics charges all
    15,625 cells, the default (metrics for the top ``zc_top = 16`` of the graph-only GP's UCB) at most 16 a step."""
    bench = get_benchmark("nb201")
    assert 5.0 < bench.zc_seconds_per_cell("cifar10") < 10.0  # NASLib's 12 metrics
    oracle = BenchmarkOracle("nb201", "cifar10")
    per_cell = DiffusionBO(oracle.domain(), oracle).zc_cell_s  # the 13 used (zen at the timed metrics' mean)
    assert bench.zc_seconds_per_cell("cifar10") < per_cell < 10.0
    cheap = DiffusionBO(oracle.domain(), oracle, DiffusionBOConfig(zc_metrics="synflow,params,flops"))
    assert cheap.zc.shape == (15_625, 3) and 0.5 < cheap.zc_cell_s < 2.0
    with pytest.raises(InvalidChoiceError, match="zc_metrics"):
        DiffusionBO(oracle.domain(), oracle, DiffusionBOConfig(zc_metrics=("synflow", "nope")))
    opts = {"n_init": 3, "proposals": "space", "gp_maxiter": 20}
    state = run_search("diffusion-bo", oracle, budget=5, seed=0, method_options={**opts, "zc_top": None})
    assert state.one_off_cost_s["training_free_metrics_s"] == pytest.approx(15_625 * per_cell)
    top = run_search("diffusion-bo", oracle, budget=5, seed=0, method_options=opts)
    n = len(top.method_state["zc_scored"])
    assert 16 < n <= 5 + 2 * 16 and top.one_off_cost_s["training_free_metrics_s"] == pytest.approx(
        n * per_cell
    )
    assert set(top.method_state["zc_scored"]) >= {
        oracle.space.index(oracle.space.parse(a)) for a in top.archs[:4]
    }
    opts = {"n_init": 3, "proposals": "mutation", "pool": 30, "gp_maxiter": 20, "zc_top": None}
    state = run_search("diffusion-bo", oracle, budget=5, seed=0, method_options=opts)
    n = len(state.method_state["zc_scored"])
    assert 30 < n < 200 and state.one_off_cost_s["training_free_metrics_s"] == pytest.approx(n * per_cell)
    no_zc = run_search("diffusion-bo", oracle, budget=5, seed=0, method_options={**opts, "zc": False})
    assert "training_free_metrics_s" not in no_zc.one_off_cost_s


# ---------------------------------------------------------------------------------------------- surrogate interface
def _toy(nb201, n=24, seed=0):
    archs = nb201.sample(n, seed=seed)
    y = graph_features(nb201.encode(archs)).double()[:, :20].sum(1)
    return archs, y


@pytest.mark.parametrize("kind", ["gp", "gp+metrics", "gp+counts", "gp cached", "ensemble"])
def test_every_surrogate_speaks_archs_and_graphs(nb201, kind):
    """One interface: ``fit(archs, y)``, ``posterior(archs or ArchGraph) -> (mean, variance)``, same numbers both
    ways; the GP's posterior and guidance objective are differentiable in the graph."""
    archs, y = _toy(nb201)
    table = np.random.default_rng(0).random((15_625, 3))
    base = GraphFeatures(nb201)
    sur: Surrogate = {
        "gp": lambda: GPSurrogate(base, maxiter=30),
        "gp+metrics": lambda: GPSurrogate(MetricFeatures(base, table, nb201.index, linear=True), maxiter=30),
        "gp+counts": lambda: GPSurrogate(OpCountFeatures(base, 8, 7), maxiter=30),
        "gp cached": lambda: GPSurrogate(CachedFeatures(base, archs + nb201.sample(6, seed=9)), maxiter=30),
        "ensemble": lambda: EnsembleSurrogate(nb201, seed=0, ensemble=2, max_epochs=5, min_epochs=1),
    }[kind]()
    assert sur.fit(archs[:20], y[:20]) is sur
    mean, var = sur.posterior(archs[20:])
    assert mean.shape == var.shape == (4,) and mean.dtype == var.dtype == torch.float64
    assert bool((var >= 0).all())
    if kind == "gp+metrics":
        assert sur.n_linear == 3 and sur.model_inputs(archs[20:]).shape[0] == 4
        with pytest.raises(ValueError, match="^x: training-free metrics exist for architectures"):
            sur.posterior(nb201.encode(archs[20:]))
        return
    g = nb201.encode(archs[20:])
    m2, v2 = sur.posterior(g)
    assert torch.allclose(m2, mean, atol=1e-10) and torch.allclose(v2, var, atol=1e-10)
    X = g.X.clone().requires_grad_(True)
    obj = sur.objective(beta=4.0, scale=2.0)(g.__class__(X=X, A=g.A, mask=g.mask, ops=g.ops))
    obj.sum().backward()
    assert obj.shape == (4,) and X.grad is not None and float(X.grad.abs().sum()) > 0
    if kind != "ensemble":
        assert isinstance(sur, BoTorchSurrogate)
        with torch.no_grad():  # the GP guidance is the UCB over the given scale
            assert torch.allclose(obj.detach(), (mean + 2.0 * var.sqrt()) / 2.0, atol=1e-10)
    else:
        assert not isinstance(sur, BoTorchSurrogate)


def test_acquisitions_in_closed_form(nb201):
    """UCB and the probability of feasibility against hand-computed values; qLogEI picks distinct pool members and,
    for ``q = 1`` on a GP, the candidate of highest expected improvement."""
    mean = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    var = torch.tensor([4.0, 1.0, 0.0], dtype=torch.float64)
    assert torch.equal(ucb(mean, var, 9.0), torch.tensor([6.0, 4.0, 2.0], dtype=torch.float64))
    p = probability_of_feasibility(mean, torch.tensor([1.0, 1.0, 4.0], dtype=torch.float64), 1.0, "<=")
    assert p == pytest.approx([0.8413447460685429, 0.5, 0.3085375387259869], abs=1e-12)
    assert probability_of_feasibility(mean, var + 1, 1.0, ">=") == pytest.approx(1 - np.array(
        [0.6726395769907115, 0.5, 0.15865525393145707]), abs=1e-12)  # fmt: skip
    with pytest.raises(InvalidChoiceError, match="^op: unknown value '=='"):
        probability_of_feasibility(mean, var, 1.0, "==")
    archs, y = _toy(nb201, 40, seed=1)
    gp = GPSurrogate(GraphFeatures(nb201), maxiter=30).fit(archs[:20], y[:20])
    torch.manual_seed(0)
    picks = select("logei", gp, archs[20:], 3, beta=4.0, best_f=float(y[:20].max()))
    assert len(picks) == len(set(picks)) == 3 and all(0 <= i < 20 for i in picks)
    from scipy.stats import norm

    m, v = gp.posterior(archs[20:])
    s = v.sqrt().detach().numpy()
    z = (m.detach().numpy() - float(y[:20].max())) / s
    ei = s * (z * norm.cdf(z) + norm.pdf(z))
    torch.manual_seed(0)
    assert select("logei", gp, archs[20:], 1, beta=4.0, best_f=float(y[:20].max())) == [int(np.argmax(ei))]
    assert (
        select("ucb", gp, archs[20:], 2, beta=0.0, best_f=0.0)
        == torch.argsort(m, descending=True)[:2].tolist()
    )
    with pytest.raises(InvalidChoiceError, match="^acquisition: unknown value 'pi'"):
        select("pi", gp, archs[20:], 1, beta=4.0, best_f=0.0)


def test_distinct_is_off_on_a_table_and_on_when_asked():
    """A table holds each isomorphic cell's own entry: diffusion-BO may query it (default); ``distinct=True`` makes
    every query a new function that depends on its input."""
    oracle = BenchmarkOracle("nb201", "cifar10")
    opts = {"proposals": "mutation", "zc": False, "n_init": 4, "pool": 32, "gp_maxiter": 20}
    assert not DiffusionBO(oracle.domain(), oracle, DiffusionBOConfig(**opts)).distinct
    state = run_search("diffusion-bo", oracle, budget=14, seed=0, method_options={**opts, "distinct": True})
    space = get_space("nb201")
    cells = [space.parse(t) for t in state.archs]
    assert len({space.canonical(a) for a in cells}) == 14 and not any(space.disconnected(a) for a in cells)
