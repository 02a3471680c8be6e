"""The search harness (bo/loop.py): run directory, pure step, free re-queries, interrupts inside a batch, killed
processes. The per-method contract (determinism, pure step, kill-and-resume) is in test_search_contract.py."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from bo.loop import (
    METHODS,
    BOState,
    RunConfig,
    RunExistsError,
    get_method,
    load_state,
    register_method,
    resume_search,
    run_search,
    step,
)
from bo.oracles import BenchmarkOracle
from nag.errors import InvalidChoiceError
from tests.bo.test_search_contract import CountingOracle

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def oracle():
    return BenchmarkOracle("nb201", "cifar100")


def test_run_directory_files(tmp_path, oracle):
    st = run_search("evolution", oracle, budget=14, seed=3, run_dir=tmp_path)
    assert st.done and st.stop_reason == "budget spent" and st.n_queries == 14
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["config"]["method"] == "evolution" and cfg["config"]["oracle"] == oracle.describe()
    assert cfg["reference"]["signal_ceiling"] == pytest.approx(oracle.reference()["signal_ceiling"])
    back = load_state(tmp_path)
    assert back.to_json() == st.to_json()
    rows = list(csv.DictReader((tmp_path / "queries.csv").open()))
    assert [r["arch"] for r in rows] == st.archs
    assert [float(r["test_acc"]) for r in rows] == pytest.approx([r["test_acc"] for r in st.reports])
    jl = [json.loads(x) for x in (tmp_path / "queries.jsonl").read_text().splitlines()]
    assert [r["signal"] for r in jl] == pytest.approx(st.signals)
    best = list(csv.DictReader((tmp_path / "best_so_far.csv").open()))
    b = [float(r["best_signal"]) for r in best]
    assert b == sorted(b) and b[-1] == pytest.approx(max(st.signals))
    assert best[-1]["pick"] == st.summary()["pick"]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files
    with pytest.raises(RunExistsError):
        run_search("evolution", oracle, budget=14, seed=3, run_dir=tmp_path)
    with pytest.raises(ValueError, match="^resume:"):
        run_search("evolution", oracle, budget=15, seed=3, run_dir=tmp_path, resume=True)
    # resuming a finished run changes nothing
    assert run_search("evolution", oracle, budget=14, seed=3, run_dir=tmp_path, resume=True).archs == st.archs


def test_step_is_pure_and_deterministic(oracle):
    domain = oracle.domain()
    method = get_method("local", domain, oracle)
    s0 = BOState(RunConfig("local", oracle.describe(), budget=30, q=2, seed=1))
    states = [s0]
    for _ in range(12):
        states.append(step(states[-1], method, oracle, domain))
    for a, b in zip(states, states[1:], strict=False):
        before = json.dumps(a.to_json(), sort_keys=True)
        again = step(a, method, oracle, domain)
        assert json.dumps(a.to_json(), sort_keys=True) == before  # the input is not modified
        assert (
            again.archs == b.archs and again.method_state == b.method_state and again.rng_state == b.rng_state
        )
    assert states[-1].n_queries == 24 and len(set(states[-1].keys)) == 24


def test_known_architectures_are_free(oracle):
    class Repeat:
        name = "repeat"

        def __init__(self, domain, oracle_):
            self.domain = domain

        def propose(self, state, q, rng):
            if state.n_steps >= 4:
                return []
            a = self.domain.sample(1, np.random.default_rng(123))[0]  # the same architecture every step
            return [a, a][:q]

        def observe(self, state, archs, evaluations):
            state.method_state.setdefault("seen", []).extend(e.signal for e in evaluations)

    register_method("repeat-test", Repeat)
    try:
        oc = CountingOracle("nb201", "cifar100")
        st = run_search("repeat-test", oc, budget=5, q=2, seed=0)
    finally:
        del METHODS["repeat-test"]
    assert st.n_queries == 1 and oc.calls == 1  # one query, evaluated once
    assert st.n_free == 7  # the duplicate in the first batch and both proposals of the three later steps
    assert st.query_cost_s == pytest.approx(st.costs[0])
    assert (
        len(st.method_state["seen"]) == 8 and len(set(st.method_state["seen"])) == 1
    )  # the method saw them all
    assert st.done and st.stop_reason == "the method proposed nothing more"


def test_unknown_method_or_option(oracle):
    with pytest.raises(InvalidChoiceError, match="^method:.*random"):
        get_method("bananas-test", oracle.domain(), oracle)
    with pytest.raises(InvalidChoiceError, match="^option:.*population_size, sample_size"):
        get_method("evolution", oracle.domain(), oracle, population=5)
    with pytest.raises(InvalidChoiceError, match="^option:"):
        get_method("random", oracle.domain(), oracle, n_init=5)


def test_stall_limit(oracle):
    class Stuck:
        name = "stuck"

        def __init__(self, domain, oracle_):
            self.domain = domain

        def propose(self, state, q, rng):
            return self.domain.sample(1, np.random.default_rng(7))

        def observe(self, state, archs, evaluations):
            return None

    register_method("stuck-test", Stuck)
    try:
        st = run_search("stuck-test", oracle, budget=5, seed=0, max_stall=20)
    finally:
        del METHODS["stuck-test"]
    assert st.n_queries == 1 and st.n_free == 20 and "no new architecture" in st.stop_reason


def test_interrupt_inside_a_batch_saves_harvested_evaluations(tmp_path, oracle):
    """Ctrl-C while an executor still holds finished evaluations: the step records them in `pending` before the
    interrupt propagates, so the resumed run pays for none of them again."""
    from bo.executors import SerialExecutor

    class Interrupting(SerialExecutor):
        """Yields one evaluation, then is interrupted with the next one finished but not yielded."""

        def imap(self, oracle, archs):
            self._done = [(1, oracle.evaluate([archs[1]])[0])] if len(archs) > 1 else []
            yield 0, oracle.evaluate([archs[0]])[0]
            raise KeyboardInterrupt

        def harvest(self):
            out, self._done = self._done, []
            return out

    with pytest.raises(KeyboardInterrupt):
        run_search("random", oracle, 9, q=3, seed=2, run_dir=tmp_path, executor=Interrupting())
    saved = load_state(tmp_path)
    assert saved.n_queries == 0 and len(saved.pending) == 2
    counting = CountingOracle("nb201", "cifar100")
    st = run_search("random", counting, 9, q=3, seed=2, run_dir=tmp_path, resume=True)
    assert counting.calls == 7 and st.archs == run_search("random", oracle, 9, q=3, seed=2).archs


def test_killed_process_resumes(tmp_path, oracle):
    """A real SIGKILL of a search process after some queries; the resumed run equals an uninterrupted one."""
    run_dir = tmp_path / "run"
    script = textwrap.dedent(
        f"""
        import os, signal, torch
        torch.set_num_threads(1)
        from bo.loop import run_search
        from bo.oracles import BenchmarkOracle
        def kill(state):
            if state.n_queries >= 9:
                os.kill(os.getpid(), signal.SIGKILL)
        run_search("evolution", BenchmarkOracle("nb201", "cifar100"), 20, seed=11, run_dir={str(run_dir)!r}, callback=kill)
        """
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == -9, res.stderr
    assert load_state(run_dir).n_queries == 9
    st = resume_search(run_dir)
    full = run_search("evolution", oracle, 20, seed=11)
    assert st.archs == full.archs and len(set(st.keys)) == 20
    assert st.method_state == full.method_state


def test_cheap_constraints_are_settled_before_a_query():
    """A latency bound is measured before any query: no query breaks it, the rejected candidates are never queried,
    and every measurement is charged (table latency x runs + build)."""
    o = BenchmarkOracle("nb201", "cifar10", constraints=["latency:edgegpu<=3.5"])
    st = run_search("random", o, budget=30, seed=0)
    s = st.summary()
    i = s["pick_query"] - 1
    assert st.feasible[i] and s["pick_report"]["latency_edgegpu"] <= 3.5
    assert all(st.feasible) and s["infeasible_queries"] == 0 and st.n_queries == 30
    assert s["rejected"] > 0 and s["measurements"] == 30 + s["rejected"]
    assert not set(st.rejected_keys) & set(st.keys)
    for m in st.measured.values():
        assert m["feasible"] == (m["values"]["latency_edgegpu"] <= 3.5)
        assert m["cost_s"] == pytest.approx(0.05 + 40 * m["values"]["latency_edgegpu"] / 1000)
    assert s["measure_cost_s"] == pytest.approx(sum(m["cost_s"] for m in st.measured.values()))
    assert st.pick()["infeasible_queries"] == 0
    # without the rule (the same draws), random search spends queries on cells over the bound
    free = run_search("random", BenchmarkOracle("nb201", "cifar10"), budget=30, seed=0)
    lat = [o.benchmark.query(o.space.parse(a), "cifar10", "latency_edgegpu") for a in free.archs]
    assert sum(v > 3.5 for v in lat) > 0


def test_constraints_pick_is_feasible():
    """An expensive constraint (on a trained value) is checked on the query itself: infeasible queries happen and
    are never picked."""
    o = BenchmarkOracle("nb201", "cifar10", constraints=["test_acc>=91"])
    assert o.cheap_constraints == ()
    st = run_search("random", o, budget=30, seed=0)
    s = st.summary()
    i = s["pick_query"] - 1
    assert st.feasible[i] and s["pick_report"]["test_acc"] >= 91
    feasible_sig = [sg for sg, ok in zip(st.signals, st.feasible, strict=True) if ok]
    assert s["pick_signal"] == max(feasible_sig)
    assert any(not ok for ok in st.feasible)  # some queries were infeasible and never picked
    assert not st.measured
    bsf = st.best_so_far
    assert all(math.isnan(b) or b <= s["pick_signal"] for b in bsf)
