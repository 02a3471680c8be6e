"""The denoising loop, written out: batched, seeded, optionally guided; returns decoded, validated architectures.

Guidance (classifier guidance, Dhariwal & Nichol 2021, as used by DiffusionNAG): each term is a callable
``f(x_t, t) -> B`` (a scalar per graph, e.g. a noise-aware predictor's log-likelihood of meeting a target) with a
scale ``s``; the noise prediction becomes ``ε̂ - sqrt(1 - ᾱ_t) · Σ s · ∇_{x_t} f(x_t, t)``, i.e. the score gains
``Σ s · ∇ f``. ``x_t`` is passed as an `ArchGraph` holding the relaxed (noisy) ``X`` (and ``A`` where edges are
generated), so objectives see the same structure as clean graphs. No I/O happens here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from nag.diffusion.model import GraphDiffusionModel
from nag.diffusion.schedules import DEFAULT_SOLVER, DEFAULT_STEPS
from nag.graph import ArchGraph
from nag.spaces.base import StructuredDecodeSpace

__all__ = ["GuidanceTerm", "SampleResult", "sample", "generate"]


@dataclass(frozen=True)
class GuidanceTerm:
    """``fn(x_t, t) -> B`` to increase, with its guidance scale (``scale`` may depend on t via ``schedule``)."""

    fn: Callable[[ArchGraph, torch.Tensor], torch.Tensor]
    scale: float = 1.0
    schedule: Callable[[torch.Tensor], torch.Tensor] | None = None
    name: str = "guidance"


@dataclass
class SampleResult:
    """What a sampling run returns.

    Attributes:
        graphs: the decoded discrete graphs (``B`` of them).
        archs: the space's architectures, ``None`` where a graph is not a valid member.
        confidence: ``B`` — the smallest gap, over nodes, between the best and second-best allowed op at ``x_0``
            (a small gap means the sample sat between two operations).
        seconds: wall time of the loop and decoding.
        steps / solver: the sampler used.
        attempts: samples drawn in total (``generate`` may draw several batches).
        guidance_values: per term, its final value on the clean graphs ``B`` (when guided).
        repaired: per sample, whether its architecture came from the repair step (valid only after repair).
        raw_validity: share of the thresholded graphs (independent per-edge decisions) that decode directly; for
            spaces with structured decoding (`StructuredDecodeSpace`) ``archs`` come from `decode_scores` instead.
    """

    graphs: ArchGraph
    archs: list[Any]
    confidence: torch.Tensor
    seconds: float
    steps: int
    solver: str
    attempts: int = 0
    guidance_values: dict[str, torch.Tensor] = field(default_factory=dict)
    repaired: list[bool] = field(default_factory=list)
    raw_validity: float | None = None

    @property
    def valid(self) -> list[bool]:
        return [a is not None for a in self.archs]

    @property
    def validity_before_repair(self) -> float:
        """Share of samples valid as generated (repaired ones count as invalid)."""
        rep = self.repaired or [False] * len(self.archs)
        return sum(a is not None and not r for a, r in zip(self.archs, rep, strict=True)) / max(
            len(self.archs), 1
        )

    @property
    def validity(self) -> float:
        return sum(self.valid) / max(len(self.archs), 1)


def _state_split(
    model: GraphDiffusionModel, z: torch.Tensor, b: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    n, v = model.denoiser.cfg.num_nodes, model.denoiser.cfg.num_ops
    x = z[:, : n * v].view(b, n, v)
    a = None
    if model.generate_edges:
        up = z[:, n * v :]
        a = torch.zeros(b, n, n, device=z.device, dtype=z.dtype)
        iu = torch.triu_indices(n, n, 1, device=z.device)
        a[:, iu[0], iu[1]] = up
        a = a + a.transpose(1, 2)
    return x, a


def _state_join(model: GraphDiffusionModel, x: torch.Tensor, a: torch.Tensor | None) -> torch.Tensor:
    parts = [x.flatten(1)]
    if a is not None:
        n = a.shape[-1]
        iu = torch.triu_indices(n, n, 1, device=a.device)
        parts.append(a[:, iu[0], iu[1]])
    return torch.cat(parts, 1)


@torch.no_grad()
def sample(
    model: GraphDiffusionModel,
    space,
    n: int,
    *,
    steps: int = DEFAULT_STEPS,
    solver: str = DEFAULT_SOLVER,
    guidance: Sequence[GuidanceTerm] = (),
    seed: int = 0,
    batch_size: int = 1000,
    device: str | torch.device = "cpu",
    snr: float = 0.16,
    repair: int = 0,
) -> SampleResult:
    """Draw ``n`` i.i.d. samples and decode them with ``space``.

    Args:
        model: trained model (its ``space_name`` must be ``space.name``).
        space: the `SearchSpace` to decode into.
        n: number of samples.
        steps: denoising steps (default `DEFAULT_STEPS`; the reference uses 1,000).
        solver: ``"dpm"`` (default), ``"ddim"``, ``"ddpm"`` or ``"pc"`` (predictor-corrector: one Langevin corrector step
            before every ancestral step, Song et al. 2021 — the reference's sampler, two network calls per step).
        guidance: terms whose gradients steer sampling.
        seed: seeds the initial noise and any ancestral noise.
        batch_size: graphs denoised at once.
        device: where to run.
        snr: signal-to-noise ratio of the Langevin corrector (``"pc"`` only).
        repair: for generated topologies, how many of the weakest edges (smallest denoised value) may be removed,
            one at a time, to turn an invalid graph into a valid one (0: no repair; invalid graphs stay ``None``).

    Returns:
        A `SampleResult` with ``n`` graphs and architectures.
    """
    if model.space_name != space.name:
        raise ValueError(f"space: model was trained on {model.space_name!r}, not {space.name!r}")
    model = model.to(device).eval()
    cfg = model.denoiser.cfg
    gen = torch.Generator(device="cpu").manual_seed(seed)
    t0 = time.perf_counter()
    graphs, conf, op_scores, edge_scores, gvals = [], [], [], [], {g.name: [] for g in guidance}
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        sched = model.schedule.sampler_scheduler(solver, steps)
        mask = model.sample_node_mask(b, gen).to(device)
        x = torch.randn(b, cfg.num_nodes, cfg.num_ops, generator=gen).to(device)
        a = None
        if model.generate_edges:
            a = torch.randn(b, cfg.num_nodes, cfg.num_nodes, generator=gen).triu(1).to(device)
            a = a + a.transpose(1, 2)
        z = _state_join(model, x, a) * sched.init_noise_sigma
        stochastic = solver in ("ddpm", "pc")
        for t in sched.timesteps:
            tt = torch.full((b,), int(t), device=device, dtype=torch.long)
            if solver == "pc":
                z = _langevin_corrector(model, z, tt, mask, b, gen, snr)
            x, a = _state_split(model, z, b)
            eps_x, eps_a = model.predict_eps(x, tt, mask, a)
            if guidance:
                gx, ga = _guidance_grad(model, guidance, x, a, mask, tt)
                s = (1 - model.alphas_cumprod[int(t)]).sqrt()
                eps_x = eps_x - s * gx
                if eps_a is not None and ga is not None:
                    eps_a = eps_a - s * ga
            eps = _state_join(model, eps_x, eps_a)
            if stochastic:  # diffusers draws the ancestral noise on the generator's (CPU) device
                z = sched.step(eps.cpu(), t, z.cpu(), generator=gen).prev_sample.to(device)
            else:
                z = sched.step(eps, t, z).prev_sample
        x, a = _state_split(model, z, b)
        g = model.to_graph(x, a, mask)
        allowed = x.masked_fill(~model.allowed_ops(mask), float("-inf"))
        top2 = allowed.topk(2, dim=-1).values
        gap = torch.where(
            torch.isfinite(top2[..., 1]),
            top2[..., 0] - top2[..., 1],
            torch.full_like(top2[..., 0], float("inf")),
        )
        conf.append(gap.amin(-1).cpu())
        op_scores.append(x.cpu())
        if a is not None:
            edge_scores.append(a.cpu())
        graphs.append(g.to("cpu"))
        for term in guidance:
            with torch.enable_grad():
                gvals[term.name].append(
                    term.fn(g, torch.zeros(b, dtype=torch.long, device=device)).detach().cpu()
                )
    graph = ArchGraph.cat(graphs)
    archs = space.decode(graph)
    raw_validity = sum(a is not None for a in archs) / max(len(archs), 1)
    if isinstance(space, StructuredDecodeSpace) and model.generate_edges:
        xs, es, sizes = torch.cat(op_scores), torch.cat(edge_scores), graph.mask.sum(-1).tolist()
        archs = [space.decode_scores(xs[i], es[i], int(sizes[i])) for i in range(len(archs))]
        archs = [a if a is not None and space.is_valid(a) else None for a in archs]
        graph = _with_rows(graph, space, archs)
    repaired = [False] * len(archs)
    if model.generate_edges and repair:
        scores = torch.cat(edge_scores)
        for i, a in enumerate(archs):
            if a is None:
                fixed = _repair(space, graph[i], scores[i], max_removals=repair)
                if fixed is not None:
                    archs[i], repaired[i] = fixed, True
        graph = _with_rows(graph, space, archs)
    return SampleResult(
        graphs=graph,
        archs=archs,
        confidence=torch.cat(conf),
        seconds=time.perf_counter() - t0,
        steps=steps,
        solver=solver,
        attempts=n,
        guidance_values={k: torch.cat(v) for k, v in gvals.items()},
        repaired=repaired,
        raw_validity=raw_validity,
    )


def _with_rows(graph: ArchGraph, space, archs: list) -> ArchGraph:
    """``graph`` with the rows of valid ``archs`` replaced by their encoding (the graphs actually returned)."""
    idx = [i for i, a in enumerate(archs) if a is not None]
    if not idx:
        return graph
    enc = space.encode([archs[i] for i in idx]).pad_to(graph.num_nodes)
    X, A, M = graph.X.clone(), graph.A.clone(), graph.mask.clone()
    t = torch.as_tensor(idx)
    X[t], A[t], M[t] = enc.X, enc.A, enc.mask
    return ArchGraph(X=X, A=A, mask=M, ops=graph.ops)


def _repair(space, g: ArchGraph, scores: torch.Tensor, max_removals: int):
    """Drop the weakest existing edges one at a time (up to ``max_removals``) until the graph decodes.

    Args:
        g: one discrete graph (batch of 1).
        scores: ``N x N`` denoised edge values (larger = more certain).
    """
    s = int(g.mask[0].sum())
    ops = g.op_indices()[0, :s].tolist()
    adj = g.A[0, :s, :s].numpy().copy()
    for _ in range(max_removals):
        edges = list(zip(*adj.nonzero(), strict=True))
        if not edges:
            return None
        i, j = min(edges, key=lambda e: float(scores[e[0], e[1]]))
        adj[i, j] = 0
        arch = space.arch_of(ops, adj)
        if arch is not None and space.is_valid(arch):
            return arch
    return None


def _langevin_corrector(model, z, t, mask, b, gen, snr):
    """One Langevin step ``z += δ·s + sqrt(2δ)·n`` with the score ``s = -ε̂ / sqrt(1 - ᾱ_t)`` and
    ``δ = 2 α_t (snr·|n| / |s|)²`` per graph (Song et al. 2021, LangevinCorrector for the VP SDE)."""
    x, a = _state_split(model, z, b)
    eps_x, eps_a = model.predict_eps(x, t, mask, a)
    ab = model.alphas_cumprod[t[0]]
    alpha = ab / model.alphas_cumprod[t[0] - 1] if int(t[0]) > 0 else ab
    score = -_state_join(model, eps_x, eps_a) / (1 - ab).sqrt()
    noise = torch.randn(z.shape, generator=gen).to(z.device)
    step = 2 * alpha * (snr * noise.norm(dim=1) / score.norm(dim=1).clamp(min=1e-12)) ** 2
    return z + step[:, None] * score + (2 * step[:, None]).sqrt() * noise


def _guidance_grad(model, guidance, x, a, mask, t):
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        ag = a.detach().requires_grad_(True) if a is not None else None
        g = model.state_graph(xg, ag, mask)
        total = 0.0
        for term in guidance:
            scale = term.scale if term.schedule is None else term.scale * term.schedule(t.float())
            total = total + (scale * term.fn(g, t)).sum()
        inputs = [xg] + ([ag] if ag is not None else [])
        grads = torch.autograd.grad(total, inputs, allow_unused=True)
    gx = grads[0] if grads[0] is not None else torch.zeros_like(x)
    ga = grads[1] if len(grads) > 1 else None
    return gx, ga


def sample_rounds(
    model: GraphDiffusionModel,
    space,
    missing: Callable[[], int],
    draw: Callable[[int, int], int],
    *,
    seed: int = 0,
    max_rounds: int = 50,
    **kwargs: Any,
) -> Iterator[SampleResult]:
    """The one sample-until-enough loop: round ``r`` draws ``draw(r, missing())`` samples with seed
    ``seed + 7919 r``, while ``missing() > 0`` and ``r < max_rounds``. The caller filters each round's
    `SampleResult` (validity, repeats, constraints) and so decides what ``missing`` returns next.
    Extra keyword arguments go to `sample`."""
    for r in range(max_rounds):
        need = missing()
        if need <= 0:
            return
        yield sample(model, space, draw(r, need), seed=seed + 7919 * r, **kwargs)


def generate(
    model: GraphDiffusionModel,
    space,
    n: int,
    *,
    unique: bool = True,
    max_rounds: int = 50,
    seed: int = 0,
    **kwargs: Any,
) -> SampleResult:
    """``n`` valid architectures; with ``unique`` (default) ``n`` distinct ones, sampling more rounds as needed.

    Invalid samples are rejected and counted in ``attempts`` (so ``n / attempts`` is the yield). Extra keyword
    arguments go to `sample`.

    Raises:
        RuntimeError: fewer than ``n`` (distinct) valid architectures after ``max_rounds`` rounds.
    """
    t0 = time.perf_counter()
    kept_idx: list[tuple[int, int]] = []
    seen: set = set()
    results: list[SampleResult] = []
    attempts = 0
    rounds = sample_rounds(model, space, lambda: n - len(kept_idx), lambda r, need: need if r == 0 else max(2 * need, 64),
                           seed=seed, max_rounds=max_rounds, **kwargs)  # fmt: skip
    for r, res in enumerate(rounds):
        results.append(res)
        attempts += len(res.archs)
        for i, a in enumerate(res.archs):
            if a is None or (unique and a in seen):
                continue
            seen.add(a)
            kept_idx.append((r, i))
            if len(kept_idx) == n:
                break
    if len(kept_idx) < n:
        raise RuntimeError(
            f"only {len(kept_idx)} of {n} {'distinct ' if unique else ''}valid architectures after {attempts} samples"
        )
    graphs = ArchGraph.cat([results[r].graphs[i] for r, i in kept_idx])
    names = results[0].guidance_values.keys()
    return SampleResult(
        graphs=graphs,
        archs=[results[r].archs[i] for r, i in kept_idx],
        confidence=torch.stack([results[r].confidence[i] for r, i in kept_idx]),
        seconds=time.perf_counter() - t0,
        steps=results[0].steps,
        solver=results[0].solver,
        attempts=attempts,
        guidance_values={
            k: torch.stack([results[r].guidance_values[k][i] for r, i in kept_idx]) for k in names
        },
    )
