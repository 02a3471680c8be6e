"""Training-free metrics on real NB201 networks and real Fashion-MNIST batches; the batch runner's cache."""

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from nag.benchmarks.nb201 import NB201Benchmark, reduce_unreachable
from nag.errors import InvalidChoiceError
from nag.spaces.nb201 import NB201Arch, NB201Space
from predictors.zero_cost import METRICS, compute, list_metrics, register
from predictors.zero_cost.data import fashion_mnist_batch, gaussian_batch, read_idx
from predictors.zero_cost.runner import ZCConfig, load_cache, run_metrics
from tests.conftest import IMAGES, requires_images, skip_unless_data

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
EXPECTED = {
    "params",
    "flops",
    "grad_norm",
    "snip",
    "grasp",
    "fisher",
    "synflow",
    "jacob_cov",
    "naswot",
    "zen",
    "epsinas",
    "swap",
    "swap_reg",
}


@pytest.fixture(scope="module")
def space():
    return NB201Space()


@pytest.fixture(scope="module")
def batch():
    skip_unless_data(*IMAGES)
    return fashion_mnist_batch(16, seed=0)


def _net(space, arch, seed=0):
    torch.manual_seed(seed)
    return space.to_module(space.parse(arch) if isinstance(arch, str) else arch)


def test_registry_lists_every_metric():
    assert EXPECTED <= set(list_metrics())


def test_unknown_metric_names_the_accepted_ones(space, batch):
    with pytest.raises(InvalidChoiceError, match="metric: unknown value 'synfloww'; accepted: .*synflow"):
        compute("synfloww", _net(space, BEST_C10), batch)


def test_register_refuses_a_second_function_under_a_name():
    with pytest.raises(ValueError, match="already registered"):
        register("synflow")(lambda net, batch: 0.0)
    assert METRICS["synflow"].__name__ == "synflow"


@requires_images
def test_fashion_mnist_batch_shape_labels_and_seed():
    x, y = fashion_mnist_batch(16, seed=3)
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32
    assert y.shape == (16,) and y.dtype == torch.int64 and 0 <= int(y.min()) and int(y.max()) <= 9
    assert torch.equal(x[:, 0], x[:, 2])  # grey replicated to 3 channels
    assert abs(float(x.mean())) < 1.0  # normalised
    x2, y2 = fashion_mnist_batch(16, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, fashion_mnist_batch(16, seed=4)[0])
    assert fashion_mnist_batch(4, seed=0, size=16)[0].shape == (4, 3, 16, 16)


def test_read_idx_rejects_bad_magic():
    with pytest.raises(ValueError, match="magic"):
        read_idx(b"\x01\x00\x08\x01")


def test_gaussian_batch_is_seeded():
    a, b = gaussian_batch(4, seed=1), gaussian_batch(4, seed=1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_every_metric_is_finite_deterministic_and_leaves_the_net_alone(space, batch):
    net = _net(space, BEST_C10)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    first = {m: compute(m, net, batch) for m in list_metrics()}
    second = {m: compute(m, _net(space, BEST_C10), batch) for m in list_metrics()}
    for m, v in first.items():
        assert isinstance(v, float) and math.isfinite(v), (m, v)
        assert v == pytest.approx(second[m], rel=1e-9, abs=1e-12), m
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())


def test_params_is_the_parameter_count(space):
    for arch in space.sample(3, seed=0):
        net = space.to_module(arch)
        assert compute("params", net, None) == sum(p.numel() for p in net.parameters()) / 1e6


