"""The training-free metrics, one function each, registered by name in `predictors.zero_cost.METRICS`.

Conventions shared by every metric (see the package docstring):

* signature ``fn(net, batch, **options) -> float``; ``batch = (x, y)``, ``x``: ``B x 3 x H x W``, ``y``: ``B``;
* the input of each metric is stated in its docstring: **real batch** (``x`` and, for loss-based metrics, ``y``),
  **shape only** (the batch fixes ``H x W``; the input itself is all-ones or seeded noise), or **none**;
* ``net`` is never modified: metrics that run forward/backward passes work on ``copy.deepcopy(net)`` (BatchNorm
  running statistics, gradients and, for synflow / Zen / epsinas, the weights themselves would change otherwise);
* everything runs on the device of ``net`` (no hard-coded device); randomness comes only from explicit seeds;
* "weight layers" are ``Conv2d`` and ``Linear`` modules, as in the reference implementations (Abdelfattah et al.,
  "Zero-Cost Proxies for Lightweight NAS", ICLR 2021; NASLib);
* gradient metrics run the network in training mode (batch statistics in BatchNorm), as the references do.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nag.errors import InvalidChoiceError
from predictors.zero_cost import register

__all__ = [
    "SHARED_GRADIENT_METRICS",
    "gradient_metrics",
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
]

#: Published Spearman ρ of each metric with NB201 CIFAR-10 test accuracy (Abdelfattah et al. 2021 for the first
#: six; NASWOT, Mellor et al. 2021; epsinas, Gracheva 2023; SWAP-reg on CIFAR-100, Peng et al. 2024) — the reference
#: column of the agreement benchmarks.
PUBLISHED_SPEARMAN: dict[str, float] = {
    "grad_norm": 0.59,
    "snip": 0.60,
    "grasp": 0.51,
    "fisher": 0.36,
    "synflow": 0.74,
    "jacob_cov": 0.73,
    "naswot": 0.79,
    "epsinas": 0.87,
    "swap_reg": 0.90,
}

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


# ---------------------------------------------------------------------- helpers
def _device_dtype(net: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(net.parameters(), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)


def _inputs(net: nn.Module, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` moved to the net's device (``x`` also to its float dtype)."""
    x, y = batch
    device, dtype = _device_dtype(net)
    return x.to(device=device, dtype=dtype), y.to(device=device)


def _logits(out) -> torch.Tensor:
    """Logits of a forward pass; networks returning ``(features, logits)`` give their last element."""
    return out[-1] if isinstance(out, tuple | list) else out


def _fresh(net: nn.Module, train: bool = True) -> nn.Module:
    """A deep copy of ``net`` in train (or eval) mode with no gradients, so the caller's net stays untouched."""
    clone = copy.deepcopy(net)
    clone.train(train)
    clone.zero_grad(set_to_none=True)
    return clone


