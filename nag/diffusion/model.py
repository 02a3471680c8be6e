"""`GraphDiffusionModel`: a search space's graphs <-> diffusion tensors, the training loss, checkpoints.

Tensor form of a batch (see `nag.diffusion.schedules`): ``x0 = 2·X - 1`` (``B x N x V`` in ``{-1, 1}``) and, for
generated-topology spaces, ``a0 = 2·A - 1`` (``B x N x N``, only the strict upper triangle is modelled). Decoding
takes the arg-max operation among those allowed at each position of a graph with that many nodes (``op_mask``, learnt
from the training graphs: e.g. NB201's node 0 is always ``input``, NB101's last node is always ``output``) and keeps an edge where ``a > 0`` — upper-triangular, hence acyclic, by
construction.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nag.checkpoint import checkpoint_error, load_checkpoint
from nag.diffusion.denoiser import DenoiserConfig, GraphDenoiser
from nag.diffusion.schedules import ScheduleConfig
from nag.graph import ArchGraph
from nag.io import atomic_write_bytes

__all__ = ["GraphDiffusionModel", "CHECKPOINT_EXPECTED"]

#: What a diffusion checkpoint is, for error messages.
CHECKPOINT_EXPECTED = "a nag.diffusion/1 model file (RUN_DIR/model.pt written by `nag train diffusion`, or checkpoints/diffusion_<space>.pt)"


class GraphDiffusionModel(nn.Module):
    """Denoiser + schedule + per-position allowed operations for one search space.

    Args:
        space_name: registry name of the search space.
        ops: operation vocabulary (``V``).
        schedule: forward-process configuration.
        denoiser_cfg: network configuration.
        op_mask: ``(N + 1) x N x V`` bool: ``op_mask[n, i]`` are the operations that may appear at position ``i`` of a
            graph with ``n`` nodes.
        node_count_probs: ``N + 1`` distribution of the number of nodes in training graphs (sampled first, as in
            GDSS/DiGress, for spaces whose graphs vary in size); default: always ``N``.
        fixed_adjacency: ``N x N`` adjacency of fixed-topology spaces, else ``None``.
    """

    def __init__(
        self,
        space_name: str,
        ops: tuple[str, ...],
        schedule: ScheduleConfig,
        denoiser_cfg: DenoiserConfig,
        op_mask: torch.Tensor,
        fixed_adjacency: torch.Tensor | None = None,
        node_count_probs: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.space_name = space_name
        self.ops = tuple(ops)
        self.schedule = schedule
        self.denoiser = GraphDenoiser(denoiser_cfg, fixed_adjacency)
        self.register_buffer("op_mask", op_mask.bool().clone())
        self.register_buffer("alphas_cumprod", schedule.alphas_cumprod)
        if node_count_probs is None:
            node_count_probs = torch.zeros(denoiser_cfg.num_nodes + 1)
            node_count_probs[-1] = 1.0
        self.register_buffer(
            "node_count_probs", torch.as_tensor(node_count_probs, dtype=torch.float32).clone()
        )

    @property
    def fixed_adjacency(self) -> torch.Tensor:
        """``N x N`` adjacency of a fixed-topology space (zeros when edges are generated); held by the denoiser."""
        return self.denoiser.fixed_adj

    @property
    def generate_edges(self) -> bool:
        return self.denoiser.cfg.generate_edges

    @classmethod
    def for_space(
        cls, space, train_graph: ArchGraph, schedule: ScheduleConfig | None = None, **denoiser_kwargs: Any
    ) -> GraphDiffusionModel:
        """Build an untrained model for ``space`` whose allowed ops per position come from ``train_graph``."""
        cfg = DenoiserConfig(
            num_nodes=space.max_nodes,
            num_ops=len(space.ops),
            generate_edges=not space.fixed_topology,
            **denoiser_kwargs,
        )
        counts_per_graph = train_graph.mask.sum(-1)
        op_mask = torch.zeros(space.max_nodes + 1, space.max_nodes, len(space.ops), dtype=torch.bool)
        for n in counts_per_graph.unique().tolist():
            sel = counts_per_graph == n
            op_mask[n] = (train_graph.X[sel] * train_graph.mask[sel].unsqueeze(-1)).sum(0) > 0
        fixed = train_graph.A[0] if space.fixed_topology else None
        counts = torch.bincount(counts_per_graph, minlength=space.max_nodes + 1).float()
        return cls(
            space.name, space.ops, schedule or ScheduleConfig(), cfg, op_mask, fixed, counts / counts.sum()
        )

    # ------------------------------------------------------------------ tensors
    def to_tensors(self, graph: ArchGraph) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """``(x0, a0, node_mask)``: ``B x N x V`` and ``B x N x N`` in ``{-1, 1}`` (``a0`` None if fixed)."""
        x0 = graph.X * 2 - 1
        a0 = graph.A * 2 - 1 if self.generate_edges else None
        return x0, a0, graph.mask

    def sample_node_mask(self, b: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``B x N`` bool masks with node counts drawn from the training distribution."""
        counts = torch.multinomial(self.node_count_probs.cpu(), b, replacement=True, generator=generator)
        n = self.denoiser.cfg.num_nodes
        return (torch.arange(n).unsqueeze(0) < counts.unsqueeze(1)).to(self.op_mask.device)

    def support(self, probs: torch.Tensor) -> torch.Tensor:
        """Per-node operation probabilities (``B x N x V``) conditioned on the space's valid graphs
        (`nag.spaces.base.SearchSpace.posterior_on_support`; unchanged for spaces whose nodes are independent)."""
        fn = getattr(self, "_support_fn", None)
        if fn is None:
            from nag.spaces import get_space

            try:
                space = get_space(self.space_name)
            except Exception:  # a model of a space this install does not register: nothing to condition on
                space = None
            fn = space.posterior_on_support if space is not None and space.ops == self.ops else _identity
            self._support_fn = fn
        return fn(probs)

    def allowed_ops(self, node_mask: torch.Tensor) -> torch.Tensor:
        """``B x N x V`` bool: operations allowed at each node given each graph's node count (all on padding)."""
        allowed = self.op_mask[node_mask.sum(-1)]
        return allowed | ~node_mask.unsqueeze(-1)

    def to_graph(self, x: torch.Tensor, a: torch.Tensor | None, node_mask: torch.Tensor) -> ArchGraph:
        """Discrete `ArchGraph` from denoised tensors (allowed-op arg-max; edges where ``a > 0``, upper triangle)."""
        logits = x.masked_fill(~self.allowed_ops(node_mask), float("-inf"))
        X = torch.nn.functional.one_hot(logits.argmax(-1), len(self.ops)).float() * node_mask.unsqueeze(-1)
        b, n, _ = x.shape
        if a is None:
            A = self.fixed_adjacency.expand(b, n, n).clone()
        else:
            A = ((a > 0) & torch.ones(n, n, dtype=torch.bool, device=a.device).triu(1)).float()
        pair = node_mask.unsqueeze(-1) & node_mask.unsqueeze(-2)
        return ArchGraph(X=X, A=A * pair, mask=node_mask.clone(), ops=self.ops)

    # ------------------------------------------------------------------ denoising
    def posterior(
        self, x_t: torch.Tensor, t: torch.Tensor, node_mask: torch.Tensor, a_t: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Clean-graph logits given the noisy state.

        Returns:
            ``(op_logits, edge_logits)``: ``B x N x V`` with ``-inf`` on operations not allowed at a position, and
            ``B x N x N`` (strict upper triangle meaningful) or ``None``.
        """
        logits_x, logits_a = self.denoiser(x_t, t, node_mask, a_t)
        return logits_x.masked_fill(~self.allowed_ops(node_mask), float("-inf")), logits_a

    def expected_x0(
        self, x_t: torch.Tensor, t: torch.Tensor, node_mask: torch.Tensor, a_t: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Posterior mean of the clean tensors, ``E[x0 | x_t] = 2 p(op | x_t) - 1`` (and ``2 p(edge) - 1``)."""
        logits_x, logits_a = self.posterior(x_t, t, node_mask, a_t)
        x0 = 2 * self.support(torch.softmax(logits_x, -1)) - 1
        a0 = None if logits_a is None else 2 * torch.sigmoid(logits_a) - 1
        return x0, a0

    def predict_eps(
        self, x_t: torch.Tensor, t: torch.Tensor, node_mask: torch.Tensor, a_t: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """ε implied by the posterior mean (score interpolation, Dieleman et al. 2022, CDCD):
        ``ε̂ = (x_t - sqrt(ᾱ_t) E[x0|x_t]) / sqrt(1 - ᾱ_t)``. Shapes as the inputs."""
        x0, a0 = self.expected_x0(x_t, t, node_mask, a_t)
        ab = self.alphas_cumprod[t.long()][:, None, None]
        eps_x = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()
        eps_a = None if a0 is None else (a_t - ab.sqrt() * a0) / (1 - ab).sqrt()
        return eps_x, eps_a

    def noise(
        self, graph: ArchGraph, t: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Forward process: ``x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε`` for a batch at timesteps ``t`` (``B``)."""
        x0, a0, _ = self.to_tensors(graph)
        ab = self.alphas_cumprod[t][:, None, None]
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * torch.randn(x0.shape, generator=generator).to(x0.device)
        a_t = None
        if a0 is not None:
            e = torch.randn(a0.shape, generator=generator).to(a0.device).triu(1)
            a_t = ab.sqrt() * a0 + (1 - ab).sqrt() * (
                e + e.transpose(1, 2)
            )  # symmetric noise, upper half used
        return x_t, a_t

    def state_graph(self, x_t: torch.Tensor, a_t: torch.Tensor | None, node_mask: torch.Tensor) -> ArchGraph:
        """The relaxed graph a diffusion state stands for — the one mapping from states to graphs, used by the
        sampler's guidance and by noise-aware predictors: ``X = (x_t + 1) / 2`` (``B x N x V``), ``A = (a_t + 1) / 2``
        (``B x N x N``) or the space's fixed adjacency. Differentiable in ``x_t`` and ``a_t``."""
        b, n, _ = x_t.shape
        A = self.fixed_adjacency.expand(b, n, n) if a_t is None else (a_t + 1) / 2
        return ArchGraph(X=(x_t + 1) / 2, A=A, mask=node_mask, ops=self.ops)

    def noisy_graph(
        self, graph: ArchGraph, t: torch.Tensor, generator: torch.Generator | None = None
    ) -> ArchGraph:
        """`state_graph` of a forward-process sample of ``graph`` at timesteps ``t`` (``B``): what a noise-aware
        predictor is trained on, exactly as the sampler will show it."""
        x_t, a_t = self.noise(graph, t, generator)
        return self.state_graph(x_t, a_t, graph.mask)

    def loss(self, graph: ArchGraph, generator: torch.Generator | None = None) -> torch.Tensor:
        """Cross-entropy of the clean operations (and binary cross-entropy of the upper-triangular edges) given
        ``x_t`` at uniformly drawn timesteps; averaged over existing nodes (pairs)."""
        mask = graph.mask
        b = mask.shape[0]
        t = torch.randint(0, self.schedule.num_train_timesteps, (b,), generator=generator).to(mask.device)
        x_t, a_t = self.noise(graph, t, generator)
        logits_x, logits_a = self.posterior(x_t, t, mask, a_t)
        target = graph.X.argmax(-1)
        ce = torch.nn.functional.cross_entropy(
            logits_x.masked_fill(torch.isinf(logits_x), -1e4).flatten(0, 1),
            target.flatten(),
            reduction="none",
        )
        loss = (ce * mask.flatten().float()).sum() / mask.sum().clamp(min=1)
        if logits_a is not None:
            pm = (mask.unsqueeze(-1) & mask.unsqueeze(-2)).float().triu(1)
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits_a, graph.A, reduction="none")
            loss = loss + (bce * pm).sum() / pm.sum().clamp(min=1)
        return loss

    # ------------------------------------------------------------------ checkpoints
    def state(self, metrics: dict | None = None, extra: dict | None = None) -> dict:
        """Everything needed to rebuild the model alone: configs, weights, buffers, metrics."""
        return {
            "format": "nag.diffusion/1",
            "space": self.space_name,
            "ops": list(self.ops),
            "schedule": self.schedule.to_dict(),
            "schedule_fingerprint": self.schedule.fingerprint(),
            "denoiser": self.denoiser.cfg.to_dict(),
            # clones: a tensor that views a larger storage (e.g. one training graph's adjacency) would save it whole
            "op_mask": self.op_mask.cpu().clone(),
            "fixed_adjacency": self.fixed_adjacency.cpu().clone() if not self.generate_edges else None,
            "node_count_probs": self.node_count_probs.cpu().clone(),
            "weights": {k: v.cpu().clone() for k, v in self.denoiser.state_dict().items()},
            "metrics": metrics or {},
            "extra": extra or {},
        }

    @classmethod
    def from_state(cls, state: dict) -> GraphDiffusionModel:
        if state.get("format") != "nag.diffusion/1":
            raise ValueError(
                f"checkpoint format: unknown value {state.get('format')!r}; accepted: nag.diffusion/1"
            )
        schedule = ScheduleConfig.from_dict(state["schedule"])
        if schedule.fingerprint() != state["schedule_fingerprint"]:
            raise ValueError("checkpoint schedule_fingerprint does not match its schedule config")
        m = cls(
            state["space"],
            tuple(state["ops"]),
            schedule,
            DenoiserConfig.from_dict(state["denoiser"]),
            state["op_mask"],
            state["fixed_adjacency"],
            state["node_count_probs"],
        )
        m.denoiser.load_state_dict(state["weights"])
        return m

    def save(self, path: str | Path, metrics: dict | None = None, extra: dict | None = None) -> None:
        """Atomic write of `state` with ``torch.save`` (plain containers and tensors only, see `nag.checkpoint`)."""
        buf = io.BytesIO()
        torch.save(self.state(metrics, extra), buf)
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load_with_state(
        cls, path: str | Path, *, user_given: bool = True
    ) -> tuple[GraphDiffusionModel, dict]:
        """The model in checkpoint ``path`` and the checkpoint dict itself (for its ``metrics`` / ``extra``).

        Read through `nag.checkpoint.load_checkpoint`: nothing in the file is executed.

        Raises:
            NagInputError | NagRuntimeError: (a user-given | a found) file that is missing, hostile, damaged, of
                another format, or lacks a field; the message names the file.
        """
        state = load_checkpoint(path, CHECKPOINT_EXPECTED, user_given=user_given)
        try:
            return cls.from_state(state), state
        except KeyError as e:
            problem = f"lacks the field {e.args[0]!r}"
        except (TypeError, ValueError, RuntimeError, AttributeError) as e:
            problem = f"does not hold a valid model ({str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__})"
        raise checkpoint_error(path, problem, CHECKPOINT_EXPECTED, user_given)

    @classmethod
    def load(cls, path: str | Path, *, user_given: bool = True) -> GraphDiffusionModel:
        """The model in checkpoint ``path`` (see `load_with_state`)."""
        return cls.load_with_state(path, user_given=user_given)[0]


def _identity(probs: torch.Tensor) -> torch.Tensor:
    return probs