def test_params_and_synflow_agree_with_the_benchmark_tables(space):
    """Our synflow (float64, |θ|, BN bypassed, all-ones input) matches NAS-Bench-Suite-Zero's (stored as a log)."""
    bench = NB201Benchmark()
    archs = space.sample(30, seed=7)
    shape = (torch.zeros(1, 3, 32, 32), torch.zeros(1, dtype=torch.int64))
    ours = np.array([compute("synflow", _net(space, a), shape) for a in archs])
    zc = np.array([bench.query(a, "cifar10", "zc_synflow") for a in archs])
    ok = np.isfinite(zc) & (ours > 0)
    assert ok.sum() >= 25
    assert spearmanr(np.log(ours[ok]), zc[ok]).statistic >= 0.98
    # NAS-Bench-Suite-Zero stores ln(synflow): equal values, not only equal ranks (1% on the log scale)
    np.testing.assert_allclose(np.log(ours[ok]), zc[ok], rtol=0.02)
    params = np.array([compute("params", space.to_module(a), None) for a in archs])
    np.testing.assert_allclose(params, [bench.query(a, "cifar10", "params_mb") for a in archs], rtol=1e-6)
    red = np.array([compute("params", space.to_module(reduce_unreachable(a)), None) for a in archs])
    np.testing.assert_allclose(red, [bench.query(a, "cifar10", "zc_params") for a in archs], rtol=1e-6)


def test_flops_ordering_and_scale(space):
    conv = compute("flops", space.to_module(NB201Arch(("nor_conv_3x3",) * 6)), None)
    skip = compute("flops", space.to_module(NB201Arch(("skip_connect",) * 6)), None)
    assert conv > skip > 0
    # the all-skip network's FLOPs are its fixed skeleton's convolutions; each 3x3 conv edge adds 2 * 9 * C^2 * H * W
    per_cell = 6 * 2 * 9 * (16**2 * 32**2 + 32**2 * 16**2 + 64**2 * 8**2) * 5 / 1e6
    assert conv - skip == pytest.approx(per_cell, rel=1e-6)


def test_jacob_cov_is_nan_when_the_input_never_reaches_the_output(space, batch):
    assert math.isnan(compute("jacob_cov", _net(space, NB201Arch(("none",) * 6)), batch))


@requires_images
def test_runner_caches_resumes_and_completes_a_torn_file(tmp_path, space):
    archs = [a.arch_str for a in space.sample(4, seed=11)]
    metrics = ["params", "synflow", "naswot"]
    cfg = ZCConfig(batch_size=8, C=4, N=1)
    cache = tmp_path / "zc.jsonl"
    first = run_metrics(archs[:2], metrics, cache=cache, config=cfg, progress=False)
    assert (first.computed, first.reused) == (6, 0)
    again = run_metrics(archs[:2], metrics, cache=cache, config=cfg, progress=False)
    assert (again.computed, again.reused) == (0, 6)
    pd_equal = again.table.equals(first.table)
    assert pd_equal
    # a run killed mid-write: drop the last record and tear the one before it
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][:10])
    full = run_metrics(archs, metrics, cache=cache, config=cfg, progress=False)
    assert full.reused == 4 and full.computed == 2 * 3 + 2
    assert len(load_cache(cache)) == 12
    for line in cache.read_text().splitlines()[-8:]:
        json.loads(line)
    assert full.table.loc[archs[:2]].equals(first.table)
    # another configuration does not reuse these values
    other = run_metrics(
        archs[:1], ["params"], cache=cache, config=ZCConfig(batch_size=8, C=4, N=2), progress=False
    )
    assert other.computed == 1


def test_runner_rejects_unknown_metrics_before_work(tmp_path):
    with pytest.raises(InvalidChoiceError):
        run_metrics([BEST_C10], ["nope"], cache=tmp_path / "c.jsonl", progress=False)
    assert not (tmp_path / "c.jsonl").exists()


@requires_images
def test_runner_in_worker_processes_matches_serial(tmp_path, space):
    archs = [a.arch_str for a in space.sample(3, seed=5)]
    cfg = ZCConfig(batch_size=8, C=4, N=1)
    serial = run_metrics(archs, ["synflow", "naswot"], config=cfg, progress=False)
    par = run_metrics(
        archs, ["synflow", "naswot"], cache=tmp_path / "p.jsonl", config=cfg, workers=2, progress=False
    )
    assert par.computed == 6
    np.testing.assert_allclose(par.table.to_numpy(), serial.table.to_numpy(), rtol=1e-9)
