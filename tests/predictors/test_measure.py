"""Latency measured on this machine (`predictors.measure`) and the local latency models (`predictors.local_latency`).

Small networks and few timed passes keep the file fast; timing values are only checked for sign, finiteness and
coarse order, never against a fixed number (the machine may be shared).
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch

from nag.errors import InvalidChoiceError, NagInputError, NagRuntimeError
from nag.spaces import get_space
from nag.spaces.mbv3 import MAX_DEPTH, NUM_LAYERS, NUM_STAGES, MBV3Arch
from nag.spaces.nb201 import NB201Arch
from predictors.local_latency import MBV3LatencyTable, NB201LocalLatency, local_latency_model
from predictors.measure import (
    LatencyCache,
    LatencyMeasurement,
    measure_latency,
    measure_module,
    onnxruntime_session,
    reference_arch,
)

FAST = dict(warmup=1, repeats=3)
TINY_NB201 = {"C": 4, "N": 1}  # a 5-cell network instead of the benchmark's 17
CELL = NB201Arch(("nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "none", "nor_conv_3x3"))
MBV3_PX = (3, 32, 32)


def _mbv3(k: int, e: int, d: int) -> MBV3Arch:
    space = get_space("mbv3")
    return space.normalise(MBV3Arch(ks=(k,) * NUM_LAYERS, e=(e,) * NUM_LAYERS, d=(d,) * NUM_STAGES))


@pytest.fixture(scope="module")
def table() -> MBV3LatencyTable:
    return MBV3LatencyTable.measure(input_size=MBV3_PX, warmup=2, repeats=5, rounds=1)


# ---------------------------------------------------------------------- measurement
def test_measurement_is_positive_finite_and_threads_restored() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        m = measure_latency("nb201", CELL, module_kwargs=TINY_NB201, **FAST)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert isinstance(m, LatencyMeasurement)
    assert math.isfinite(m.median_ms) and m.median_ms > 0
    assert 0 < m.min_ms <= m.median_ms and m.iqr_ms >= 0
    assert (m.backend, m.threads, m.clock, m.repeats, m.input_size) == ("torch", 1, "cpu", 3, (3, 32, 32))
    assert m.wall_s > 0 and m.torch_version == torch.__version__
    assert LatencyMeasurement.from_dict(json.loads(json.dumps(m.to_dict()))) == m


def test_text_arch_and_wall_clock() -> None:
    m = measure_latency(
        "nb201", get_space("nb201").format(CELL), module_kwargs=TINY_NB201, clock="wall", threads=2, **FAST
    )
    assert m.clock == "wall" and m.threads == 2 and m.median_ms == m.wall_median_ms


class _Slowed(torch.nn.Module):
    """Runs ``inner`` ``times`` times per call: the core ``times`` x slower, as a busy neighbour makes it."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.times = inner, 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.times - 1):
            self.inner(x)
        return self.inner(x)


def test_pairing_cancels_a_slowdown_both_networks_see() -> None:
    """A paired measurement divides each pass by the reference pass next to it: when the machine runs everything
    3 x slower (a busy neighbour), the paired latency stays where it was while the network's own passes triple."""
    space = get_space("nb201")
    net = _Slowed(space.to_module(CELL, C=8, N=1).eval())
    ref = _Slowed(space.to_module(NB201Arch(("nor_conv_3x3",) * 6), C=8, N=1).eval())
    x = torch.randn(1, 3, 32, 32)
    ref_ms = measure_module(ref, (3, 32, 32), warmup=2, repeats=15).min_ms
    kw = dict(warmup=2, repeats=15, reference=(lambda: ref(x), ref_ms))
    quiet = measure_module(net, (3, 32, 32), **kw)
    net.times = ref.times = 3
    busy = measure_module(net, (3, 32, 32), **kw)
    assert busy.min_ms > 2.2 * quiet.min_ms  # the slowdown is real
    assert busy.ms == pytest.approx(quiet.ms, rel=0.2)  # and paired out
    assert busy.ratio == pytest.approx(quiet.ratio, rel=0.2) and busy.reference_ms == ref_ms
    # unpaired: the fastest of the network's own passes
    assert measure_module(net, (3, 32, 32), warmup=1, repeats=3).ms > 2.2 * quiet.min_ms


