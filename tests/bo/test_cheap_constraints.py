"""Cheap constraints settled before a query: the measurement, its cost, the device-model source, RoBoT's allowed
ranking and the screen that skips cells clearly over a bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bo.candidates import ConstraintScreen
from bo.loop import BOState, load_state, run_search
from bo.oracles import (
    BUILD_S,
    MEASURE_RUNS,
    BenchmarkOracle,
    Constraint,
    Measurement,
    is_cheap,
    measurement_cost_s,
    parse_constraint,
)
from bo.robot import robot_search
from nag.errors import InvalidChoiceError
from nag.spaces import get_space

torch.set_num_threads(1)


def test_which_metrics_are_cheap():
    for m in ("latency_edgegpu", "energy_fpga", "params_mb", "flops_m", "help_latency_ms_titan_rtx_1"):
        assert is_cheap(m) and Constraint(m, "<=", 1.0).cheap
    for m in ("test_acc", "val_acc_hp12", "robust_pgd_acc"):
        assert not is_cheap(m)


def test_measurement_cost_counts_each_device_once():
    lat = {"edgegpu": 5.0, "fpga": 2.0}.get
    assert measurement_cost_s(["params_mb"], lat) == pytest.approx(BUILD_S)
    one = BUILD_S + MEASURE_RUNS * 5.0 / 1000
    assert measurement_cost_s(["latency_edgegpu", "energy_edgegpu"], lat) == pytest.approx(one)
    both = one + MEASURE_RUNS * 2.0 / 1000
    assert measurement_cost_s(["latency_edgegpu", "energy_fpga", "params_mb"], lat) == pytest.approx(both)
    assert measurement_cost_s(["latency_x"], lambda d: math.nan) == pytest.approx(
        BUILD_S + MEASURE_RUNS * 0.01
    )


def test_table_measurement_is_the_table_value():
    o = BenchmarkOracle("nb201", "cifar10", constraints=["latency:pixel3<=20", "params<=0.5", "test_acc>=80"])
    assert [c.metric for c in o.cheap_constraints] == ["latency_pixel3", "params_mb"]
    archs = o.space.sample(20, seed=1)
    for a, m in zip(archs, o.measure(archs), strict=True):
        lat = o.benchmark.query(a, "cifar10", "latency_pixel3")
        par = o.benchmark.query(a, "cifar10", "params_mb")
        assert m.values == {"latency_pixel3": lat, "params_mb": par}
        assert m.feasible == (lat <= 20 and par <= 0.5)
        assert m.cost_s == pytest.approx(BUILD_S + MEASURE_RUNS * lat / 1000)
        assert Measurement.from_json(m.to_json()) == m


def test_model_source_is_free_and_verified_by_the_queries():
    """`constraint_source="model"`: the device model settles the bound for free (no measurement cost), and its
    mistakes near the bound show as infeasible queries that are never picked."""
    bound = float(np.median(get_space_column("latency_raspi4")))
    o = BenchmarkOracle(
        "nb201", "cifar10", constraints=[f"latency:raspi4<={bound}"], constraint_source="model"
    )
    st = run_search("random", o, 40, seed=2)
    s = st.summary()
    assert s["measure_cost_s"] == 0 and s["rejected"] > 0
    truth = [o.benchmark.query(o.space.parse(a), "cifar10", "latency_raspi4") for a in st.archs]
    assert st.feasible == [t <= bound for t in truth]
    assert st.feasible[s["pick_query"] - 1]
    # the model agrees with the table on the feasibility of most measured cells (Spearman >= .97 on the device)
    agree = [
        (m["values"]["latency_raspi4"] <= bound)
        == (o.benchmark.query(o.space.parse(m["arch"]), "cifar10", "latency_raspi4") <= bound)
        for m in st.measured.values()
    ]
    assert np.mean(agree) > 0.85
    with pytest.raises(InvalidChoiceError, match="constraint-source"):
        BenchmarkOracle("nb201", "cifar10", constraints=["latency:raspi4<=5"], constraint_source="guess")


def get_space_column(metric: str) -> np.ndarray:
    from nag.benchmarks import get_benchmark

    return get_benchmark("nb201").column("cifar10", metric)


def test_resume_does_not_pay_a_measurement_twice(tmp_path):
    """A run killed after measuring resumes with the same measurements (the step's own, saved in
    ``pending_measured``, are neither repaid nor shown to the method before it proposes)."""

    class Counting(BenchmarkOracle):
        measured = 0

        def measure(self, archs):
            Counting.measured += len(archs)
            return super().measure(archs)

    o = Counting("nb201", "cifar100", constraints=["latency:edgegpu<=5.3"])
    full = run_search("evolution", o, 12, seed=3)
    n_full = Counting.measured
    Counting.measured = 0

    class Killed(Counting):
        def evaluate(self, archs):
            if Counting.measured > 9:
                raise KeyboardInterrupt
            return super().evaluate(archs)

    with pytest.raises(KeyboardInterrupt):
        run_search("evolution", Killed("nb201", "cifar100", constraints=["latency:edgegpu<=5.3"]), 12, seed=3,
                   run_dir=tmp_path)  # fmt: skip
    saved = load_state(tmp_path)
    assert saved.pending_measured or saved.measured
    st = run_search("evolution", o, 12, seed=3, run_dir=tmp_path, resume=True)
    assert st.archs == full.archs and st.measured == full.measured
    assert Counting.measured == n_full  # every cell measured once over the killed and the resumed run
    assert BOState.from_json(st.to_json()).measured == st.measured


def test_robot_takes_the_best_allowed_cell():
    rng = np.random.default_rng(0)
    metrics = rng.normal(size=(3, 200))
    signal = metrics.sum(0) + 0.1 * rng.normal(size=200)
    allowed_mask = rng.random(200) < 0.5
    calls: list[int] = []

    def allowed(i: int) -> bool:
        calls.append(i)
        return bool(allowed_mask[i])

    res = robot_search(metrics, signal, 10, seed=1, allowed=allowed)
    assert all(allowed_mask[q.index] for q in res.queries) and len(res.queries) == 10
    assert len(calls) == len(set(calls))  # each cell checked (measured) once
    assert [i for i, _ in res.rejected] == [i for i in calls if not allowed_mask[i]]
    with pytest.raises(ValueError, match="no architecture"):
        robot_search(metrics, signal, 5, seed=1, allowed=lambda i: False)


def test_screen_rules_out_only_cells_clearly_over_the_bound():
    """The linear screen (z = 4 leave-one-out residual sds), fitted on 100 measured cells, skips some cells over the
    Raspberry Pi 4 median latency and (almost) never one under it; with fewer than 10 measurements it skips nothing."""
    from nag.benchmarks import get_benchmark

    bench = get_benchmark("nb201")
    sp = get_space("nb201")
    lat = bench.column("cifar10", "latency_raspi4")
    bound = float(np.median(lat))
    archs = list(sp.enumerate())
    for seed in range(3):
        screen = ConstraintScreen([parse_constraint(f"latency:raspi4<={bound}")], sp)
        rng = np.random.default_rng(seed)
        measured = rng.choice(len(archs), 100, replace=False)
        for k, i in enumerate(measured):
            if k == 9:
                assert not any(screen.rules_out(archs[j]) for j in range(0, 15_625, 500))
            screen.add(archs[i], {"latency_raspi4": float(lat[i])})
        test = rng.choice(len(archs), 400, replace=False)
        out = np.array([screen.rules_out(archs[i]) for i in test])
        feasible = lat[test] <= bound
        assert out.mean() > 0.02  # it saves measurements
        assert (out & feasible).sum() <= 0.01 * feasible.sum()  # and (almost) never skips a feasible cell


def test_report_shows_measurements_and_infeasible_queries(tmp_path):
    from bo.report import write_report

    o = BenchmarkOracle("nb201", "cifar10", constraints=["latency:edgegpu<=5"])
    states = [run_search("random", o, 8, seed=s, run_dir=tmp_path / f"s{s}") for s in (0, 1)]
    md, _ = write_report([tmp_path])
    head, _, row = md.splitlines()[:3]
    cols = dict(zip(head.strip("|").split(" | "), row.strip("|").split(" | "), strict=True))
    assert cols["infeasible queries"].strip() == "0.0"
    n = np.mean([len(s.measured) for s in states])
    r = np.mean([len(s.rejected_keys) for s in states])
    assert cols["measurements (ruled out)"].strip() == f"{n:.1f} ({r:.1f})"
    assert (tmp_path / "s0" / "measurements.csv").read_text().count("\n") == len(states[0].measured) + 1


def test_local_latency_is_measured_once_before_training(tmp_path):
    """On the user's data (`TrainingOracle`), ``latency:local`` is measured on this machine before any training:
    no trained network breaks the bound, a rejected one is never trained, each latency is measured once (cached
    per architecture), and the queries report the very values that were settled."""
    from bo.oracles import TrainingOracle

    rng = np.random.default_rng(0)
    x = (rng.random((240, 12, 12)) * 255).astype(np.uint8)
    y = rng.integers(0, 3, 240)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    archs = get_space("nb201").sample(12, seed=3)
    probe = TrainingOracle("nb201", data=f"npz:{tmp_path / 'd.npz'}", epochs=1, size=12,
                           module_kwargs={"C": 4, "N": 1}, constraints=["latency:local<=1000"],
                           latency_cache=str(tmp_path / "lat.json"))  # fmt: skip
    lat = sorted(m.values["latency_local"] for m in probe.measure(archs))
    bound = lat[len(lat) // 2]
    o = TrainingOracle("nb201", data=f"npz:{tmp_path / 'd.npz'}", epochs=1, size=12, module_kwargs={"C": 4, "N": 1},
                       constraints=[f"latency:local<={bound}", "params<=1", "flops<=50"],
                       latency_cache=str(tmp_path / "lat.json"))  # fmt: skip
    st = run_search("random", o, 4, seed=1)
    assert all(st.feasible) and st.n_queries == 4
    for k, rep in zip(st.keys, st.reports, strict=True):
        assert rep["latency_local"] == st.measured[k]["values"]["latency_local"] <= bound
        assert 0 < rep["params_mb"] <= 1 and 0 < rep["flops"] <= 50
    for m in st.measured.values():
        assert m["feasible"] == (m["values"]["latency_local"] <= bound) and m["cost_s"] > 0
    cache = o._cache()
    assert cache.misses == len([k for k in st.measured if k not in {probe.space.format(a) for a in archs}])
    with pytest.raises(InvalidChoiceError, match="constraint"):
        TrainingOracle("nb201", data=f"npz:{tmp_path / 'd.npz'}", size=12, constraints=["latency:edgegpu<=3"])


def test_constraint_text_round_trips_exactly():
    """A run is rebuilt from its description (resume, report): the bound must survive the text exactly."""
    for bound in (3.5, 5.0, 1.216408, 0.1 + 0.2, 25.680000305175781):
        c = Constraint("latency_local", "<=", bound)
        assert parse_constraint(str(c)).bound == bound
    assert str(Constraint("latency_edgegpu", "<=", 5.0)) == "latency_edgegpu<=5"
