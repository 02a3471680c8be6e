"""Local latency models: this machine's latency predicted before (most) networks are measured, for guidance.

Both models share one small interface (`LocalLatencyModel`): ``fit(measured)`` from ``{arch text: ms}``
measurements (`predictors.measure`), ``predict(archs) -> ms`` and a differentiable ``forward`` on `ArchGraph`
one-hots (``B x N x V``, soft rows allowed), so a model serves as a guidance objective like
`predictors.latency.LatencyModel`.

* **NB201** (`NB201LocalLatency`): the meta-learned device prior of `predictors.latency` (`MetaLatencyPrior`,
  HELP-style: Lee et al., NeurIPS 2021), meta-trained on every latency column of the NB201 table and adapted in
  closed form to the ``k`` cells measured here (`MetaLatencyPrior.adapt`). It needs ``k >= 2`` measured cells
  before it predicts in ms; `NB201LocalLatency.reference_archs` names the cells worth measuring first (the prior's
  I-optimal design).
* **MobileNetV3** (`MBV3LatencyTable`): a per-block lookup table measured once, as nn-Meter (Zhang et al., MobiSys
  2021) and OFA's latency tables (Cai et al., ICLR 2020) do: every distinct MBConv layer (stage, first or later layer
  of the stage, kernel ``k``, expand ``e`` — later layers of a stage share input channels, resolution and stride)
  and the fixed stem and head are timed alone at the shapes they see in the network; a network's latency is the
  sum over its layers. ``fit`` on measured whole networks adds an affine correction ``a + b · sum`` (the sum
  misses the glue between modules). The sum is linear in the slot one-hots, so ``forward`` is exact and
  differentiable on graphs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
import torch
from torch import nn

from nag.errors import InvalidChoiceError, NagRuntimeError
from nag.graph import ArchGraph
from nag.spaces import SearchSpace, get_space
from predictors.measure import (
    REPEATS,
    WARMUP,
    Backend,
    Clock,
    LatencyCache,
    LatencyMeasurement,
    measure_latency,
    measure_module,
    pinned_threads,
    resolve_clock,
)

__all__ = [
    "LocalLatencyModel",
    "NB201LocalLatency",
    "MBV3LatencyTable",
    "local_latency_model",
    "default_nb201_prior",
    "LOCAL_MODEL_SPACES",
]

#: Spaces with a local latency model.
LOCAL_MODEL_SPACES: tuple[str, ...] = ("nb201", "mbv3")


class LocalLatencyModel(nn.Module, ABC):
    """Latency (ms) of a space's networks on this machine, from few measurements.

    Attributes:
        space: the search space.
        measured: the ``{arch text: ms}`` it was last fitted on.
    """

    space: SearchSpace

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        self.measured: dict[str, float] = {}

    @abstractmethod
    def fit(self, measured: Mapping[str, float]) -> LocalLatencyModel:
        """Fit to measured latencies ``{space.format(arch): ms}``; returns ``self``."""

    @abstractmethod
    def forward(self, graph: ArchGraph | torch.Tensor) -> torch.Tensor:
        """Predicted ms (``B``) from an `ArchGraph` batch or its ``B x N x V`` one-hots; differentiable in ``X``."""

    def guide(self, diffusion: Any, per: float = 1.0):
        """The guidance function of this model for ``diffusion``'s sampler (`nag.guidance.on_denoised`): predicted
        ms of the denoiser's posterior graph, divided by ``per`` (e.g. the bound, to read 1 at the bound)."""
        from nag.guidance import on_denoised

        return on_denoised(diffusion, lambda g: self(g.X.double()).to(g.X.dtype) / per)

    def relative_error(self, archs: Sequence[Any], ms: Sequence[float], floor: float = 0.03) -> float:
        """Robust spread (1.4826 x MAD) of ``log(measured / predicted)`` over measured architectures, at least
        ``floor`` (two timings of one network differ by a few %): one network timed in a slow stretch of a shared
        machine does not widen it."""
        r = np.log(np.asarray(ms, dtype=np.float64)) - np.log(np.maximum(self.predict(archs), 1e-9))
        return max(1.4826 * float(np.median(np.abs(r - np.median(r)))), floor)

    def predict(self, archs: Sequence[Any]) -> np.ndarray:
        """Predicted ms of architectures (or their text forms), ``B`` float64."""
        a = [self.space.parse(x) if isinstance(x, str) else x for x in archs]
        if not a:
            return np.zeros(0)
        with torch.no_grad():
            return self(self.space.encode(a).X.double()).cpu().numpy().astype(np.float64)

    def _parse_measured(self, measured: Mapping[str, float]) -> tuple[list[Any], np.ndarray]:
        archs = [self.space.parse(t) for t in measured]
        y = np.array([float(v) for v in measured.values()], dtype=np.float64)
        if not np.all(np.isfinite(y) & (y > 0)):
            raise ValueError("measured: latencies must be positive finite ms")
        self.measured = dict(zip((self.space.format(a) for a in archs), y.tolist(), strict=True))
        return archs, y