def test_reference_network_is_fixed_and_leaves_the_random_state_alone() -> None:
    """The reference network is one seeded draw of the space (median size of nine), the same on every call;
    choosing it does not move torch's global random state."""
    space = get_space("nb201")
    state = torch.get_rng_state()
    a = reference_arch("nb201", {"C": 2, "N": 1})
    assert torch.equal(state, torch.get_rng_state())
    assert a == reference_arch(space, {"C": 2, "N": 1}) and a in space.sample(9, seed=0)
    m = measure_latency("nb201", CELL, module_kwargs=TINY_NB201, **FAST)
    assert m.reference_arch == space.format(reference_arch("nb201", TINY_NB201))
    assert m.ms == pytest.approx(m.ratio * m.reference_ms)
    plain = measure_latency("nb201", CELL, module_kwargs=TINY_NB201, paired=False, **FAST)
    assert plain.ratio is None and plain.ms == plain.min_ms


def test_unpaired_keys_are_those_of_earlier_caches(tmp_path) -> None:
    """Entries written before pairing (keys without ``paired``) still answer unpaired lookups; paired lookups
    measure anew."""
    path = tmp_path / "latency.json"
    kw = dict(module_kwargs=TINY_NB201, **FAST)
    old = LatencyCache(path)
    m = old.measure("nb201", CELL, paired=False, **kw)
    assert "paired" not in json.loads(old.key("nb201", CELL, paired=False, module_kwargs=TINY_NB201))
    cache = LatencyCache(path)
    assert cache.measure("nb201", CELL, paired=False, **kw) == m and cache.misses == 0
    assert cache.measure("nb201", CELL, **kw).ratio is not None and cache.misses == 2


# ---------------------------------------------------------------------- cache
def test_cache_hit_does_not_measure_again_and_round_trips(tmp_path) -> None:
    path = tmp_path / "latency.json"
    cache = LatencyCache(path)
    kw = dict(module_kwargs=TINY_NB201, warmup=3, repeats=20)
    first = cache.measure("nb201", CELL, **kw)
    # two entries: the network and, for its setting, the reference network's latency that scales paired measurements
    assert (cache.hits, cache.misses, len(cache)) == (0, 2, 2)
    assert first.reference_ms == cache.reference_ms("nb201", **kw) and cache.hits == 1
    t0 = time.perf_counter()
    second = cache.measure("nb201", get_space("nb201").format(CELL), **kw)  # the text form: same key
    lookup_s = time.perf_counter() - t0
    assert second == first
    assert (cache.hits, cache.misses) == (2, 2)
    assert lookup_s < first.wall_s / 5  # no network built, nothing timed
    # another setting is another entry
    cache.measure("nb201", CELL, input_size=(3, 16, 16), **kw)
    assert cache.misses == 4 and len(cache) == 4
    # a fresh cache on the same file answers without measuring
    again = LatencyCache(path)
    assert again.measure("nb201", CELL, **kw) == first
    assert (again.hits, again.misses, len(again)) == (1, 0, 4)
    obj = json.loads(path.read_text())
    assert obj["format"] == "nag-latency-cache" and len(obj["entries"]) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["latency.json"]  # atomic write: no temp file left


def test_cache_merges_other_writers_and_rejects_damaged_files(tmp_path) -> None:
    path = tmp_path / "latency.json"
    a, b = LatencyCache(path), LatencyCache(path)
    a.measure("nb201", CELL, module_kwargs=TINY_NB201, **FAST)
    b.measure("nb201", CELL, module_kwargs={"C": 4, "N": 2}, **FAST)  # b did not see a's entry in memory
    assert len(LatencyCache(path)) == 4  # two networks, two reference latencies
    path.write_text("{not json")
    with pytest.raises(NagRuntimeError, match="latency cache") as err:
        LatencyCache(path)
    assert "\n" not in str(err.value)
    path.write_text(json.dumps({"something": "else"}))
    with pytest.raises(NagRuntimeError, match="not a nag-latency-cache file"):
        LatencyCache(path)


