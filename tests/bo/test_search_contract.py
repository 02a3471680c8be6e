"""The `bo.loop.SearchMethod` contract, run against every registered search method (a diffusers-style common-test
mixin): deterministic under a seed, a pure `step`, proposals inside the domain, and kill-and-resume that loses and
repeats nothing (identical queries to an uninterrupted run). Plus a seeded golden regression of short diffusion-BO
and BANANAS runs (query lists recorded before `DiffusionBO` was split into config, pool strategies and feasibility
model; the split must not change a query).

Budgets and pools are small so each method's contract runs in seconds; a method added to `bo.loop.METHODS` gets a
subclass here (`test_every_registered_method_has_a_contract` checks).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
import torch

from bo.loop import METHODS, BOState, RunConfig, get_method, load_state, run_search, step
from bo.oracles import BenchmarkOracle

torch.set_num_threads(1)


class Interrupted(RuntimeError):
    """Stands for a kill in the middle of a run."""


class CountingOracle(BenchmarkOracle):
    """A benchmark oracle that counts its evaluations and is "killed" (raises) after ``fail_after`` of them."""

    def __init__(self, *args: Any, fail_after: int | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.calls = 0
        self.fail_after = fail_after

    def evaluate(self, archs):
        out = []
        for a in archs:
            if self.fail_after is not None and self.calls >= self.fail_after:
                raise Interrupted(f"killed after {self.calls} evaluations")
            self.calls += 1
            out += super().evaluate([a])
        return out


@pytest.fixture(scope="module")
def oracle() -> BenchmarkOracle:
    return BenchmarkOracle("nb201", "cifar100")


#: A cheap constraint that about half of the cells break (edge-GPU latency at its CIFAR-100 median): settled before
#: every query by the harness (`bo.loop.step`), the same rule for every method.
CHEAP = ["latency:edgegpu<=5.3"]


class SearchMethodContract:
    """Mixin: subclasses set the method, its options, a small budget, ``q`` and where the kill happens.

    Attributes:
        method: registered name.
        options: ``method_options``.
        budget / q / seed: the run.
        kill_after: evaluations before the simulated kill (inside a batch when ``kill_after % q``).
    """

    method: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    budget: ClassVar[int] = 25
    q: ClassVar[int] = 1
    seed: ClassVar[int] = 5
    kill_after: ClassVar[int] = 7
    constraints: ClassVar[list[str]] = []

    @pytest.fixture(scope="class")
    def oracle(self) -> BenchmarkOracle:
        return BenchmarkOracle("nb201", "cifar100", constraints=self.constraints)

    def _run(self, oracle, **kw) -> BOState:
        return run_search(
            self.method, oracle, self.budget, q=self.q, seed=self.seed, method_options=self.options, **kw
        )

    @pytest.fixture(scope="class")
    def full(self, oracle) -> BOState:
        """The uninterrupted run."""
        return self._run(oracle)

    @pytest.fixture(scope="class")
    def chain(self, oracle) -> tuple[list[BOState], Any]:
        """The same run stepped by hand with a freshly built method: every state, and the method."""
        domain = oracle.domain()
        method = get_method(self.method, domain, oracle, **self.options)
        states = [
            BOState(
                RunConfig(self.method, oracle.describe(), self.budget, self.q, self.seed, dict(self.options))
            )
        ]
        while not states[-1].done:
            states.append(step(states[-1], method, oracle, domain))
        return states, method

    def test_deterministic_under_a_seed(self, full, chain):
        last = chain[0][-1]
        assert last.archs == full.archs and last.signals == full.signals and last.phases == full.phases
        assert last.method_state == full.method_state and last.rng_state == full.rng_state

    def test_step_is_pure(self, oracle, chain):
        states, method = chain
        domain = oracle.domain()
        for a, b in zip(states, states[1:], strict=False):
            before = json.dumps(a.to_json(), sort_keys=True)
            again = step(a, method, oracle, domain)
            assert json.dumps(a.to_json(), sort_keys=True) == before  # the input state is not modified
            assert (
                again.archs == b.archs
                and again.method_state == b.method_state
                and again.rng_state == b.rng_state
            )

    def test_proposals_inside_the_domain(self, oracle, full):
        domain = oracle.domain()
        sp = domain.space
        assert full.n_queries == self.budget and full.stop_reason == "budget spent"
        assert len(set(full.keys)) == self.budget  # every query a new architecture
        for text, key in zip(full.archs, full.keys, strict=True):
            a = sp.parse(text)
            assert a in domain and sp.is_valid(a) and domain.key(a) == key

    def test_kill_and_resume_loses_and_repeats_nothing(self, tmp_path, full):
        failing = CountingOracle(
            "nb201", "cifar100", fail_after=self.kill_after, constraints=self.constraints
        )
        with pytest.raises(Interrupted):
            self._run(failing, run_dir=tmp_path)
        saved = load_state(tmp_path)
        assert saved.n_queries + len(saved.pending) == self.kill_after  # every paid evaluation is on disk
        if self.kill_after % self.q and not self.constraints:  # (rejections shift where batches start)
            assert saved.pending  # killed inside a batch: its finished evaluations wait in `pending`
        counting = CountingOracle("nb201", "cifar100", constraints=self.constraints)
        st = self._run(counting, run_dir=tmp_path, resume=True)
        assert st.archs == full.archs and st.signals == full.signals and st.phases == full.phases
        assert st.measured == full.measured  # the same candidates measured, in the same order
        assert failing.calls + counting.calls == self.budget  # nothing evaluated twice
        assert st.method_state == full.method_state and st.rng_state == full.rng_state
        assert load_state(tmp_path).pending == {}

    def test_cheap_constraints_cost_no_query(self, full):
        """With a cheap constraint no query breaks it, and what a measurement ruled out was never queried."""
        if not self.constraints:
            assert not full.measured
            return
        assert all(full.feasible) and full.summary()["infeasible_queries"] == 0
        assert full.rejected_keys and not set(full.rejected_keys) & set(full.keys)
        assert set(full.keys) <= set(full.measured) and full.measure_cost_s > 0


class GoldenQueries:
    """Mixin for a contract class whose run has a recorded query list (``golden``)."""

    golden: ClassVar[list[str]]

    def test_golden_queries(self, full):
        assert full.archs == self.golden


class TestRandom(SearchMethodContract):
    method = "random"


class TestEvolution(SearchMethodContract):
    method = "evolution"
    kill_after = 13


class TestEvolutionBatched(SearchMethodContract):
    method = "evolution"
    q = 3
    kill_after = 14


class TestLocal(SearchMethodContract):
    method = "local"
    kill_after = 16


class TestLocalBatched(SearchMethodContract):
    method = "local"
    q = 4
    kill_after = 13


class TestRobot(SearchMethodContract):
    method = "robot"
    budget = 8
    kill_after = 5


class TestRandomConstrained(TestRandom):
    constraints = CHEAP


class TestEvolutionBatchedConstrained(TestEvolutionBatched):
    constraints = CHEAP


class TestLocalConstrained(TestLocal):
    constraints = CHEAP


class TestRobotConstrained(TestRobot):
    constraints = CHEAP


#: Short diffusion-BO / BANANAS runs: NB201 CIFAR-100, seed 5 (queries recorded before the refactoring).
_DIFFUSION_BO = {"n_init": 3, "pool": 24, "neighbours_of": 1, "steps": 5, "zc_top": None}


class TestDiffusionBO(GoldenQueries, SearchMethodContract):
    """Killed inside a guided batch (after ``n_init = 3``: the fourth evaluation is the first of a BO batch of two)."""

    method = "diffusion-bo"
    options = _DIFFUSION_BO
    budget = 5
    q = 2
    kill_after = 4
    golden = [
        "|none~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",
        "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|none~1|avg_pool_3x3~2|",
        "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|",
        "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
    ]


class TestBananas(GoldenQueries, SearchMethodContract):
    """Killed after its first surrogate-driven query (the default five-member GNN ensemble)."""

    method = "bananas"
    options = {"pool": 20, "n_init": 3}
    budget = 5
    kill_after = 4
    golden = [
        "|avg_pool_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_1x1~2|",
        "|none~0|+|none~0|none~1|+|none~0|avg_pool_3x3~1|none~2|",
        "|avg_pool_3x3~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_1x1~2|",
        "|nor_conv_1x1~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_1x1~2|",
    ]

    @pytest.mark.slow
    def test_step_is_pure(self, oracle, chain):
        """Slow (an ensemble fit per step, again); the same class's purity is checked fast by `TestDiffusionBO`."""
        super().test_step_is_pure(oracle, chain)