def _graph_x(graph: ArchGraph | torch.Tensor, space: SearchSpace) -> torch.Tensor:
    if isinstance(graph, ArchGraph):
        if tuple(graph.ops) != tuple(space.ops):
            raise ValueError(f"graph.ops: expected the {space.name} vocabulary {space.ops}, got {graph.ops}")
        return graph.X
    return graph


# ---------------------------------------------------------------------- NB201: meta-learned prior
@cache
def default_nb201_prior(order: int = 2):
    """`MetaLatencyPrior` meta-trained on every latency column of the NB201 table (HELP's 27 settings and
    HW-NAS-Bench's, on all three input sizes; energy columns left out). This machine is in none of them. Cached per
    process (about 10 s)."""
    from predictors.latency import MetaLatencyPrior, latency_tasks

    tasks = [t for t in latency_tasks() if "latency" in t.metric]
    return MetaLatencyPrior.fit(tasks, order=order)


class NB201LocalLatency(LocalLatencyModel):
    """NB201 latency on this machine: `MetaLatencyPrior` adapted to ``k`` locally measured cells.

    Args:
        prior: the meta-learned prior (default `default_nb201_prior`).
        order: feature order when the default prior is used.
    """

    def __init__(self, prior=None, order: int = 2) -> None:
        super().__init__(get_space("nb201"))
        self.prior = default_nb201_prior(order) if prior is None else prior
        self.model: nn.Module | None = None

    def reference_archs(self, k: int) -> list[Any]:
        """``k`` cells to measure first: the prior's greedy I-optimal design (`MetaLatencyPrior.select_reference`)."""
        return [self.space.from_index(int(i)) for i in self.prior.select_reference(k)]

    def fit(self, measured: Mapping[str, float]) -> NB201LocalLatency:
        """Posterior-mean model from ``k >= 2`` measured cells (``{arch text: ms}``); see `MetaLatencyPrior.adapt`."""
        archs, y = self._parse_measured(measured)
        if len(y) < 2:
            raise ValueError(f"measured: need at least 2 measured cells to predict in ms, got {len(y)}")
        self.model = self.prior.adapt(self.space.encode(archs), y, metric="local", dataset="cifar10")
        return self

    def forward(self, graph: ArchGraph | torch.Tensor) -> torch.Tensor:
        """``B`` predicted ms from NB201 graphs / ``B x 8 x 7`` one-hots (linear in the features of
        `predictors.latency.nb201_latency_features`)."""
        if self.model is None:
            raise NagRuntimeError("NB201LocalLatency: not fitted; call fit() with >= 2 measured cells first")
        return self.model(_graph_x(graph, self.space))