def test_failed_write_leaves_the_file_intact(tmp_path, monkeypatch) -> None:
    path = tmp_path / "latency.json"
    cache = LatencyCache(path)
    cache.measure("nb201", CELL, module_kwargs=TINY_NB201, **FAST)
    before = path.read_text()

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr("nag.io.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        cache.measure("nb201", CELL, module_kwargs={"C": 4, "N": 2}, **FAST)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["latency.json"]


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"backend": "tensorrt"}, InvalidChoiceError, ["backend", "'tensorrt'", "torch, onnxruntime"]),
        ({"threads": 0}, NagInputError, ["threads", "0", ">= 1"]),
        ({"repeats": 0}, NagInputError, ["repeats", ">= 1"]),
        ({"clock": "sundial"}, InvalidChoiceError, ["clock", "auto, cpu, wall"]),
        ({"input_size": (3, 32)}, NagInputError, ["input_size", "(C, H, W)"]),
        ({"module_kwargs": {"num_classes": 3}}, NagInputError, ["module_kwargs", "num_classes"]),
        ({"num_classes": 0}, NagInputError, ["num_classes", ">= 1"]),
    ],
)
def test_bad_input_one_line_errors(kwargs, error, words) -> None:
    with pytest.raises(error) as err:
        measure_latency("nb201", CELL, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_space_without_a_network_is_refused() -> None:
    with pytest.raises(NagInputError) as err:
        measure_latency("nasbench_graph", get_space("nasbench_graph").sample(1, seed=0)[0])
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("space: 'nasbench_graph'")
    assert all(n in msg for n in ("nb201", "nb101", "mbv3"))
    with pytest.raises(InvalidChoiceError, match="accepted: nb201, mbv3"):
        local_latency_model("nb101")


# ---------------------------------------------------------------------- MobileNetV3 block table
def test_block_table_orders_networks_and_sums_close_to_the_network(table: MBV3LatencyTable) -> None:
    big, small = _mbv3(7, 6, MAX_DEPTH), _mbv3(3, 3, 2)
    raw = table.raw_sum([big, small])
    assert raw[0] > raw[1] > table.fixed_ms > 0
    # measured whole networks: the block sum leaves out only the glue between modules. Stated factor: within
    # 2x either way (observed 0.8-1.3x on a 2-core shared machine at 32-128 px)
    # the faster of two medians: a burst of load on the shared host slows one measurement, not both; the host's
    # speed also drifts (2x once in a full run), so a second attempt re-measures the table next to the networks
    for attempt in range(2):
        if attempt:
            raw = MBV3LatencyTable.measure(input_size=MBV3_PX, warmup=2, repeats=5, rounds=1).raw_sum(
                [big, small]
            )
        measured = np.array(
            [min(measure_latency("mbv3", a, input_size=MBV3_PX, repeats=10).median_ms for _ in range(2))
             for a in (big, small)]
        )  # fmt: skip
        ratio = measured / raw
        if measured[0] > measured[1] and np.all((ratio > 0.5) & (ratio < 2.0)):
            break
    assert measured[0] > measured[1]
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio


def test_block_table_is_linear_in_the_graph_and_fits(table: MBV3LatencyTable) -> None:
    space = get_space("mbv3")
    archs = space.sample(6, seed=3)
    assert np.allclose(table.predict(archs), table.raw_sum(archs))
    measured = {space.format(a): 1.5 * r + 0.2 for a, r in zip(archs, table.raw_sum(archs), strict=True)}
    table.fit(measured)
    assert table.b == pytest.approx(1.5) and table.a == pytest.approx(0.2, abs=1e-9)
    X = space.encode(archs).X.double().requires_grad_(True)
    soft = torch.softmax(4 * X, dim=-1)
    table(soft).sum().backward()
    assert X.grad is not None and torch.isfinite(X.grad).all() and X.grad.abs().sum() > 0
    assert MBV3LatencyTable.from_dict(json.loads(json.dumps(table.to_dict()))).predict(
        archs
    ) == pytest.approx(table.predict(archs))


def test_block_table_uses_the_cache() -> None:
    cache = LatencyCache()
    kw = dict(input_size=(3, 16, 16), warmup=1, repeats=2, rounds=1, cache=cache)
    t1 = MBV3LatencyTable.measure(**kw)
    assert cache.misses == 92 and cache.hits == 0
    t2 = MBV3LatencyTable.measure(**kw)
    assert cache.hits == 92 and np.array_equal(t1.table, t2.table)


# ---------------------------------------------------------------------- NB201 meta-learned prior
def test_nb201_prior_adapts_to_local_measurements() -> None:
    from predictors.latency import LatencyTask, MetaLatencyPrior

    prior = MetaLatencyPrior.fit(
        [LatencyTask(f"latency_{d}") for d in ("edgegpu", "raspi4", "pixel3")], order=1
    )
    model = NB201LocalLatency(prior=prior)
    space = get_space("nb201")
    with pytest.raises(NagRuntimeError, match="not fitted"):
        model.predict([CELL])
    archs = model.reference_archs(4)
    assert len({space.format(a) for a in archs}) == 4
    measured = {
        space.format(a): measure_latency(space, a, module_kwargs=TINY_NB201, **FAST).median_ms for a in archs
    }
    model.fit(measured)
    pred = model.predict(space.sample(5, seed=0))
    assert pred.shape == (5,) and np.all(np.isfinite(pred))
    X = space.encode([CELL]).X.double().requires_grad_(True)
    model(X).sum().backward()
    assert X.grad is not None and torch.isfinite(X.grad).all()


# ---------------------------------------------------------------------- ONNX Runtime
@pytest.mark.parametrize(("name", "arch", "size", "kwargs"), [
    ("nb201", CELL, (3, 32, 32), TINY_NB201),
    ("mbv3", None, MBV3_PX, {}),
])  # fmt: skip
def test_onnxruntime_matches_torch(name, arch, size, kwargs) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'nag[onnx]')")
    space = get_space(name)
    arch = arch if arch is not None else space.sample(1, seed=1)[0]
    torch.manual_seed(0)
    net = space.to_module(arch, num_classes=10, **kwargs).eval()
    x = torch.randn(1, *size)
    with torch.inference_mode():
        want = net(x).numpy()
    got = onnxruntime_session(net, size, threads=1).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    m = measure_latency(space, arch, backend="onnxruntime", input_size=size, module_kwargs=kwargs, **FAST)
    assert m.backend == "onnxruntime" and m.median_ms > 0 and m.onnxruntime_version