def _weight_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def _ce_backward(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    net.zero_grad(set_to_none=True)
    F.cross_entropy(_logits(net(x)), y).backward()


@contextmanager
def _hooks(modules: list[nn.Module], hook, pre: bool = False) -> Iterator[None]:
    handles = [m.register_forward_pre_hook(hook) if pre else m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _num_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


# ---------------------------------------------------------------------- size
@register("params")
def params(net: nn.Module, batch=None) -> float:
    """Trainable parameters, in millions. Input: none."""
    return _num_params(net) / 1e6


@register("flops")
def flops(net: nn.Module, batch=None, size: int | None = None) -> float:
    """Floating-point operations of one forward pass on one image, in MFLOPs (``torch.utils.flop_counter``).

    Counts what ``FlopCounterMode`` counts: convolutions and matrix products, a multiply-add being 2 FLOPs
    (pooling, BatchNorm, ReLU and additions are not counted). Input: shape only — one zero image of the batch's
    ``3 x H x W`` (or ``3 x size x size``; 32 x 32 when neither is given).
    """
    device, dtype = _device_dtype(net)
    if batch is not None and size is None:
        shape = tuple(batch[0].shape[1:])
    else:
        shape = (3, size or 32, size or 32)
    clone = _fresh(net, train=False)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        clone(torch.zeros(1, *shape, device=device, dtype=dtype))
    return counter.get_total_flops() / 1e6


# ---------------------------------------------------------------------- gradient-based (Abdelfattah et al. 2021)
@register("grad_norm")
def grad_norm(net: nn.Module, batch) -> float:
    """Σ over weight layers of ‖∂L/∂W‖₂, L = cross-entropy on the batch. Input: real batch (x, y)."""
    clone = _fresh(net)
    x, y = _inputs(clone, batch)
    _ce_backward(clone, x, y)
    return float(sum(m.weight.grad.norm() for m in _weight_layers(clone) if m.weight.grad is not None))


@register("snip")
def snip(net: nn.Module, batch) -> float:
    """SNIP saliency Σ |W ⊙ ∂L/∂W| over weight layers (Lee et al., ICLR 2019). Input: real batch (x, y)."""
    clone = _fresh(net)
    x, y = _inputs(clone, batch)
    _ce_backward(clone, x, y)
    return float(
        sum(
            (m.weight.detach() * m.weight.grad).abs().sum()
            for m in _weight_layers(clone)
            if m.weight.grad is not None
        )
    )


@register("grasp")
def grasp(net: nn.Module, batch) -> float:
    """GraSP Σ −W ⊙ (H g) over weight layers (Wang et al., ICLR 2020), g = ∂L/∂W, H the Hessian of L.

    The Hessian-gradient product is a double backward: z = Σ g_detached · ∂L/∂W (with graph), H g = ∂z/∂W.
    Input: real batch (x, y).
    """
    clone = _fresh(net)
    x, y = _inputs(clone, batch)
    weights = [m.weight for m in _weight_layers(clone)]
    loss = F.cross_entropy(_logits(clone(x)), y)
    g = [t.detach() for t in torch.autograd.grad(loss, weights, allow_unused=True, materialize_grads=True)]
    loss = F.cross_entropy(_logits(clone(x)), y)
    grad_f = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True, materialize_grads=True)
    z = sum((gf * gd).sum() for gf, gd in zip(grad_f, g, strict=True))
    hg = torch.autograd.grad(z, weights, allow_unused=True, materialize_grads=True)
    return float(sum((-w.detach() * h).sum() for w, h in zip(weights, hg, strict=True)))


@register("fisher")
def fisher(net: nn.Module, batch) -> float:
    """Fisher information of the weight layers' outputs (Theis et al. 2018; Turner et al., BlockSwap, ICLR 2020).

    For each weight layer with output activation ``a`` (``B x C x H x W`` or ``B x C``) and its gradient ``g``:
    ``½ · mean_b (Σ_hw a·g)²`` summed over channels, then over layers. Input: real batch (x, y).
    """
    clone = _fresh(net)
    x, y = _inputs(clone, batch)
    acts: list[torch.Tensor] = []

    def keep(_m, _inp, out):
        if out.requires_grad:
            out.retain_grad()
            acts.append(out)

    with _hooks(_weight_layers(clone), keep):
        _ce_backward(clone, x, y)
    total = 0.0
    for a in acts:
        if a.grad is None:
            continue
        ag = a.detach() * a.grad
        if ag.dim() == 4:
            ag = ag.sum(dim=(2, 3))
        total += float(0.5 * ag.pow(2).mean(0).sum())
    return total


# ---------------------------------------------------------------------- one shared pass
#: Metrics `gradient_metrics` computes from one shared forward pass (all run on the same train-mode copy).
SHARED_GRADIENT_METRICS: tuple[str, ...] = ("grad_norm", "snip", "grasp", "fisher", "jacob_cov")


def gradient_metrics(
    net: nn.Module, batch, names: tuple[str, ...] = SHARED_GRADIENT_METRICS, k: float = 1e-5
) -> dict[str, float]:
    """grad_norm, snip, grasp, fisher and jacob_cov from one forward pass on one copy of ``net``.

    Each of these metrics, computed alone, runs the same train-mode network on the same batch; BatchNorm uses batch
    statistics, so every such forward pass gives the same graph. Here one forward pass (input with
    ``requires_grad``) serves them all: ``∂L/∂W`` and ``∂L/∂a`` (weight-layer outputs ``a``) come from one backward
    of the cross-entropy ``L`` (built with ``create_graph`` only when grasp is asked, whose Hessian-gradient product
    differentiates it again), and jacob_cov's input Jacobian from a backward of Σ logits on the same graph. The
    values equal the separate functions' up to floating-point summation order (the tests check 1e-5 relative).

    Args:
        net: the untrained network (left untouched: the work happens on one deep copy).
        batch: ``(x, y)``, ``x``: ``B x 3 x H x W``, ``y``: ``B``.
        names: a subset of `SHARED_GRADIENT_METRICS`.
        k: jacob_cov's eigenvalue offset.

    Returns:
        ``{name: value}`` for ``names``.
    """
    bad = [n for n in names if n not in SHARED_GRADIENT_METRICS]
    if bad:
        raise InvalidChoiceError("names", bad, SHARED_GRADIENT_METRICS)
    clone = _fresh(net)
    x, y = _inputs(clone, batch)
    layers = _weight_layers(clone)
    weights = [m.weight for m in layers]
    need_x = "jacob_cov" in names
    need_acts = "fisher" in names
    need_w = bool({"grad_norm", "snip", "grasp"} & set(names))
    if need_x:
        x = x.clone().requires_grad_(True)
    acts: list[torch.Tensor] = []

    def keep(_m, _inp, out):
        if out.requires_grad:
            acts.append(out)

    with _hooks(layers, keep) if need_acts else nullcontext():
        out = _logits(clone(x))
    out_: dict[str, float] = {}
    if need_w or need_acts:
        loss = F.cross_entropy(out, y)
        targets = (weights if need_w else []) + acts
        grads = torch.autograd.grad(
            loss,
            targets,
            retain_graph=True,
            create_graph="grasp" in names,
            allow_unused=True,
            materialize_grads=True,
        )
        gw, ga = grads[: len(weights) if need_w else 0], grads[len(weights) if need_w else 0 :]
        if "grad_norm" in names:
            out_["grad_norm"] = float(sum(g.detach().norm() for g in gw))
        if "snip" in names:
            out_["snip"] = float(
                sum((w.detach() * g.detach()).abs().sum() for w, g in zip(weights, gw, strict=True))
            )
        if "fisher" in names:
            total = 0.0
            for a, g in zip(acts, ga, strict=True):
                ag = a.detach() * g.detach()
                if ag.dim() == 4:
                    ag = ag.sum(dim=(2, 3))
                total += float(0.5 * ag.pow(2).mean(0).sum())
            out_["fisher"] = total
        if "grasp" in names:
            z = sum((g * g.detach()).sum() for g in gw)
            hg = torch.autograd.grad(
                z, weights, retain_graph=need_x, allow_unused=True, materialize_grads=True
            )
            out_["grasp"] = float(sum((-w.detach() * h).sum() for w, h in zip(weights, hg, strict=True)))
    if need_x:
        (jac,) = torch.autograd.grad(out.sum(), x)
        out_["jacob_cov"] = _jacob_cov_score(jac, k)
    return {n: out_[n] for n in names}


# ---------------------------------------------------------------------- synflow
@register("synflow")
def synflow(net: nn.Module, batch=None) -> float:
    """SynFlow Σ |θ ⊙ ∂R/∂θ| over weight layers, R = Σ f(𝟙; |θ|) (Tanaka et al., NeurIPS 2020).

    As the zero-cost reference computes it: a copy of the network in float64 with BatchNorm bypassed (replaced by
    identity), every parameter replaced by its absolute value, eval mode, one all-ones input; the caller's
    weights are untouched (the copy is discarded, so nothing needs restoring). Input: shape only (``3 x H x W`` of
    the batch, 32 x 32 when none is given).
    """
    device, _ = _device_dtype(net)
    shape = tuple(batch[0].shape[1:]) if batch is not None else (3, 32, 32)
    clone = _fresh(net, train=False)
    _bypass_bn(clone)
    clone.double()
    with torch.no_grad():
        for p in clone.parameters():
            p.abs_()
    out = _logits(clone(torch.ones(1, *shape, device=device, dtype=torch.float64)))
    out.sum().backward()
    return float(
        sum(
            (m.weight.detach() * m.weight.grad).abs().sum()
            for m in _weight_layers(clone)
            if m.weight.grad is not None
        )
    )


def _bypass_bn(net: nn.Module) -> None:
    for name, child in net.named_children():
        if isinstance(child, _BN):
            setattr(net, name, nn.Identity())
        else:
            _bypass_bn(child)


# ---------------------------------------------------------------------- Mellor et al.
@register("jacob_cov")
def jacob_cov(net: nn.Module, batch, k: float = 1e-5) -> float:
    """Jacobian covariance (Mellor et al., "Neural Architecture Search without Training", v1, 2021).

    ``J``: ``B x (3HW)`` input Jacobians of Σ_k logits; ``Σ`` = their correlation matrix (``B x B``, float64) with
    eigenvalues ``λ`` (``torch.linalg.eigvalsh``, Σ is symmetric); score = −Σ_i [log(λ_i + k) + 1/(λ_i + k)].

    NaN policy: if a Jacobian row is constant (the input does not reach the output, e.g. a cell of only ``none``
    paths) the correlation is undefined and the metric returns NaN; rank such networks last. Input: real batch (x).
    """
    clone = _fresh(net)
    x, _ = _inputs(clone, batch)
    x = x.clone().requires_grad_(True)
    out = _logits(clone(x))
    (jac,) = torch.autograd.grad(out.sum(), x)
    return _jacob_cov_score(jac, k)


def _jacob_cov_score(jac: torch.Tensor, k: float) -> float:
    """jacob_cov from input Jacobians ``B x 3 x H x W`` (NaN when their correlation is undefined)."""
    jac = jac.reshape(jac.shape[0], -1).double()
    corr = torch.corrcoef(jac)
    if not bool(torch.isfinite(corr).all()):
        return math.nan
    v = torch.linalg.eigvalsh(corr)
    return float(-(torch.log(v + k) + 1.0 / (v + k)).sum())


@register("naswot")
def naswot(net: nn.Module, batch) -> float:
    """NASWOT (Mellor et al., ICML 2021, v2): log|K_H| of the Hamming-similarity kernel of ReLU binary codes.

    Each sample's code ``c`` is the concatenation of ``1[z > 0]`` over the inputs ``z`` of every ``nn.ReLU``;
    ``K = C Cᵀ + (1−C)(1−C)ᵀ`` (``B x B``, the number of units where two samples agree); score = log|det K| from
    ``torch.linalg.slogdet`` (−inf when K is singular). Input: real batch (x).
    """
    clone = _fresh(net)
    x, _ = _inputs(clone, batch)
    kernel = torch.zeros(x.shape[0], x.shape[0], dtype=torch.float64, device=x.device)

    def code(_m, inp):  # a pre-hook: in-place ReLUs would overwrite their input before a forward hook sees it
        c = (inp[0].detach().flatten(1) > 0).double()
        kernel.add_(c @ c.T + (1.0 - c) @ (1.0 - c).T)

    relus = [m for m in clone.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad(), _hooks(relus, code, pre=True):
        clone(x)
    return float(torch.linalg.slogdet(kernel).logabsdet)


# ---------------------------------------------------------------------- Zen-NAS
@register("zen")
def zen(net: nn.Module, batch, seed: int = 0, mixup_gamma: float = 1e-2, repeat: int = 1) -> float:
    """Zen-score (Lin et al., ICCV 2021): log E‖f(x) − f(x + γε)‖₁ + Σ_BN log √mean(σ²_BN).

    ``f`` = pre-global-pooling feature map (``B x C x H x W``: the input of the last ``AdaptiveAvgPool2d``; the
    network's output when it has none). On a copy whose conv/linear weights are redrawn from N(0, 1) (BN weight 1,
    bias 0), in training mode; the BN variance correction uses each BN layer's batch variance (running statistics
    reset, momentum 1, so ``running_var`` is the variance of the last forward). Input: shape only — ``x`` and ``ε``
    are seeded N(0, 1) noise of the batch's shape (data-free metric).
    """
    device, dtype = _device_dtype(net)
    shape = tuple(batch[0].shape)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    scores = []
    for _ in range(repeat):
        clone = _fresh(net)
        with torch.no_grad():
            for m in clone.modules():
                if isinstance(m, nn.Conv2d | nn.Linear):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen))
                    if m.bias is not None:
                        m.bias.zero_()
                elif isinstance(m, _BN):
                    m.reset_running_stats()
                    m.momentum = 1.0
                    if m.affine:
                        m.weight.fill_(1.0)
                        m.bias.zero_()
            x = torch.randn(shape, generator=gen).to(device=device, dtype=dtype)
            eps = torch.randn(shape, generator=gen).to(device=device, dtype=dtype)
            delta = (_pre_gap(clone, x) - _pre_gap(clone, x + mixup_gamma * eps)).abs()
            score = torch.log(delta.flatten(1).sum(1).mean())
            for m in clone.modules():
                if isinstance(m, _BN) and m.running_var is not None:
                    score = score + torch.log(torch.sqrt(m.running_var.mean()))
        scores.append(float(score))
    return sum(scores) / len(scores)


