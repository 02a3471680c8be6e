"""One shared forward pass for the gradient metrics (same values as one by one), and epsinas as its reference."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from nag.errors import InvalidChoiceError
from nag.spaces.nb201 import NB201Space
from predictors.zero_cost import compute
from predictors.zero_cost.data import fashion_mnist_batch
from predictors.zero_cost.metrics import SHARED_GRADIENT_METRICS, gradient_metrics
from predictors.zero_cost.runner import ZCConfig, compute_arch
from tests.conftest import IMAGES, requires_images, skip_unless_data

torch.set_num_threads(1)

ARCHS = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|",
)


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


@pytest.fixture(scope="module")
def batch():
    skip_unless_data(*IMAGES)
    return fashion_mnist_batch(8, seed=0)


def _small(space, arch, seed=0):
    torch.manual_seed(seed)
    return space.to_module(space.parse(arch), C=8, N=1)


@pytest.mark.parametrize("arch", ARCHS)
def test_shared_pass_equals_separate_metrics(space, batch, arch):
    net = _small(space, arch)
    before = copy.deepcopy(net.state_dict())
    shared = gradient_metrics(net, batch)
    assert list(shared) == list(SHARED_GRADIENT_METRICS)
    for name, value in shared.items():
        alone = compute(name, net, batch)
        assert value == pytest.approx(alone, rel=1e-6, abs=1e-12), name
    for k, v in net.state_dict().items():  # the caller's network is untouched
        assert torch.equal(v, before[k]), k


def test_shared_pass_subset_and_bad_names(space, batch):
    net = _small(space, ARCHS[0])
    sub = gradient_metrics(net, batch, ("fisher", "snip"))
    assert list(sub) == ["fisher", "snip"]
    assert sub["snip"] == pytest.approx(compute("snip", net, batch), rel=1e-6)
    assert gradient_metrics(net, batch, ("jacob_cov",))["jacob_cov"] == pytest.approx(
        compute("jacob_cov", net, batch), rel=1e-6
    )
    with pytest.raises(InvalidChoiceError, match="names"):
        gradient_metrics(net, batch, ("synflow",))


@requires_images
def test_runner_shares_the_pass_and_keeps_values(space):
    cfg = ZCConfig(batch_size=8, C=8, N=1)
    recs = compute_arch(ARCHS[0], ["grad_norm", "snip", "synflow", "fisher"], cfg)
    assert [r["metric"] for r in recs] == ["grad_norm", "snip", "synflow", "fisher"]
    torch.manual_seed(cfg.seed)
    net = space.to_module(space.parse(ARCHS[0]), C=8, N=1)
    for r in recs:
        assert r["value"] == pytest.approx(compute(r["metric"], net, cfg.batch()), rel=1e-6), r["metric"]
    shared_times = {r["time_s"] for r in recs if r["metric"] != "synflow"}
    assert len(shared_times) == 1  # one pass, its time split evenly


def _epsinas_reference(net: torch.nn.Module, x: torch.Tensor, weights=(1e-7, 1.0)) -> float:
    """The reference ``compute_epsinas`` (numpy), on a network returning pooled features first."""
    preds = []
    for w in weights:
        clone = copy.deepcopy(net)

        def init(m, w=w):
            if getattr(m, "bias", None) is not None:
                torch.nn.init.constant_(m.bias, 0)
            if hasattr(m, "weight") and not (hasattr(m, "affine") and not m.affine):
                torch.nn.init.constant_(m.weight, w)

        clone.apply(init)
        with torch.no_grad():
            pred = clone.forward_features(x).numpy().flatten()
        preds.append((pred - np.nanmin(pred)) / (np.nanmax(pred) - np.nanmin(pred)))
    p = np.array(preds)
    p[np.where(p == 0.0)] = np.nan
    return float(np.nanmean(np.abs(p[0] - p[1])) / np.nanmean(p))


@pytest.mark.parametrize("weights", [(1e-7, 1.0), (1e-3, 1.0)])
def test_epsinas_matches_the_reference_formula(space, batch, weights):
    for arch in ARCHS:
        net = _small(space, arch)
        ours = compute("epsinas", net, batch, weights=weights)
        ref = _epsinas_reference(net, batch[0], weights)
        if math.isnan(ref):
            assert math.isnan(ours)
        else:
            assert ours == pytest.approx(ref, rel=1e-5), arch
