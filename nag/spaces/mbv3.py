"""The Once-for-All MobileNetV3 search space (Cai et al., "Once-for-All: Train One Network and Specialize it for
Efficient Deployment", ICLR 2020; reference code: mit-han-lab/once-for-all, ``OFAMobileNetV3``).

A network is a fixed MobileNetV3 skeleton (stem, a fixed first block, five searchable stages, head) in which each
of the five stages has a depth ``d`` in {2, 3, 4} and each of its up to four MBConv layers has a depth-wise kernel
size ``k`` in {3, 5, 7} and an expand ratio ``e`` in {3, 4, 6}. Only the first ``d`` layers of a stage run, so a
stage has ``9^2 + 9^3 + 9^4 = 7371`` distinct settings and the space holds ``7371^5 ≈ 2.2e19`` networks (`size`).

Native architecture: `MBV3Arch` with ``ks`` and ``e`` (20 values each, layer slots in stage order, four per stage)
and ``d`` (5 values), the same fields as the dict returned by OFA's ``sample_active_subnet``. OFA fills all 20
``ks``/``e`` slots even where a stage is shallower, so the same network has many OFA dicts; here the values of the
slots beyond a stage's depth are stored as ``0`` (*normalised*), which gives every network exactly one
representation. `MobileNetV3Space.parse` and `MobileNetV3Space.normalise` normalise; `MobileNetV3Space.validate`
rejects a non-normalised arch. Text form: JSON ``{"ks": [...20], "e": [...20], "d": [...5]}``.

`ArchGraph` encoding (``N = 22``, ``V = 12``, fixed topology): node 0 ``input``, nodes ``1..20`` the 20 layer slots
(slot ``4 * s + i`` + 1 is layer ``i`` of stage ``s``), node 21 ``output``, edges ``i -> i + 1`` only. A slot's
operation is ``mb_k{k}_e{e}`` when the layer runs and ``skip`` when it lies beyond its stage's depth. A graph is
valid when every stage reads ``active^d skip^(4-d)`` with ``d`` in {2, 3, 4}.

No benchmark oracle: no MobileNetV3/OFA accuracy or latency table exists offline in this project
(``../shared/data`` has none), so this space has no tabular oracle. Accuracy and latency of its networks must come
from a user's own measurements or real training of `MobileNetV3Space.to_module` networks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from nag.errors import InvalidArchitectureError
from nag.spaces.base import ModuleSpace
from nag.typing import SeedLike, as_rng

__all__ = [
    "MBV3Arch",
    "MobileNetV3Space",
    "OFAMobileNetV3Net",
    "MBConv",
    "make_divisible",
    "KERNEL_SIZES",
    "EXPAND_RATIOS",
    "DEPTHS",
    "NUM_STAGES",
    "MAX_DEPTH",
    "NUM_LAYERS",
]

#: Searchable choices of OFA-MobileNetV3 (``ofa_mbv3_d234_e346_k357_w1.0``).
KERNEL_SIZES: tuple[int, ...] = (3, 5, 7)
EXPAND_RATIOS: tuple[int, ...] = (3, 4, 6)
DEPTHS: tuple[int, ...] = (2, 3, 4)
NUM_STAGES = 5
MAX_DEPTH = 4
NUM_LAYERS = NUM_STAGES * MAX_DEPTH

# Fixed macro-architecture of OFAMobileNetV3 at width 1.0: stem width, first-block width, the five searchable
# stages' output widths, then the final-expand and feature-mix widths.
_STEM_WIDTH = 16
_FIRST_BLOCK_WIDTH = 16
_STAGE_WIDTHS = (24, 40, 80, 112, 160)
_FINAL_EXPAND_WIDTH = 960
_LAST_WIDTH = 1280
_STAGE_STRIDES = (2, 2, 2, 1, 2)
_STAGE_ACTS = ("relu", "relu", "h_swish", "h_swish", "h_swish")
_STAGE_SE = (False, True, False, True, True)
_CHANNEL_DIVISOR = 8
_SE_REDUCTION = 4

_OPS: tuple[str, ...] = ("input", "output", "skip") + tuple(
    f"mb_k{k}_e{e}" for k in KERNEL_SIZES for e in EXPAND_RATIOS
)
_OP_INDEX = {o: i for i, o in enumerate(_OPS)}
_MB_OF_INDEX = {_OP_INDEX[f"mb_k{k}_e{e}"]: (k, e) for k in KERNEL_SIZES for e in EXPAND_RATIOS}
_N = NUM_LAYERS + 2
_CHAIN = np.eye(_N, k=1, dtype=np.float32)


def make_divisible(v: float, divisor: int = _CHANNEL_DIVISOR, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` as OFA (and the TF MobileNet code) does.

    Rounds to the nearest multiple (at least ``min_value``, default ``divisor``) and adds one more ``divisor`` when
    rounding lost more than 10 % of ``v``.
    """
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


