"""This machine's latency as a guidance term: the local latency models (`predictors.local_latency`) steer the
generator before anything is measured (`nag generate --constraint latency:local<=MS`) and the search's feasibility
model (`bo.candidates.FeasibilityModel`) on a real-training oracle.

Timings are real but small (MobileNetV3 at 16-32 px, few passes); assertions are about order and shares with wide
margins, never fixed milliseconds (the machine may be shared).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bo.candidates import FeasibilityModel
from bo.loop import BOState, RunConfig
from bo.oracles import parse_constraint
from bo.surrogate import GraphFeatures, OpCountFeatures
from nag.spaces import get_space
from nag.spaces.mbv3 import EXPAND_RATIOS, KERNEL_SIZES, MAX_DEPTH, NUM_LAYERS, NUM_STAGES, MBV3Arch
from predictors.local_latency import MBV3LatencyTable
from predictors.measure import LatencyCache
from tests.test_cli import run

torch.set_num_threads(1)
SPACE = get_space("mbv3")


def _table() -> MBV3LatencyTable:
    """A table whose entries grow with stage, kernel and expansion (the shape measured tables have), so that the
    feasibility logic is checked against known sums."""
    t = np.zeros((NUM_STAGES, 2, len(KERNEL_SIZES), len(EXPAND_RATIOS)))
    for s in range(NUM_STAGES):
        for r in range(2):
            for ki, k in enumerate(KERNEL_SIZES):
                for ei, e in enumerate(EXPAND_RATIOS):
                    t[s, r, ki, ei] = 0.02 * (1 + s) * k * e * (1.3 if r == 0 else 1.0)
    return MBV3LatencyTable(t, 0.5, {"backend": "torch"})


def _state(measured: dict[str, float]) -> BOState:
    st = BOState(RunConfig(method="diffusion-bo", oracle={"kind": "training"}, budget=10, seed=0))
    for i, (text, ms) in enumerate(measured.items()):
        st.measured[f"k{i}"] = {
            "arch": text,
            "values": {"latency_local": ms},
            "feasible": True,
            "cost_s": 0.1,
        }
    return st


def _feasibility(table: MBV3LatencyTable, bound: float) -> FeasibilityModel:
    graph = GraphFeatures(SPACE)
    return FeasibilityModel([parse_constraint(f"latency:local<={bound}")], SPACE,
                            OpCountFeatures(graph, SPACE.max_nodes, len(SPACE.ops)), 20, 0.5,
                            lambda: table)  # fmt: skip


def test_feasibility_uses_the_local_model_before_any_measurement():
    table = _table()
    archs = SPACE.sample(200, seed=0)
    pred = table.predict(archs)
    bound = float(np.quantile(pred, 0.3))
    fm = _feasibility(table, bound).fit(_state({}))
    assert len(fm.local) == 1 and not fm.models  # the table, not a GP, and with nothing measured yet
    prob = fm.probability(archs)
    assert prob is not None and prob.shape == (200,)
    # monotone in the prediction, 1/2 at the bound
    order = np.argsort(pred)
    assert np.all(np.diff(prob[order]) <= 1e-12)
    assert np.all(prob[pred < bound * 0.8] > 0.9) and np.all(prob[pred > bound * 1.25] < 0.1)
    # the initial draw: the likely feasible first, in their drawn order
    ordered = fm.order_initial(list(archs))
    k = int((prob >= 0.5).sum())
    assert ordered[:k] == [a for a, p in zip(archs, prob, strict=True) if p >= 0.5]
    assert sorted(map(SPACE.format, ordered)) == sorted(map(SPACE.format, archs))
    # one guidance term per local model, its value ~ 0 inside the bound
    assert len(fm.local_terms(None, 100.0, None)) == 1


def test_feasibility_refits_on_measurements_and_narrows():
    table = _table()
    archs = SPACE.sample(40, seed=1)
    truth = 0.3 + 1.8 * table.raw_sum(archs)  # what this machine measures: the glue the table misses
    bound = float(np.median(truth))
    fm0 = _feasibility(table, bound).fit(_state({}))
    sigma0 = fm0.local[0][2]
    fm = _feasibility(table, bound).fit(
        _state({SPACE.format(a): float(v) for a, v in zip(archs[:20], truth[:20], strict=True)})
    )
    _, lm, sigma = fm.local[0]
    assert lm.b == pytest.approx(1.8, rel=1e-6) and lm.a == pytest.approx(0.3, abs=1e-6)
    assert sigma < sigma0 and sigma == FeasibilityModel.LOCAL_SIGMA_MIN
    prob = fm.probability(archs[20:])
    assert np.array_equal(prob >= 0.5, truth[20:] <= bound)  # exact once the line is known


def test_calibrated_table_predicts_measured_networks(tmp_path):
    """The factory's table is calibrated on three whole networks (cached with it): its predictions rank measured
    networks and land within a factor 1.5 of them."""
    from predictors.local_latency import local_latency_model

    cache = LatencyCache(str(tmp_path / "lat.json"))
    kw = dict(input_size=(3, 16, 16), warmup=2, repeats=5, cache=cache)
    lm = local_latency_model("mbv3", **kw)
    assert len(lm.calibration) == 3 and lm.b > 0 and lm.settings["measure_s"] > 0
    misses = cache.misses
    again = local_latency_model("mbv3", **kw)  # everything from the cache
    assert cache.misses == misses and again.calibration == lm.calibration and again.b == pytest.approx(lm.b)
    small = SPACE.normalise(MBV3Arch(ks=(3,) * NUM_LAYERS, e=(3,) * NUM_LAYERS, d=(2,) * NUM_STAGES))
    big = SPACE.normalise(MBV3Arch(ks=(7,) * NUM_LAYERS, e=(6,) * NUM_LAYERS, d=(MAX_DEPTH,) * NUM_STAGES))
    p = lm.predict([small, big])
    assert p[1] > 2 * p[0] > 0
    d = json.loads(json.dumps(lm.to_dict()))
    assert MBV3LatencyTable.from_dict(d).calibration == lm.calibration


def test_generate_meets_a_measured_latency_bound_on_mbv3(tmp_path, capsys, monkeypatch):
    """`nag generate --space mbv3 --constraint latency:local<=MS`: the table guides, every generated network is then
    measured; with the bound at the 30th percentile of random networks' measured latency, most generated networks
    measure within it (random: 30%)."""
    # The bound and the generation are measured a minute apart on a shared host whose speed drifts (by 2x once in a
    # full run: every prediction then broke the bound). A second attempt re-measures both in a fresh HOME.
    for attempt in range(2):
        home = tmp_path / f"home{attempt}"
        monkeypatch.setenv("HOME", str(home))  # the latency cache goes to HOME/.cache/nag
        cache = LatencyCache(str(home / ".cache" / "nag" / "latency_local.json"))
        kw = dict(input_size=(3, 16, 16), num_classes=10, threads=1)
        lat = np.array([cache.measure(SPACE, a, **kw).median_ms for a in SPACE.sample(20, seed=5)])
        bound = round(float(np.quantile(lat, 0.3)), 3)
        code, out, err = run(["generate", "--space", "mbv3", "-n", "12", "--seed", "1", "--constraint",
                              f"latency:local<={bound}", "--input-size", "16"], capsys)  # fmt: skip
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        true = np.array([float(ln.split(" true ")[1].split()[0]) for ln in lines]) if lines else np.zeros(0)
        if code == 0 and len(lines) == 12 and np.mean(true <= bound) >= 0.6:
            break
    assert code == 0, err
    assert len(lines) == 12
    assert np.mean(true <= bound) >= 0.6, (bound, true)
    assert "truly feasible" in err


@pytest.mark.parametrize(
    "args,field",
    [
        (["generate", "--space", "nasbench_graph", "--constraint", "latency:local<=3"], "space"),
        (["generate", "--space", "mbv3", "--maximize", "latency:local"], "maximize"),
        (["generate", "--space", "mbv3", "--constraint", "latency:local<=0"], "constraint"),
        (
            ["generate", "--space", "nb201", "--latency-backend", "onnxruntime", "-n", "3"],
            "--latency-backend",
        ),
        (
            ["generate", "--space", "nb201", "--constraint", "latency:local<=3", "--latency-backend", "tvm"],
            "latency-backend",
        ),
        (
            ["generate", "--space", "mbv3", "--constraint", "latency:local<=3", "--module-option", "depth=3"],
            "--module-option",
        ),
    ],
)
def test_generate_local_latency_bad_input(args, field, capsys):
    code, _, err = run(args, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith(f"error: {field}"), err


def test_constraint_term_strengthens_only_under_a_tight_bound():
    from types import SimpleNamespace

    from bo.candidates import DiffusionBO, DiffusionBOConfig

    me = SimpleNamespace(config=DiffusionBOConfig())
    texts = [SPACE.format(a) for a in SPACE.sample(20, seed=2)]

    def state(feasible: list[bool]) -> BOState:
        st = _state({})
        for i, (t, f) in enumerate(zip(texts, feasible, strict=False)):
            st.measured[f"k{i}"] = {"arch": t, "values": {"latency_local": 1.0}, "feasible": f, "cost_s": 0.1}
        return st

    base = DiffusionBOConfig().constraint_scale
    assert DiffusionBO._constraint_scale(me, state([])) == base  # nothing measured yet
    assert DiffusionBO._constraint_scale(me, state([True, False] * 10)) == base  # a loose bound: half pass
    assert DiffusionBO._constraint_scale(me, state([False] * 18 + [True] * 2)) == 5 * base  # a tight one
