"""ArchGraph: shapes, conversions to PyG and networkx and back, padding, validity helpers."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nag.graph import ArchGraph, GraphValidityError, reachable_from, reaching

OPS = ("input", "a", "b", "c", "output")


@st.composite
def dags(draw, max_nodes=7):
    n = draw(st.integers(2, max_nodes))
    bits = draw(st.lists(st.booleans(), min_size=n * (n - 1) // 2, max_size=n * (n - 1) // 2))
    adj = np.zeros((n, n), dtype=np.float32)
    adj[np.triu_indices(n, 1)] = bits
    ops = [0] + draw(st.lists(st.integers(1, 3), min_size=n - 2, max_size=n - 2)) + [4]
    return ops, adj


@given(st.lists(dags(), min_size=1, max_size=5))
def test_dense_shapes_and_well_formed(graphs):
    g = ArchGraph.from_dense([o for o, _ in graphs], [a for _, a in graphs], OPS, num_nodes=7)
    assert (
        g.X.shape == (len(graphs), 7, 5)
        and g.A.shape == (len(graphs), 7, 7)
        and g.mask.shape == (len(graphs), 7)
    )
    assert g.is_well_formed().all()
    assert g.num_edges().tolist() == [int(a.sum()) for _, a in graphs]
    assert g.mask.sum(-1).tolist() == [len(o) for o, _ in graphs]


@given(st.lists(dags(), min_size=1, max_size=5))
def test_pyg_round_trip(graphs):
    g = ArchGraph.from_dense([o for o, _ in graphs], [a for _, a in graphs], OPS, num_nodes=7)
    batch = g.to_pyg()
    assert batch.num_graphs == len(graphs)
    assert batch.edge_index.shape[1] == int(g.num_edges().sum())
    back = ArchGraph.from_pyg(batch, OPS, num_nodes=7)
    assert torch.equal(back.X, g.X) and torch.equal(back.A, g.A) and torch.equal(back.mask, g.mask)


@given(st.lists(dags(), min_size=1, max_size=4))
def test_networkx_round_trip(graphs):
    g = ArchGraph.from_dense([o for o, _ in graphs], [a for _, a in graphs], OPS, num_nodes=7)
    nxs = [g.to_networkx(b) for b in range(len(graphs))]
    assert [d.number_of_edges() for d in nxs] == g.num_edges().tolist()
    back = ArchGraph.from_networkx(nxs, OPS, num_nodes=7)
    assert torch.equal(back.X, g.X) and torch.equal(back.A, g.A)


def test_cat_pads_and_indexing():
    a = ArchGraph.from_dense([[0, 4]], [np.array([[0, 1], [0, 0]])], OPS)
    b = ArchGraph.from_dense([[0, 1, 4]], [np.triu(np.ones((3, 3)), 1)], OPS)
    c = ArchGraph.cat([a, b])
    assert c.X.shape == (2, 3, 5)
    assert c.mask.tolist() == [[True, True, False], [True, True, True]]
    assert c[1].num_edges().item() == 3 and len(c[0]) == 1
    with pytest.raises(GraphValidityError):
        c.pad_to(2)


def test_discretize_and_structural_errors():
    g = ArchGraph.from_dense([[0, 1, 4]], [np.triu(np.ones((3, 3)), 1)], OPS)
    noisy = ArchGraph(
        X=g.X + 0.3 * torch.randn_like(g.X).clamp(-1, 1) * 0.5, A=g.A * 0.8 + 0.05, mask=g.mask, ops=OPS
    )
    assert not noisy.is_well_formed().all()
    d = noisy.discretize()
    assert torch.equal(d.A, g.A) and torch.equal(d.X, g.X)
    cyc = ArchGraph(X=g.X, A=g.A + g.A.transpose(1, 2), mask=g.mask, ops=OPS)
    assert "A is not strictly upper-triangular" in cyc.structural_errors()[0]


def test_shape_errors_name_the_field():
    with pytest.raises(GraphValidityError, match="A must be"):
        ArchGraph(
            X=torch.zeros(1, 3, 5), A=torch.zeros(1, 2, 2), mask=torch.ones(1, 3, dtype=torch.bool), ops=OPS
        )
    with pytest.raises(GraphValidityError, match="ops has"):
        ArchGraph(
            X=torch.zeros(1, 3, 4), A=torch.zeros(1, 3, 3), mask=torch.ones(1, 3, dtype=torch.bool), ops=OPS
        )
    with pytest.raises(GraphValidityError, match="operation index"):
        ArchGraph.from_dense([[0, 9]], [np.zeros((2, 2))], OPS)


def test_reachability():
    adj = np.zeros((5, 5))
    adj[0, 1] = adj[1, 4] = adj[2, 3] = 1
    assert reachable_from(adj, 0).tolist() == [True, True, False, False, True]
    assert reaching(adj, -1).tolist() == [True, True, False, False, True]
