"""Training-free metrics on a real-training oracle are the task's own (`bo.live_metrics`): computed live on a seeded
minibatch of the oracle's training split, equal to a direct `predictors.zero_cost` computation, cached per
architecture in the run's state (a resumed run recomputes nothing), charged their measured seconds, and no benchmark
table is ever opened."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nag.benchmarks
from bo.candidates import DiffusionBO, DiffusionBOConfig
from bo.live_metrics import DEFAULT_LIVE_METRICS, LiveMetricFeatures, LiveMetrics, task_minibatch
from bo.loop import run_search
from bo.oracles import TrainingOracle
from bo.surrogate import GraphFeatures
from bo.task_data import make_split
from nag.errors import InvalidChoiceError
from predictors.zero_cost import compute

torch.set_num_threads(1)

OPTS = {"zc": True, "n_init": 2, "proposals": "mutation", "pool": 24, "zc_top": 4, "gp_maxiter": 20}


@pytest.fixture(scope="module")
def oracle(tmp_path_factory) -> TrainingOracle:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "d.npz"
    np.savez(path, x=(rng.random((160, 12, 12)) * 255).astype(np.uint8), y=rng.integers(0, 3, 160))
    return TrainingOracle("nb201", data=f"npz:{path}", epochs=1, batch_size=32, size=12, seed=2,
                          module_kwargs={"C": 4, "N": 1})  # fmt: skip


@pytest.fixture
def no_tables(monkeypatch):
    """Opening any benchmark (its tables) fails."""

    def refuse(*args, **kwargs):
        raise AssertionError("a benchmark table was opened on a training oracle")

    monkeypatch.setattr(nag.benchmarks, "get_benchmark", refuse)
    monkeypatch.setattr(nag.benchmarks, "_instance", refuse)


def test_task_minibatch_is_a_seeded_draw_of_the_training_split(oracle):
    x, y = task_minibatch(oracle, 16)
    train = make_split(
        oracle.data, oracle.n_train, oracle.n_val, oracle.n_test, seed=oracle.seed, size=12
    ).train
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(oracle.seed))[:16]
    assert (
        x.shape == (16, 3, 12, 12)
        and torch.equal(x, train.tensors[0][idx])
        and torch.equal(y, train.tensors[1][idx])
    )
    assert not torch.equal(task_minibatch(oracle, 16, seed=5)[0], x)
    with pytest.raises(InvalidChoiceError, match="zc_batch"):
        task_minibatch(oracle, 10_000)


def test_diffusion_bo_metrics_are_computed_live_on_the_task(oracle, no_tables):
    state = run_search("diffusion-bo", oracle, budget=4, seed=0, method_options=OPTS)
    assert state.n_queries == 4
    blob = state.method_state["zc_live"]
    recs = blob["records"]
    # the queried cells and at most zc_top candidates a step were computed, each charged its own measured seconds
    assert set(state.archs) <= set(recs) and len(recs) <= 4 + 2 * OPTS["zc_top"]
    assert state.one_off_cost_s["training_free_metrics_s"] == pytest.approx(
        sum(r["time_s"] for r in recs.values())
    )
    assert all(r["time_s"] > 0 for r in recs.values())
    # the values are a direct predictors.zero_cost computation on the task minibatch (same seeded initial weights)
    batch = task_minibatch(oracle)
    for text in state.archs[:2]:
        torch.manual_seed(oracle.seed)
        net = oracle.build_module(oracle.space.parse(text))
        for m in DEFAULT_LIVE_METRICS:
            assert recs[text]["values"][m] == pytest.approx(compute(m, net, batch), rel=1e-6), m


def test_resumed_search_recomputes_nothing(oracle, no_tables, monkeypatch):
    state = run_search("diffusion-bo", oracle, budget=3, seed=1, method_options=OPTS)
    method = DiffusionBO(oracle.domain(), oracle, DiffusionBOConfig(**OPTS))
    assert method.zc is None and method.live is not None
    monkeypatch.setattr(LiveMetrics, "compute", lambda self, a: pytest.fail("recomputed a saved metric"))
    assert method._zc_on(state)
    archs, y = method.training_set(state)
    F = method.fit_surrogate(archs, y, with_metrics=True).featuriser(archs)
    assert F.shape[1] == GraphFeatures(oracle.space)(archs).shape[1] + len(DEFAULT_LIVE_METRICS)


def test_live_features_transform(oracle):
    live = LiveMetrics(oracle, ["synflow", "params"], batch_size=8)
    feats = LiveMetricFeatures(GraphFeatures(oracle.space), live)
    archs = oracle.space.sample(5, seed=0)
    feats.set_reference(archs[:3])
    z = feats(archs)[:, -2:].numpy()
    ref = np.sign(live.values(archs[:3])) * np.log1p(np.abs(live.values(archs[:3])))
    assert np.allclose(z[:3].mean(0), 0, atol=1e-9) or np.allclose(ref.std(0), 0)
    assert feats.n_linear == 2 and len(live.records) == 5
    again = LiveMetrics(oracle, ["synflow", "params"], batch_size=8)
    assert again.load(live.dump()) == 5
    assert (
        LiveMetrics(oracle, ["synflow"], batch_size=8).load(live.dump()) == 0
    )  # another setting: not reused
    with pytest.raises(InvalidChoiceError, match="zc_metrics"):
        LiveMetrics(oracle, ["nope"])


def test_live_metrics_are_on_by_default_for_the_gp(oracle, no_tables):
    def method(**kw):
        return DiffusionBO(oracle.domain(), oracle, DiffusionBOConfig(proposals="mutation", **kw))

    assert method().live is not None and method().live.live.metrics == DEFAULT_LIVE_METRICS
    assert method(zc=False).live is None and method(surrogate="ensemble").live is None
    assert method(zc_metrics="synflow,jacob_cov").live.live.metrics == ("synflow", "jacob_cov")


def test_diffusion_bo_trains_no_function_twice(oracle, no_tables):
    """On a real-training oracle no query repeats a queried cell's function (isomorphism class) or ignores its
    input; the filter keeps the first of each class and leaves a list of only known functions as it is."""
    method = DiffusionBO(oracle.domain(), oracle, DiffusionBOConfig(**OPTS))
    assert method.distinct
    sp = oracle.space
    a = sp.parse("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    # node 2 feeds nothing (none~2): its operation does not change the function
    iso = sp.parse("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    # another operation on a live edge (1 -> 3): another function
    other = sp.parse("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    cut = sp.parse("|none~0|+|none~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|none~2|")
    assert sp.canonical(a) == sp.canonical(iso) != sp.canonical(other) and sp.disconnected(cut)
    assert method._distinct([iso, other, cut, other], [a]) == [other]
    assert method._distinct([iso], [a]) == [iso]  # nothing new: the list as it is
    state = run_search("diffusion-bo", oracle, budget=8, seed=3, method_options=OPTS)
    keys = [sp.canonical(sp.parse(t)) for t in state.archs]
    assert len(set(keys)) == 8 and not any(sp.disconnected(sp.parse(t)) for t in state.archs)