def _pre_gap(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Input of the last global pooling layer (``B x C x H x W``), or the output if there is none."""
    pools = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    if not pools:
        return _logits(net(x))
    seen: list[torch.Tensor] = []
    with _hooks(pools[-1:], lambda _m, inp: seen.append(inp[0]), pre=True):
        out = net(x)
    return seen[-1] if seen else _logits(out)


# ---------------------------------------------------------------------- epsinas
@register("epsinas")
def epsinas(net: nn.Module, batch, weights: tuple[float, float] = (1e-7, 1.0), double: bool = False) -> float:
    """Epsinas (Gracheva, "Neural Architecture Search: Two Constant Shared Weights Initialisations", 2023).

    As the reference code computes it (``compute_epsinas`` in the epsinas repository): on a copy in training mode,
    **every** module with a ``weight`` — convolutions, linear layers and affine BatchNorm layers alike — gets that
    weight filled with one shared constant ``w`` and its bias set to 0, for each ``w`` in ``weights`` (the paper's
    NAS-Bench-201 pair ``1e-7, 1``). The output used is what the reference NB201 network (``TinyNetwork``, which
    returns ``(pooled features, logits)``) gives first: the pooled features ``B x C`` (the logits when the network
    has no global pooling). Each output, flattened, is min-max normalised; entries equal to 0 (the minimum and the
    ReLU zeros) are dropped, and score = nanmean |Ŷ₁ − Ŷ₂| / nanmean(Ŷ₁, Ŷ₂). Float32 as the reference (with
    ``double=True``, float64: a different metric, since float32 underflow is part of what the reference computes).
    NaN when an output is constant (all zero after float32 underflow of the tiny-``w`` pass, e.g.) or not finite;
    the reference drops such architectures from its statistics. Input: real batch (x; no labels, no gradients).
    """
    x, _ = _inputs(net, batch)
    x = x.double() if double else x
    outs = []
    for w in weights:
        clone = _fresh(net).double() if double else _fresh(net)
        with torch.no_grad():
            for m in clone.modules():
                weight = getattr(m, "weight", None)
                if isinstance(weight, torch.Tensor) and not (isinstance(m, _BN) and not m.affine):
                    weight.fill_(w)
                bias = getattr(m, "bias", None)
                if isinstance(bias, torch.Tensor):
                    bias.zero_()
            out = _pooled(clone, x).double().flatten()
        lo, hi = out.min(), out.max()
        if not bool(torch.isfinite(out).all()) or float(hi - lo) == 0.0:
            return math.nan
        outs.append((out - lo) / (hi - lo))
    pred = torch.stack(outs)
    pred = torch.where(pred == 0.0, torch.full_like(pred, math.nan), pred)
    return float((pred[0] - pred[1]).abs().nanmean() / pred.nanmean())


def _pooled(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Output of the last global pooling layer, flattened (``B x C``), or the logits if there is none."""
    pools = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    if not pools:
        return _logits(net(x))
    seen: list[torch.Tensor] = []
    with _hooks(pools[-1:], lambda _m, _inp, out: seen.append(out)):
        out = net(x)
    return seen[-1].flatten(1) if seen else _logits(out)


# ---------------------------------------------------------------------- SWAP
@register("swap")
def swap(net: nn.Module, batch) -> float:
    """SWAP (Peng et al., "SWAP-NAS: Sample-Wise Activation Patterns", ICLR 2024).

    Every unit after every ``nn.ReLU`` gives a sample-wise pattern: its B-bit vector ``1[a > 0]`` over the
    batch; the score is the number of distinct patterns over all units. Input: real batch (x).
    """
    clone = _fresh(net)
    x, _ = _inputs(clone, batch)
    keys: list[torch.Tensor] = []
    bits = 62  # bits per int64 word, leaving the sign bit alone
    weights = 2 ** torch.arange(bits, dtype=torch.int64, device=x.device)

    def pattern(_m, _inp, out):
        a = (out.detach().flatten(1) > 0).T.to(torch.int64)  # units x B
        words = [
            (a[:, i : i + bits] * weights[: a[:, i : i + bits].shape[1]]).sum(1)
            for i in range(0, a.shape[1], bits)
        ]
        keys.append(torch.stack(words, 1))

    relus = [m for m in clone.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad(), _hooks(relus, pattern):
        clone(x)
    if not keys:
        return 0.0
    return float(torch.unique(torch.cat(keys), dim=0).shape[0])


@register("swap_reg")
def swap_reg(net: nn.Module, batch, mu: float = 1200.0, sigma: float = 4e5) -> float:
    """Regularised SWAP: ``swap · exp(−(P − μ)² / σ)``, ``P`` = parameters in thousands (Peng et al. 2024).

    The paper tunes μ and σ per search space; our defaults (μ = 1,200 k, σ = 4·10⁵ k², a bump around the
    larger NB201 networks) are a stated choice, not the paper's values. Input: real batch (x).
    """
    p_k = _num_params(net) / 1e3
    return swap(net, batch) * math.exp(-((p_k - mu) ** 2) / sigma)