class TestDiffusionBOConstrained(SearchMethodContract):
    """Diffusion-BO with a cheap constraint: alternates after the chosen candidates, rejected ones excluded from
    later pools, metrics for the top of the pool only (the default ``zc_top``); killed inside a guided batch."""

    method = "diffusion-bo"
    options = {"n_init": 3, "pool": 24, "neighbours_of": 1, "steps": 5}
    budget = 6
    q = 2
    kill_after = 5
    constraints = CHEAP


def test_diffusion_bo_golden_q1(oracle):
    """Seeded golden regression of a sequential diffusion-BO run (three unguided, three guided queries)."""
    st = run_search("diffusion-bo", oracle, 6, seed=5, method_options=_DIFFUSION_BO)
    assert st.phases == ["init"] * 3 + ["bo"] * 3
    assert st.archs == [
        "|none~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|none~1|avg_pool_3x3~2|",
        "|avg_pool_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|skip_connect~1|none~2|",
        "|avg_pool_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|skip_connect~1|nor_conv_1x1~2|",
        "|avg_pool_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_3x3~0|skip_connect~1|none~2|",
        "|avg_pool_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|skip_connect~1|none~2|",
    ]


def test_every_registered_method_has_a_contract():
    covered = {c.method for c in SearchMethodContract.__subclasses__()}
    assert covered == set(METHODS), set(METHODS) ^ covered