def test_isolated_measurer_measures_in_its_own_process(tmp_path):
    """`IsolatedMeasurer`: the measurement happens in a spawned process (one per measurer, reused), comes back as
    the same record `measure_latency` makes, and goes through the cache like any other."""
    import pickle

    from predictors.measure import IsolatedMeasurer

    kw = dict(input_size=(3, 16, 16), module_kwargs=TINY_NB201, **FAST)
    with IsolatedMeasurer() as iso:
        m1 = iso.measure("nb201", CELL, **kw)
        pid = iso.pid
        m2 = iso.measure("nb201", CELL, **kw)
        assert iso.pid == pid  # one worker for the whole run
        assert pickle.loads(pickle.dumps(iso)).pid is None  # a copy starts its own
        with pytest.raises(NagRuntimeError, match="latency measurement: .*backend"):
            iso.measure("nb201", CELL, **{**kw, "backend": "tvm"})
        cache = LatencyCache(tmp_path / "c.json")
        m3 = cache.measure("nb201", CELL, measurer=iso, **kw)
        assert cache.misses == 2 and cache.measure("nb201", CELL, measurer=iso, **kw) == m3
        ref = iso.measure_reference("nb201", **kw)
        assert (
            ref.reference_arch == m3.reference_arch
            and ref.min_ms > 0
            and m3.reference_ms == cache.reference_ms("nb201", **kw)
        )
    assert pid != __import__("os").getpid()
    for m in (m1, m2, m3):
        assert isinstance(m, LatencyMeasurement) and m.median_ms > 0 and m.repeats == FAST["repeats"]
    assert iso.pid is None