# ---------------------------------------------------------------------- MobileNetV3: per-block table
class _Head(nn.Module):
    """The fixed tail of `OFAMobileNetV3Net` after the blocks (final expand, pool, feature mix, classifier)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.final_expand, self.feature_mix = net.final_expand, net.feature_mix
        self.dropout, self.classifier = net.dropout, net.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.final_expand(x).mean(dim=(2, 3), keepdim=True)
        return self.classifier(self.dropout(self.feature_mix(x).flatten(1)))


class MBV3LatencyTable(LocalLatencyModel):
    """Per-block latency table of OFA-MobileNetV3 networks, plus an affine correction fitted on whole networks.

    ``raw(arch) = fixed_ms + Σ_{active layers} table[stage, first-or-later, k, e]`` and the prediction is
    ``a + b · raw`` (``a = 0, b = 1`` until `fit`).

    Args:
        table: ``5 x 2 x 3 x 3`` ms, indexed ``[stage, 0 first / 1 later layer, kernel index, expand index]``
            (orders of `nag.spaces.mbv3.KERNEL_SIZES` / `EXPAND_RATIOS`).
        fixed_ms: stem + first block + head (ms).
        settings: how the table was measured (backend, threads, input size, classes, module options).
    """

    def __init__(self, table: np.ndarray, fixed_ms: float, settings: Mapping[str, Any] | None = None) -> None:
        from nag.spaces.mbv3 import EXPAND_RATIOS, KERNEL_SIZES, MAX_DEPTH, NUM_STAGES

        super().__init__(get_space("mbv3"))
        table = np.asarray(table, dtype=np.float64)
        if table.shape != (NUM_STAGES, 2, len(KERNEL_SIZES), len(EXPAND_RATIOS)):
            raise ValueError(f"table: expected shape (5, 2, 3, 3), got {table.shape}")
        self.table = table
        self.fixed_ms = float(fixed_ms)
        self.settings = dict(settings or {})
        self.a, self.b = 0.0, 1.0
        #: whole networks measured to calibrate the table (``{arch text: ms}``), kept in every `fit`
        self.calibration: dict[str, float] = {}
        # the sum is linear in the slot one-hots: weight[node, op] = ms of that op at that slot (skip: 0)
        ops = self.space.ops
        w = torch.zeros(self.space.max_nodes, len(ops), dtype=torch.float64)
        for s in range(NUM_STAGES):
            for i in range(MAX_DEPTH):
                for ki, k in enumerate(KERNEL_SIZES):
                    for ei, e in enumerate(EXPAND_RATIOS):
                        w[1 + s * MAX_DEPTH + i, ops.index(f"mb_k{k}_e{e}")] = table[s, min(i, 1), ki, ei]
        self.register_buffer("weight", w)

    # ------------------------------------------------------------------ measuring the table
    @classmethod
    def measure(
        cls,
        *,
        backend: Backend | str = "torch",
        input_size: Sequence[int] = (3, 64, 64),
        num_classes: int = 10,
        threads: int = 1,
        warmup: int = WARMUP,
        repeats: int = REPEATS,
        rounds: int = 3,
        clock: Clock | str = "auto",
        module_kwargs: Mapping[str, Any] | None = None,
        cache: LatencyCache | None = None,
    ) -> MBV3LatencyTable:
        """Measure the table on this machine: 90 MBConv layers (5 stages x first/later x 9 (k, e)) and the fixed
        stem and head, each alone at the input shape it sees in the network (traced with forward hooks).

        Every entry is measured in each of ``rounds`` passes over the whole table and keeps its fastest round
        (`LatencyMeasurement.ms`): on a shared machine other processes slow the core down for stretches of about a
        second, and rounds interleaved over the whole table keep one slow stretch from inflating a few entries only
        (which would bend the sums), at ``rounds`` times a few seconds.

        Arguments as in `predictors.measure.measure_latency`; ``cache`` stores each entry (its fastest round), so
        a second call measures nothing.
        """
        from nag.spaces.mbv3 import EXPAND_RATIOS, KERNEL_SIZES, MAX_DEPTH, NUM_LAYERS, NUM_STAGES, MBV3Arch

        if rounds < 1:
            raise ValueError(f"rounds: invalid value {rounds!r}; accepted: an integer >= 1")
        kw = dict(module_kwargs or {})
        settings = dict(
            backend=backend,
            threads=threads,
            clock=resolve_clock(clock, threads),
            input_size=[int(v) for v in input_size],
            num_classes=int(num_classes),
            module_kwargs=kw,
        )
        cache = cache if cache is not None else LatencyCache()
        space = get_space("mbv3")

        # the entries: name -> (index into the table or None for the fixed part, module, input shape)
        entries: dict[str, tuple[tuple[int, ...] | None, nn.Module, tuple[int, ...]]] = {}
        for ki, k in enumerate(KERNEL_SIZES):
            for ei, e in enumerate(EXPAND_RATIOS):
                arch = MBV3Arch(ks=(k,) * NUM_LAYERS, e=(e,) * NUM_LAYERS, d=(MAX_DEPTH,) * NUM_STAGES)
                with pinned_threads(threads):
                    net = space.to_module(arch, num_classes=num_classes, **kw).eval()
                shapes = _block_input_shapes(net, input_size)
                if ki == 0 and ei == 0:
                    entries["stem+first_block"] = (
                        None,
                        nn.Sequential(net.stem, net.first_block),
                        tuple(input_size),
                    )
                    entries["head"] = (None, _Head(net), shapes[-1])
                for s in range(NUM_STAGES):
                    for role in (0, 1):
                        j = s * MAX_DEPTH + role
                        name = f"stage{s}-{'first' if role == 0 else 'later'}-k{k}-e{e}"
                        entries[name] = ((s, role, ki, ei), net.blocks[j], shapes[j])
        keys = {n: LatencyCache.make_key({"space": "mbv3", "table_entry": n, **settings}) for n in entries}
        got = {n: cache.get(keys[n]) for n in entries}
        missing = [n for n, m in got.items() if m is None]
        best: dict[str, LatencyMeasurement] = {}
        for _ in range(rounds if missing else 0):
            for n in missing:
                _, module, shape = entries[n]
                m = measure_module(
                    module,
                    shape,
                    backend=backend,
                    threads=threads,
                    warmup=warmup,
                    repeats=repeats,
                    clock=clock,
                )
                if n not in best or m.ms < best[n].ms:
                    best[n] = m
        cache.put_many({keys[n]: best[n] for n in missing})
        got.update(best)
        cache.misses += len(missing)
        cache.hits += len(entries) - len(missing)
        table = np.zeros((NUM_STAGES, 2, len(KERNEL_SIZES), len(EXPAND_RATIOS)))
        # what measuring the table cost (each round measures every entry; cached entries: their original cost)
        measure_s = rounds * sum(float(got[n].wall_s) for n in entries)  # type: ignore[union-attr]
        fixed = 0.0
        for n, (index, _, _) in entries.items():
            ms = got[n].ms  # type: ignore[union-attr]
            if index is None:
                fixed += ms
            else:
                table[index] = ms
        return cls(table, fixed, {**settings, "rounds": rounds, "measure_s": measure_s})

    # ------------------------------------------------------------------ model
    def raw_sum(self, archs: Sequence[Any]) -> np.ndarray:
        """Table sums (ms, before the affine correction), ``B`` float64."""
        from nag.spaces.mbv3 import EXPAND_RATIOS, KERNEL_SIZES

        out = np.empty(len(archs))
        for b, x in enumerate(archs):
            a = self.space.parse(x) if isinstance(x, str) else x
            out[b] = self.fixed_ms + sum(
                self.table[s, min(i, 1), KERNEL_SIZES.index(k), EXPAND_RATIOS.index(e)]
                for s, i, k, e in a.active_layers()
            )
        return out

    def calibrate(
        self, cache: LatencyCache | None = None, warmup: int = WARMUP, repeats: int = REPEATS, rounds: int = 3
    ) -> MBV3LatencyTable:
        """Measure three whole networks (the smallest, a middle and the largest of the space: every layer
        ``k3 e3`` at depth 2, ``k5 e4`` at depth 3, ``k7 e6`` at depth 4) with the table's settings and `fit` on
        them: the block sum misses the glue between modules (it reads 0.6-0.8 of a network's latency here), so
        an uncalibrated table would call too many networks fast. They are measured paired, on the cache's scale
        (`predictors.measure`), and each keeps its fastest of ``rounds`` measurements; they stay in every later `fit`
        and are cached with the table."""
        from nag.spaces.mbv3 import MAX_DEPTH, NUM_LAYERS, NUM_STAGES, MBV3Arch

        st = self.settings
        if not st:
            raise NagRuntimeError("MBV3LatencyTable.calibrate: the table has no measurement settings")
        cache = cache if cache is not None else LatencyCache()
        keep = ("backend", "threads", "clock", "input_size", "num_classes", "module_kwargs")
        out = {}
        for k, e, d in ((3, 3, 2), (5, 4, 3), (7, 6, MAX_DEPTH)):
            arch = self.space.normalise(
                MBV3Arch(ks=(k,) * NUM_LAYERS, e=(e,) * NUM_LAYERS, d=(d,) * NUM_STAGES)
            )
            text = self.space.format(arch)
            key = LatencyCache.make_key(
                {
                    "space": "mbv3",
                    "table_entry": f"calibration {text}",
                    "rounds": rounds,
                    "paired": True,
                    **{f: st[f] for f in keep},
                }
            )
            m = cache.get(key)
            if m is None:
                kw = dict(backend=st["backend"], input_size=tuple(st["input_size"]), num_classes=st["num_classes"],
                          threads=st["threads"], warmup=warmup, repeats=repeats, clock=st["clock"],
                          module_kwargs=st["module_kwargs"] or None)  # fmt: skip
                # paired, on the cache's scale, like the whole networks a search measures and fits on
                ref = cache.reference_ms(self.space, **kw)
                runs = [measure_latency(self.space, arch, reference_ms=ref, **kw) for _ in range(rounds)]
                m = min(runs, key=lambda r: r.ms)
                m = LatencyMeasurement(**{**m.to_dict(), "wall_s": sum(r.wall_s for r in runs)})
                cache.put(key, m)
            out[text] = float(m.ms)
            self.settings["measure_s"] = float(self.settings.get("measure_s", 0.0)) + float(m.wall_s)
        self.calibration = out
        return self.fit({})

    def fit(self, measured: Mapping[str, float]) -> MBV3LatencyTable:
        """Robust (Theil-Sen) line ``measured ≈ a + b · raw_sum`` over measured networks (``{arch text: ms}``) and the
        `calibration` networks.

        With fewer than 3 networks, or a non-positive fitted slope, only a ratio ``b`` is fitted (``a = 0``); with
        none the table sum is used as is.
        """
        archs, y = self._parse_measured({**self.calibration, **measured})
        if len(y) == 0:
            self.a, self.b = 0.0, 1.0
            return self
        r = self.raw_sum(archs)
        if len(y) >= 3 and np.ptp(r) > 0:
            # Theil-Sen: one network timed during a slow stretch of a shared machine does not tilt the line
            from scipy.stats import theilslopes

            b = float(theilslopes(y, r).slope)
            if b > 0:
                self.a, self.b = float(np.median(y - b * r)), b
                return self
        self.a, self.b = 0.0, float(np.median(y / r))
        return self

    def forward(self, graph: ArchGraph | torch.Tensor) -> torch.Tensor:
        """``B`` predicted ms from MobileNetV3 graphs / ``B x 22 x 12`` one-hots; linear in ``X``."""
        X = _graph_x(graph, self.space)
        if X.dim() != 3 or X.shape[1:] != self.weight.shape:
            raise ValueError(
                f"X: expected B x {self.weight.shape[0]} x {self.weight.shape[1]}, got {tuple(X.shape)}"
            )
        raw = self.fixed_ms + (X * self.weight.to(X.dtype)).sum(dim=(1, 2))
        return self.a + self.b * raw

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready table, fixed part, correction and measurement settings."""
        return {
            "table": self.table.tolist(),
            "fixed_ms": self.fixed_ms,
            "a": self.a,
            "b": self.b,
            "settings": self.settings,
            "calibration": self.calibration,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MBV3LatencyTable:
        """Inverse of `to_dict`."""
        m = cls(np.array(d["table"]), d["fixed_ms"], d.get("settings"))
        m.a, m.b = float(d.get("a", 0.0)), float(d.get("b", 1.0))
        m.calibration = {str(k): float(v) for k, v in (d.get("calibration") or {}).items()}
        return m

    def extra_repr(self) -> str:
        return f"fixed_ms={self.fixed_ms:.3g}, a={self.a:.3g}, b={self.b:.3g}, settings={self.settings}"


def _block_input_shapes(net: nn.Module, input_size: Sequence[int]) -> list[tuple[int, ...]]:
    """``(C, H, W)`` input of every block of ``net`` plus, last, the blocks' output (one traced forward pass)."""
    shapes: list[tuple[int, ...]] = []
    hooks = [
        b.register_forward_pre_hook(lambda _m, a: shapes.append(tuple(a[0].shape[1:]))) for b in net.blocks
    ]
    last = net.blocks[-1].register_forward_hook(lambda _m, _a, out: shapes.append(tuple(out.shape[1:])))
    try:
        with torch.inference_mode():
            net(torch.zeros(1, *input_size))
    finally:
        for h in (*hooks, last):
            h.remove()
    return shapes


# ---------------------------------------------------------------------- factory
def local_latency_model(
    space: SearchSpace | str,
    *,
    backend: Backend | str = "torch",
    input_size: Sequence[int] | None = None,
    num_classes: int = 10,
    threads: int = 1,
    warmup: int = WARMUP,
    repeats: int = REPEATS,
    clock: Clock | str = "auto",
    module_kwargs: Mapping[str, Any] | None = None,
    cache: LatencyCache | None = None,
) -> LocalLatencyModel:
    """The local latency model of ``space``: NB201 -> `NB201LocalLatency` (prior only, unfitted; measure
    `NB201LocalLatency.reference_archs` and `fit`), mbv3 -> `MBV3LatencyTable.measure` then
    `MBV3LatencyTable.calibrate` (measures the table and three whole networks now, a few seconds at 32 px).

    Raises:
        InvalidChoiceError: a space without a local model (field ``space``; accepted `LOCAL_MODEL_SPACES`).
    """
    name = space if isinstance(space, str) else space.name
    from nag.spaces import canonical_space_name

    name = canonical_space_name(name)
    if name == "nb201":
        return NB201LocalLatency()
    if name == "mbv3":
        return MBV3LatencyTable.measure(
            backend=backend,
            input_size=(3, 64, 64) if input_size is None else input_size,
            num_classes=num_classes,
            threads=threads,
            warmup=warmup,
            repeats=repeats,
            clock=clock,
            module_kwargs=module_kwargs,
            cache=cache,
        ).calibrate(cache, warmup=warmup, repeats=repeats)
    raise InvalidChoiceError("space", name, LOCAL_MODEL_SPACES)
