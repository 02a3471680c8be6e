"""Transfer priors on TransNAS-Bench-101 micro, whose columns run over each task's 711 labelled cells
(`BenchmarkSpec.index` ``"labelled"``): the column scattered over the 4,096-cell enumeration, a prior from two source
tasks, task aliases, and a transfer search that never reads the target's table outside its queries."""

from __future__ import annotations

import numpy as np
import pytest

from nag.benchmarks.transnas101 import ZC_FILES
from nag.errors import InvalidChoiceError
from predictors.transfer import TransferTask, build_prior, check_sources, evaluate_prior
from tests.conftest import requires_data

pytestmark = requires_data(ZC_FILES["micro"])

SPACE = "transnas101_micro"
TARGET = "class_scene"
SOURCES = ["object", "jigsaw"]  # aliases of class_object and jigsaw


@pytest.fixture(scope="module")
def target_values() -> np.ndarray:
    return TransferTask(SPACE, TARGET).values()


def test_values_scatter_the_labelled_column_over_the_enumeration(target_values):
    from nag.benchmarks import get_benchmark
    from nag.spaces import get_space

    sp, bench = get_space(SPACE), get_benchmark(SPACE)
    labelled = bench.labelled(TARGET)
    idx = np.array([sp.index(a) for a in labelled])
    assert target_values.shape == (sp.size,) == (4096,) and target_values.dtype == np.float64
    assert len(set(idx.tolist())) == len(labelled) == 711
    np.testing.assert_array_equal(target_values[idx], bench.labelled_column(TARGET, "val_accuracy"))
    assert int(np.isfinite(target_values).sum()) == 711  # NaN elsewhere


def test_prior_from_two_sources_ranks_the_target(target_values):
    prior = build_prior(SPACE, SOURCES, TARGET)
    assert [t.dataset for t in prior.sources] == ["class_object", "jigsaw"]
    r = evaluate_prior(prior, target_values, 0, 0)  # scored on the target's labelled cells only
    # the sources' raw Spearman with class_scene over the labelled cells is .83 / .78
    assert r["spearman"] > 0.6
    m, v = prior.posterior_indices(np.arange(4096))  # every cell of the enumeration has a finite posterior
    assert np.isfinite(m).all() and (v > 0).all()


@pytest.mark.parametrize(
    ("sources", "needle"),
    [(["scene"], "the target itself"), (["cifar10"], "nb201"), (["nope"], "nope")],
)
def test_bad_sources(sources, needle):
    with pytest.raises(InvalidChoiceError) as e:
        check_sources(SPACE, "scene", sources)
    assert e.value.field == "transfer_from" and needle in str(e.value) and "\n" not in str(e.value)


def test_aliases_resolve():
    assert check_sources(SPACE, "scene", "object, layout,surface_normal,object") == [
        "class_object",
        "room_layout",
        "normal",
    ]


def test_target_table_is_read_only_through_queries(monkeypatch):
    """A diffusion-BO search with transfer reads the target's values only inside `Oracle.evaluate` (its domain, the
    list of labelled cells, is the benchmark's protocol and carries no values)."""
    from bo.loop import run_search
    from tests.conftest import guarded_oracle

    oracle = guarded_oracle(monkeypatch, SPACE, TARGET, ("scene",))
    st = run_search("diffusion-bo", oracle, 3, seed=0, method_options={"transfer_from": SOURCES})
    assert st.n_queries == 3 and all(np.isfinite(s) for s in st.signals)
    assert st.method_state["transfer_from"] == [
        f"{SPACE}/{d}/val_accuracy" for d in ("class_object", "jigsaw")
    ]
    from nag.benchmarks import get_benchmark

    bench = get_benchmark(SPACE)
    labelled = {bench.space.format(a) for a in bench.labelled(TARGET)}
    assert set(st.archs) <= labelled  # the search stays on the target's labelled cells