@dataclass(frozen=True)
class MBV3Arch:
    """One OFA-MobileNetV3 subnet.

    Args:
        ks: 20 depth-wise kernel sizes, four layer slots per stage in stage order; ``0`` for a slot beyond its
            stage's depth in the normalised form.
        e: 20 expand ratios, same layout as ``ks``.
        d: 5 stage depths, each in {2, 3, 4}.

    Sequences are stored as tuples of ints so the object is hashable. The constructor does not normalise or
    validate; use `MobileNetV3Space.normalise` / `MobileNetV3Space.validate` (``parse`` does both).
    """

    ks: tuple[int, ...]
    e: tuple[int, ...]
    d: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in ("ks", "e", "d"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(type(v) is int for v in value):
                object.__setattr__(self, name, tuple(int(v) for v in value))

    def as_dict(self) -> dict[str, list[int]]:
        """The OFA-style config ``{"ks": [...], "e": [...], "d": [...]}`` (lists, as stored)."""
        return {"ks": list(self.ks), "e": list(self.e), "d": list(self.d)}

    def active_layers(self) -> list[tuple[int, int, int, int]]:
        """``(stage, layer_in_stage, kernel, expand)`` of every layer that runs, in network order."""
        return [
            (s, i, self.ks[s * MAX_DEPTH + i], self.e[s * MAX_DEPTH + i])
            for s in range(NUM_STAGES)
            for i in range(self.d[s])
        ]


def _bad(value: object, reason: str, field: str = "text") -> InvalidArchitectureError:
    return InvalidArchitectureError(field, value, reason)


class MobileNetV3Space(ModuleSpace[MBV3Arch]):
    """OFA MobileNetV3 search space: 5 stages x up to 4 MBConv layers, ``k`` in {3,5,7}, ``e`` in {3,4,6},
    ``d`` in {2,3,4} (Cai et al., ICLR 2020). See the module docstring for the encodings.
    """

    name = "mbv3"
    ops = _OPS
    max_nodes = _N
    fixed_topology = True

    # ------------------------------------------------------------------ size
    @property
    def size(self) -> int:
        """Number of distinct networks: ``(9^2 + 9^3 + 9^4)^5 = 7371^5 ≈ 2.18e19``."""
        per_layer = len(KERNEL_SIZES) * len(EXPAND_RATIOS)
        return sum(per_layer**d for d in DEPTHS) ** NUM_STAGES

    # ------------------------------------------------------------------ normalisation / validity
    def normalise(self, arch: MBV3Arch) -> MBV3Arch:
        """The unique representation of ``arch``: ``ks``/``e`` of slots beyond each stage's depth set to ``0``.

        Args:
            arch: an arch whose ``d`` values are usable as depths (other problems are left to `validate`).
        """
        ks, e = list(arch.ks), list(arch.e)
        for s, depth in enumerate(arch.d[:NUM_STAGES]):
            for i in range(max(depth, 0), MAX_DEPTH):
                j = s * MAX_DEPTH + i
                if j < len(ks):
                    ks[j] = 0
                if j < len(e):
                    e[j] = 0
        return MBV3Arch(ks=tuple(ks), e=tuple(e), d=arch.d)

    def validate(self, arch: MBV3Arch) -> list[str]:
        """Reasons why ``arch`` is not a normalised member of the space (empty when valid)."""
        reasons: list[str] = []
        for name, want in (("ks", NUM_LAYERS), ("e", NUM_LAYERS), ("d", NUM_STAGES)):
            got = len(getattr(arch, name))
            if got != want:
                reasons.append(f"{name} has {got} values, expected {want}")
        if reasons:
            return reasons
        for s, depth in enumerate(arch.d):
            if depth not in DEPTHS:
                reasons.append(f"d[{s}]={depth} not in {list(DEPTHS)}")
                continue
            for i in range(MAX_DEPTH):
                j = s * MAX_DEPTH + i
                if i < depth:
                    if arch.ks[j] not in KERNEL_SIZES:
                        reasons.append(
                            f"ks[{j}]={arch.ks[j]} not in {list(KERNEL_SIZES)} (stage {s} layer {i})"
                        )
                    if arch.e[j] not in EXPAND_RATIOS:
                        reasons.append(
                            f"e[{j}]={arch.e[j]} not in {list(EXPAND_RATIOS)} (stage {s} layer {i})"
                        )
                elif arch.ks[j] != 0 or arch.e[j] != 0:
                    reasons.append(
                        f"slot {j} is beyond stage {s}'s depth {depth} but has ks={arch.ks[j]}, e={arch.e[j]}; "
                        "the normalised form stores 0 there (see MobileNetV3Space.normalise)"
                    )
        return reasons

    # ------------------------------------------------------------------ text
    def parse(self, text: str) -> MBV3Arch:
        """Read JSON ``{"ks": [20 ints], "e": [20 ints], "d": [5 ints]}`` (OFA's subnet config) and normalise it.

        Slots beyond a stage's depth may hold ``0`` or any valid choice (OFA fills them); both normalise to ``0``.

        Raises:
            InvalidArchitectureError: malformed JSON, missing/unknown keys, wrong lengths or values outside the
                choices; the one-line message names the problem.
        """
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, TypeError) as err:
            raise _bad(text, f"not JSON ({err.msg if hasattr(err, 'msg') else err})") from None
        if not isinstance(obj, dict):
            raise _bad(text, 'expected a JSON object {"ks": [...], "e": [...], "d": [...]}')
        missing = [k for k in ("ks", "e", "d") if k not in obj]
        if missing:
            raise _bad(text, f"missing key(s) {', '.join(missing)}; accepted keys: ks, e, d")
        unknown = sorted(set(obj) - {"ks", "e", "d"})
        if unknown:
            raise _bad(text, f"unknown key(s) {', '.join(map(str, unknown))}; accepted keys: ks, e, d")
        for key, want in (("ks", NUM_LAYERS), ("e", NUM_LAYERS), ("d", NUM_STAGES)):
            vals = obj[key]
            if not isinstance(vals, list) or not all(type(v) is int for v in vals):
                raise _bad(vals, f"must be a list of {want} integers", field=key)
            if len(vals) != want:
                raise _bad(vals, f"has {len(vals)} values, expected {want}", field=key)
        for s, depth in enumerate(obj["d"]):
            if depth not in DEPTHS:
                raise _bad(depth, f"stage {s} depth not in {list(DEPTHS)}", field=f"d[{s}]")
            for i in range(MAX_DEPTH):
                j = s * MAX_DEPTH + i
                for key, choices in (("ks", KERNEL_SIZES), ("e", EXPAND_RATIOS)):
                    v = obj[key][j]
                    allowed = choices if i < depth else (0, *choices)
                    if v not in allowed:
                        raise _bad(v, f"stage {s} layer {i}: accepted {list(allowed)}", field=f"{key}[{j}]")
        return self.normalise(MBV3Arch(ks=tuple(obj["ks"]), e=tuple(obj["e"]), d=tuple(obj["d"])))

    def format(self, arch: MBV3Arch) -> str:
        """JSON ``{"ks": [...], "e": [...], "d": [...]}`` of ``arch`` as stored."""
        return json.dumps(arch.as_dict())

    def canonical(self, arch: MBV3Arch) -> str:
        """The normalised text: equal exactly for OFA dicts that describe the same subnet."""
        return self.format(self.normalise(arch))

    # ------------------------------------------------------------------ graph
    def graph_of(self, arch: MBV3Arch) -> tuple[list[int], np.ndarray]:
        """Node operations (length 22: input, 20 slots, output) and the fixed ``22 x 22`` chain adjacency."""
        ops = [_OP_INDEX["input"]]
        for s in range(NUM_STAGES):
            for i in range(MAX_DEPTH):
                j = s * MAX_DEPTH + i
                ops.append(
                    _OP_INDEX[f"mb_k{arch.ks[j]}_e{arch.e[j]}"] if i < arch.d[s] else _OP_INDEX["skip"]
                )
        ops.append(_OP_INDEX["output"])
        return ops, _CHAIN.copy()

    def arch_of(self, op_indices: Sequence[int], adjacency: np.ndarray) -> MBV3Arch | None:
        """Inverse of `graph_of`; ``None`` unless the graph is the 22-node chain with every stage reading
        ``active^d skip^(4-d)``, ``d`` in {2, 3, 4}."""
        ops = list(op_indices)
        adj = np.asarray(adjacency)
        if len(ops) != _N or adj.shape != (_N, _N) or not np.array_equal(adj > 0.5, _CHAIN > 0.5):
            return None
        if ops[0] != _OP_INDEX["input"] or ops[-1] != _OP_INDEX["output"]:
            return None
        skip = _OP_INDEX["skip"]
        ks: list[int] = []
        es: list[int] = []
        depths: list[int] = []
        for s in range(NUM_STAGES):
            slots = ops[1 + s * MAX_DEPTH : 1 + (s + 1) * MAX_DEPTH]
            depth = 0
            while depth < MAX_DEPTH and slots[depth] in _MB_OF_INDEX:
                depth += 1
            if depth not in DEPTHS or any(o != skip for o in slots[depth:]):
                return None
            for i, o in enumerate(slots):
                k, e = _MB_OF_INDEX[o] if i < depth else (0, 0)
                ks.append(k)
                es.append(e)
            depths.append(depth)
        return MBV3Arch(ks=tuple(ks), e=tuple(es), d=tuple(depths))

    def posterior_on_support(self, probs: torch.Tensor) -> torch.Tensor:
        """Per-slot operation probabilities conditioned on every stage reading ``active^d skip^(4-d)``.

        With ``s_i`` the probability that slot ``i`` of a stage is ``skip`` and ``a_i = 1 - s_i``, depth ``d`` has
        weight ``w_d = prod_{i<d} a_i prod_{i>=d} s_i`` (``d`` in {2, 3, 4}); conditioned on validity, slot ``i`` is
        ``skip`` with probability ``sum_{d<=i} w_d / Z`` and runs operation ``m`` with probability
        ``p_i(m) / a_i * sum_{d>i} w_d / Z`` (``Z = sum_d w_d``). Input and output nodes are unchanged.

        Args:
            probs: ``B x 22 x V`` per-node operation probabilities over `ops`.

        Returns:
            ``B x 22 x V``, each stage's slots the exact marginals of the factorised distribution restricted to
            valid stages (unchanged where every valid depth has probability 0).
        """
        skip = _OP_INDEX["skip"]
        b = probs.shape[0]
        slots = probs[:, 1 : 1 + NUM_LAYERS].reshape(b, NUM_STAGES, MAX_DEPTH, -1)
        s = slots[..., skip].clamp_min(0.0)
        a = (1.0 - s).clamp_min(0.0)
        w = torch.stack(
            [a[..., :d].prod(-1) * s[..., d:].prod(-1) for d in DEPTHS], -1
        )  # B x 5 x 3 (depths 2, 3, 4)
        z = w.sum(-1, keepdim=True)
        ok = z > 1e-30
        w = w / z.clamp_min(1e-30)
        depth = torch.as_tensor(DEPTHS, device=probs.device)
        slot = torch.arange(MAX_DEPTH, device=probs.device)
        runs = (depth[None, :] > slot[:, None]).to(w.dtype)  # 4 x 3: slot i runs at depth d
        p_run = torch.einsum("bsd,id->bsi", w, runs)  # B x 5 x 4
        scale = torch.where(a > 1e-12, p_run / a.clamp_min(1e-12), torch.zeros_like(a))
        new = slots * scale.unsqueeze(-1)
        new[..., skip] = 1.0 - p_run
        new = torch.where(ok.unsqueeze(-1), new, slots)
        out = probs.clone()
        out[:, 1 : 1 + NUM_LAYERS] = new.reshape(b, NUM_LAYERS, -1)
        return out

    # ------------------------------------------------------------------ sampling and local moves
    def sample(
        self, n: int, seed: SeedLike = None, scheme: Literal["ofa", "uniform"] = "ofa"
    ) -> list[MBV3Arch]:
        """``n`` i.i.d. architectures (normalised).

        Args:
            n: how many.
            seed: int, generator or ``None``.
            scheme: ``"ofa"`` (default) draws like OFA's ``sample_active_subnet``: each stage's depth uniform on
                {2, 3, 4}, each layer's kernel and expand ratio uniform; this over-weights shallow stages
                relative to counting distinct networks. ``"uniform"`` draws uniformly over the distinct networks
                (stage depth ``d`` with probability proportional to ``9^d``).
        """
        if scheme not in ("ofa", "uniform"):
            raise ValueError(f"scheme: unknown value {scheme!r}; accepted: ofa, uniform")
        rng = as_rng(seed)
        ks = rng.choice(KERNEL_SIZES, size=(n, NUM_LAYERS))
        es = rng.choice(EXPAND_RATIOS, size=(n, NUM_LAYERS))
        if scheme == "ofa":
            ds = rng.choice(DEPTHS, size=(n, NUM_STAGES))
        else:
            w = np.array([(len(KERNEL_SIZES) * len(EXPAND_RATIOS)) ** d for d in DEPTHS], dtype=float)
            ds = rng.choice(DEPTHS, size=(n, NUM_STAGES), p=w / w.sum())
        return [
            self.normalise(
                MBV3Arch(ks=tuple(ks[b].tolist()), e=tuple(es[b].tolist()), d=tuple(ds[b].tolist()))
            )
            for b in range(n)
        ]

    def neighbours(self, arch: MBV3Arch) -> list[MBV3Arch]:
        """All networks one edit away, in a fixed order.

        Edits: the kernel size of one active layer (2 alternatives), the expand ratio of one active layer (2
        alternatives), a stage's depth minus one (drops its last layer), or a stage's depth plus one, where the added
        layer takes each of the 9 kernel/expand choices (9 neighbours, none preferred).
        """
        arch = self.normalise(arch)
        out: list[MBV3Arch] = []
        for s, i, k, e in arch.active_layers():
            j = s * MAX_DEPTH + i
            for k2 in KERNEL_SIZES:
                if k2 != k:
                    out.append(MBV3Arch(ks=_replace(arch.ks, j, k2), e=arch.e, d=arch.d))
            for e2 in EXPAND_RATIOS:
                if e2 != e:
                    out.append(MBV3Arch(ks=arch.ks, e=_replace(arch.e, j, e2), d=arch.d))
        for s, depth in enumerate(arch.d):
            if depth - 1 in DEPTHS:
                out.append(self.normalise(MBV3Arch(ks=arch.ks, e=arch.e, d=_replace(arch.d, s, depth - 1))))
            if depth + 1 in DEPTHS:
                j = s * MAX_DEPTH + depth
                d2 = _replace(arch.d, s, depth + 1)
                for k2 in KERNEL_SIZES:
                    for e2 in EXPAND_RATIOS:
                        out.append(MBV3Arch(ks=_replace(arch.ks, j, k2), e=_replace(arch.e, j, e2), d=d2))
        return out

    # ------------------------------------------------------------------ network
    def to_module(
        self, arch: MBV3Arch, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.1
    ) -> OFAMobileNetV3Net:
        """The untrained OFA-MobileNetV3 subnet of ``arch`` as a plain PyTorch module.

        Matches ``OFAMobileNetV3(...).get_active_subnet()`` layer for layer (same widths, strides, activations, SE
        placement, channel rounding), with OFA's ``he_fout`` initialisation.

        Args:
            arch: a valid (normalised or OFA-filled) architecture.
            num_classes: classifier outputs.
            width_mult: OFA width multiplier applied to every fixed width (rounded to multiples of 8).
            dropout: dropout rate before the classifier.

        Returns:
            A module mapping ``B x 3 x H x W`` images to ``B x num_classes`` logits.
        """
        arch = self.normalise(arch)
        reasons = self.validate(arch)
        if reasons:
            raise InvalidArchitectureError("arch", self.format(arch), "; ".join(reasons))
        if num_classes < 1:
            raise ValueError(f"num_classes: invalid value {num_classes!r}; accepted: an integer >= 1")
        if not width_mult > 0:
            raise ValueError(f"width_mult: invalid value {width_mult!r}; accepted: a number > 0")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: invalid value {dropout!r}; accepted: 0 <= dropout < 1")
        return OFAMobileNetV3Net(arch, num_classes=num_classes, width_mult=width_mult, dropout=dropout)


def _replace(values: tuple[int, ...], index: int, value: int) -> tuple[int, ...]:
    return values[:index] + (value,) + values[index + 1 :]


# ---------------------------------------------------------------------- network modules
def _activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "h_swish": nn.Hardswish}[name](inplace=True)


class _ConvBNAct(nn.Sequential):
    """``k x k`` convolution (same padding, no bias) + BatchNorm + optional activation."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        act: str | None = None,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        if act is not None:
            layers.append(_activation(act))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """OFA's squeeze-and-excitation: global mean, 1x1 reduce (``make_divisible(C // 4, 8)``) + ReLU, 1x1 expand,
    hard-sigmoid gate (``ofa.utils.SEModule``).

    Args:
        channels: ``C``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        mid = make_divisible(channels // _SE_REDUCTION)
        self.reduce = nn.Conv2d(channels, mid, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(mid, channels, 1, bias=True)
        self.gate = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x C x H x W`` -> ``B x C x H x W`` (channels rescaled)."""
        y = x.mean(dim=(2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(y))))


class MBConv(nn.Module):
    """Mobile inverted bottleneck (``ofa.utils.layers.MBConvLayer`` in a ``ResidualBlock``).

    1x1 expand + BN + act (omitted when ``expand_ratio == 1``), ``k x k`` depth-wise conv (``stride``) + BN + act,
    optional SE, 1x1 project + BN; identity shortcut added when ``stride == 1`` and ``c_in == c_out``.

    Args:
        c_in: input channels.
        c_out: output channels.
        kernel_size: depth-wise kernel size.
        stride: depth-wise stride.
        expand_ratio: hidden width is ``make_divisible(round(c_in * expand_ratio), 8)`` (OFA's active middle
            channel); ``1`` keeps ``c_in`` and drops the expand conv.
        act: ``"relu"`` or ``"h_swish"``.
        use_se: add squeeze-and-excitation after the depth-wise conv.
    """

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int, stride: int, expand_ratio: int, act: str, use_se: bool
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.expand_ratio = kernel_size, stride, expand_ratio
        if expand_ratio == 1:
            mid = c_in
            self.expand = None
        else:
            mid = make_divisible(round(c_in * expand_ratio))
            self.expand = _ConvBNAct(c_in, mid, 1, act=act)
        self.depthwise = _ConvBNAct(mid, mid, kernel_size, stride, groups=mid, act=act)
        self.se = SqueezeExcite(mid) if use_se else None
        self.project = _ConvBNAct(mid, c_out, 1)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x c_in x H x W`` -> ``B x c_out x H/stride x W/stride``."""
        y = x if self.expand is None else self.expand(x)
        y = self.depthwise(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return y + x if self.residual else y


class OFAMobileNetV3Net(nn.Module):
    """A standalone OFA-MobileNetV3 subnet (what ``OFAMobileNetV3.get_active_subnet`` returns, without weights).

    Stem 3x3/s2 conv 3->16 + BN + h-swish; fixed MBConv(16->16, k3, e1, ReLU) with residual; five stages (widths
    24, 40, 80, 112, 160; strides 2, 2, 2, 1, 2; ReLU, ReLU, h-swish, h-swish, h-swish; SE in stages 2, 4, 5) of
    ``d`` MBConv layers each, the stride on a stage's first layer; 1x1 conv 160->960 + BN + h-swish; global average
    pool; 1x1 conv 960->1280 (no BN, no bias) + h-swish; dropout; linear classifier. All fixed widths are scaled by
    ``width_mult`` and rounded with `make_divisible`.

    Args:
        arch: a valid normalised `MBV3Arch`.
        num_classes: classifier outputs.
        width_mult: width multiplier.
        dropout: dropout rate before the classifier.
    """

    def __init__(
        self, arch: MBV3Arch, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.arch = arch

        def w(c: int) -> int:
            return make_divisible(c * width_mult)

        stem, first = w(_STEM_WIDTH), w(_FIRST_BLOCK_WIDTH)
        self.stem = _ConvBNAct(3, stem, 3, stride=2, act="h_swish")
        self.first_block = MBConv(stem, first, 3, 1, 1, act="relu", use_se=False)
        blocks: list[nn.Module] = []
        c_in = first
        for s, i, k, e in arch.active_layers():
            c_out = w(_STAGE_WIDTHS[s])
            stride = _STAGE_STRIDES[s] if i == 0 else 1
            blocks.append(MBConv(c_in, c_out, k, stride, e, act=_STAGE_ACTS[s], use_se=_STAGE_SE[s]))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        final_expand, last = w(_FINAL_EXPAND_WIDTH), w(_LAST_WIDTH)
        self.final_expand = _ConvBNAct(c_in, final_expand, 1, act="h_swish")
        self.feature_mix = nn.Sequential(
            nn.Conv2d(final_expand, last, 1, bias=False), nn.Hardswish(inplace=True)
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(last, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """OFA's ``he_fout`` initialisation (``ofa.utils.init_models``): conv ``N(0, 2 / (k*k*C_out))``, zero conv
        bias, BN weight 1 / bias 0, linear ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with zero bias."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.weight.shape[1])
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x 3 x H x W`` images -> ``B x num_classes`` logits."""
        x = self.blocks(self.first_block(self.stem(x)))
        x = self.final_expand(x).mean(dim=(2, 3), keepdim=True)
        x = self.feature_mix(x).flatten(1)
        return self.classifier(self.dropout(x))
