"""NAS-Bench-Graph space: the SpaceContract, the paper's count, and agreement with the package's own hash."""

import itertools
from collections import Counter

import numpy as np
import pytest
import torch
from nas_bench_graph.architecture import Arch, all_archs, gnn_list, gnn_list_proteins, link_list

from nag.errors import InvalidArchitectureError
from nag.graph import ArchGraph
from nag.spaces import get_space
from nag.spaces.nasbench_graph import (
    ALL_LINKS,
    GNN_OPS,
    GRAPH_OPS,
    LINK_STRUCTURES,
    NUM_ARCHS,
    PROTEINS_OPS,
    NBGArch,
)
from tests.spaces.contract import SpaceContract


class TestNASBenchGraphContract(SpaceContract):
    space_name = "nasbench_graph"


@pytest.fixture(scope="module")
def space():
    return get_space("nasbench_graph")


@pytest.fixture(scope="module")
def reps(space):
    return list(space.enumerate())


@pytest.fixture(scope="module")
def all_forms():
    """Every native form: 24 link lists x 9**4 op lists, the all-skip ones excluded (157,440)."""
    return [
        NBGArch(lk, ops)
        for lk in ALL_LINKS
        for ops in itertools.product(GNN_OPS, repeat=4)
        if any(o != "skip" for o in ops)
    ]


def test_constants_match_package():
    assert GNN_OPS == tuple(gnn_list)
    assert PROTEINS_OPS == tuple(gnn_list_proteins)
    assert LINK_STRUCTURES == tuple(tuple(lk) for lk in link_list)
    assert len(ALL_LINKS) == 24 and all(lk[i] <= i for lk in ALL_LINKS for i in range(4))
    assert GRAPH_OPS == ("input", *gnn_list, "output")


def test_size_and_enumeration_match_package(space, reps):
    assert space.size == NUM_ARCHS == 26206
    assert len(reps) == 26206
    assert len({space.canonical(a) for a in reps}) == 26206
    keys = [Arch(list(a.links), list(a.ops)).valid_hash() for a in reps]
    assert keys == sorted(keys) == list(space.keys())
    # the package's own enumeration (all_archs) gives the same representatives
    assert {(tuple(a.link), tuple(a.ops)) for a in all_archs()} == {(a.links, a.ops) for a in reps}
    assert [space.index(a) for a in reps[:50]] == list(range(50))
    assert space.from_index(123) == reps[123]
    with pytest.raises(InvalidArchitectureError):
        space.from_index(26206)


def test_every_architecture_valid_and_round_trips(space, reps):
    assert all(space.is_valid(a) for a in reps)
    g = space.encode(reps)
    assert g.X.shape == (26206, 6, 11)
    assert not torch.tril(g.A).any()
    assert g.mask.all()
    assert space.decode(g) == reps
    assert all(space.parse(space.format(a)) == a for a in reps[::13])


def test_every_native_form_round_trips_and_keeps_its_package_class(space, all_forms):
    g = space.encode(all_forms)
    assert space.decode(g) == all_forms
    rng = np.random.default_rng(0)
    for i in rng.choice(len(all_forms), 3000, replace=False):
        a = all_forms[i]
        h = Arch(list(a.links), list(a.ops)).valid_hash()
        assert space.bench_key(a) == h
        assert space.canonical(a) == space.canonical(space.from_index(space.keys().index(h)))
        # the package's reduction only renumbers nodes: the op multiset survives
        assert sorted(space.representative(a).ops) == sorted(a.ops)


def test_canonical_equal_exactly_when_package_hash_equal(space, all_forms):
    rng = np.random.default_rng(1)
    idx = rng.choice(len(all_forms), size=(4000, 2))
    same = diff = 0
    for i, j in idx:
        a, b = all_forms[i], all_forms[j]
        pa = Arch(list(a.links), list(a.ops)).valid_hash()
        pb = Arch(list(b.links), list(b.ops)).valid_hash()
        assert (space.canonical(a) == space.canonical(b)) == (pa == pb)
        diff += pa != pb
    for a in space.sample(200, seed=2):  # pairs within a class
        for m in space.equivalents(a):
            same += 1
            assert space.canonical(m) == space.canonical(a)
            assert Arch(list(m.links), list(m.ops)).valid_hash() == space.bench_key(a)
    assert same > 200 and diff > 3000


def test_canonical_invariant_under_every_relabelling(space):
    """Each topological order of a DAG's computing nodes gives a native form of the same class."""
    for a in space.sample(60, seed=3):
        ops, adj = space.graph_of(a)
        for perm in itertools.permutations(range(1, 5)):
            p = [0, *perm, 5]
            new_ops = [0] * 6
            new_adj = np.zeros_like(adj)
            for i in range(6):
                new_ops[p[i]] = ops[i]
                for j in range(6):
                    new_adj[p[i], p[j]] = adj[i, j]
            b = space.arch_of(new_ops, new_adj)
            if np.tril(new_adj).any():
                assert b is None  # not a topological order
            else:
                assert b is not None and space.canonical(b) == space.canonical(a)


def test_known_encoding():
    space = get_space("nasbench_graph")
    a = space.parse("links=[0,1,2,1];ops=[gcn,gin,fc,cheb]")
    ops, adj = space.graph_of(a)
    assert [GRAPH_OPS[o] for o in ops] == ["input", "gcn", "gin", "fc", "cheb", "output"]
    edges = {(int(i), int(j)) for i, j in zip(*np.nonzero(adj), strict=True)}
    assert edges == {(0, 1), (1, 2), (2, 3), (1, 4), (3, 5), (4, 5)}
    # the package's README calls [0, 1, 1, 2] + [gcn, cheb, gin, fc] the same network, but its own hash (and the
    # graph) say node 4 then reads cheb, not gin; [0, 1, 1, 3] is the relabelling of the same DAG
    assert space.canonical(a) == space.canonical(space.parse("links=[0,1,1,3];ops=[gcn,cheb,gin,fc]"))
    assert space.canonical(a) != space.canonical(space.parse("links=[0,1,1,2];ops=[gcn,cheb,gin,fc]"))
    assert len(space.equivalents(a)) == 3


def _graph(ops, edges):
    adj = np.zeros((6, 6), dtype=np.float32)
    for i, j in edges:
        adj[i, j] = 1
    return [GRAPH_OPS.index(o) for o in ops], adj


@pytest.mark.parametrize(
    "ops,edges",
    [
        (
            ["gcn", "gcn", "gat", "gin", "sage", "output"],
            [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (2, 5), (3, 5), (4, 5)],
        ),
        (
            ["input", "gcn", "gat", "gin", "sage", "gcn"],
            [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (2, 5), (3, 5), (4, 5)],
        ),
        (
            ["input", "output", "gat", "gin", "sage", "output"],
            [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (2, 5), (3, 5), (4, 5)],
        ),
        (
            ["input", "gcn", "gat", "gin", "sage", "output"],
            [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (2, 5), (3, 5)],
        ),
        (
            ["input", "gcn", "gat", "gin", "sage", "output"],
            [(0, 1), (0, 2), (0, 3), (1, 5), (2, 5), (3, 5), (4, 5)],
        ),
        (
            ["input", "gcn", "gat", "gin", "sage", "output"],
            [(0, 1), (0, 2), (1, 2), (0, 3), (0, 4), (2, 5), (3, 5), (4, 5)],
        ),
        (
            ["input", "gcn", "gat", "gin", "sage", "output"],
            [(0, 1), (1, 2), (0, 3), (0, 4), (1, 5), (2, 5), (3, 5), (4, 5)],
        ),
        (
            ["input", "gcn", "gat", "gin", "sage", "output"],
            [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 5), (2, 5), (3, 5), (4, 5)],
        ),
        (
            ["input", "gcn", "gat", "gin", "sage", "output"],
            [(0, 1), (2, 1), (0, 3), (0, 4), (1, 5), (3, 5), (4, 5)],
        ),
        (
            ["input", "skip", "skip", "skip", "skip", "output"],
            [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (2, 5), (3, 5), (4, 5)],
        ),
    ],
    ids=[
        "no-input",
        "no-output",
        "output-inside",
        "leaf-not-wired",
        "two-parent-free",
        "two-parents",
        "non-leaf-to-output",
        "input-to-output",
        "lower-triangular",
        "all-skip",
    ],
)
def test_invalid_graphs_decode_to_none(space, ops, edges):
    op_idx, adj = _graph(ops, edges)
    assert space.arch_of(op_idx, adj) is None
    g = ArchGraph.from_dense([op_idx], [adj], GRAPH_OPS, num_nodes=6)
    assert space.decode(g) == [None]


def test_random_graphs_decode_to_valid_archs_or_none(space):
    """Any discrete graph decodes to None or to a valid arch whose encoding is that very graph (a bijection)."""
    rng = np.random.default_rng(4)
    b = 20000
    x = np.zeros((b, 6, len(GRAPH_OPS)), dtype=np.float32)
    ops = rng.integers(0, len(GRAPH_OPS), size=(b, 6))
    ops[: b // 2, 0], ops[: b // 2, 5] = 0, len(GRAPH_OPS) - 1  # half with the right end nodes
    ops[: b // 2, 1:5] = rng.integers(1, 10, size=(b // 2, 4))
    np.put_along_axis(x, ops[:, :, None], 1.0, axis=2)
    a = np.triu((rng.random((b, 6, 6)) < rng.random((b, 1, 1))).astype(np.float32), k=1)
    # a quarter: encodings of random native forms with one random entry flipped or left as is
    forms = [NBGArch(ALL_LINKS[rng.integers(24)], tuple(rng.choice(GNN_OPS, 4))) for _ in range(b // 4)]
    forms = [f if space.is_valid(f) else NBGArch(f.links, ("gcn",) * 4) for f in forms]
    enc = space.encode(forms)
    x[: b // 4], a[: b // 4] = enc.X.numpy(), enc.A.numpy()
    flip = rng.integers(0, 6, size=(b // 8, 2))
    a[np.arange(b // 8), flip[:, 0], flip[:, 1]] = 1 - a[np.arange(b // 8), flip[:, 0], flip[:, 1]]
    g = ArchGraph(
        X=torch.from_numpy(x), A=torch.from_numpy(a), mask=torch.ones(b, 6, dtype=torch.bool), ops=GRAPH_OPS
    )
    out = space.decode(g)
    ok = [i for i, d in enumerate(out) if d is not None]
    assert all(space.is_valid(out[i]) for i in ok)
    back = space.encode([out[i] for i in ok])
    assert torch.equal(back.X, g.X[ok]) and torch.equal(back.A, g.A[ok])
    assert b // 8 <= len(ok) < b  # the unflipped encodings decode, random graphs mostly do not


def test_decode_handles_padding_and_relaxed_inputs(space):
    archs = space.sample(4, seed=5)
    g = space.encode(archs)
    assert space.decode(g.pad_to(9)) == archs
    noisy = ArchGraph(X=g.X * 0.8 + 0.01, A=g.A * 0.7 + 0.1, mask=g.mask, ops=g.ops)
    assert space.decode(noisy) == archs
    small = ArchGraph(X=g.X[:, :5], A=g.A[:, :5, :5], mask=g.mask[:, :5], ops=g.ops)
    assert space.decode(small) == [None] * 4


def test_validate_reasons(space):
    assert space.validate(NBGArch((0, 0, 1, 2), ("gcn", "gat", "sage", "gin"))) == []
    (r,) = space.validate(NBGArch((0, 2, 0, 0), ("gcn", "gat", "sage", "gin")))
    assert "links[1]=2" in r
    (r,) = space.validate(NBGArch((0, 0, 1, 2), ("gcn", "gat", "conv", "gin")))
    assert "ops[2]='conv'" in r and "accepted" in r
    (r,) = space.validate(NBGArch((0, 0, 0, 0), ("skip",) * 4))
    assert "skip" in r
    assert space.validate(NBGArch((0, 0, 1), ("gcn",) * 3))
    assert space.validate("links=[0,0,0,0];ops=[gcn,gcn,gcn,gcn]")  # type: ignore[arg-type]
    assert NBGArch(np.array([0, 0, 1, 2]), ["gcn"] * 4) == NBGArch((0, 0, 1, 2), ("gcn",) * 4)
    with pytest.raises(InvalidArchitectureError):
        space.encode([NBGArch((0, 3, 0, 0), ("gcn",) * 4)])
    with pytest.raises(InvalidArchitectureError):
        space.canonical(NBGArch((0, 0, 0, 0), ("skip",) * 4))


def test_parse_forms(space):
    a = NBGArch((0, 0, 1, 2), ("gcn", "gat", "sage", "gin"))
    assert space.format(a) == "links=[0,0,1,2];ops=[gcn,gat,sage,gin]"
    assert space.parse(" links = [0, 0, 1, 2] ; ops = ['gcn', \"GAT\", sage, gin] ") == a
    assert space.parse('{"links": [0, 0, 1, 2], "ops": ["gcn", "gat", "sage", "gin"]}') == a


@pytest.mark.parametrize(
    "text",
    [
        "links=[0,0,1];ops=[gcn,gat,sage]",
        "links=[0,0,1,5];ops=[gcn,gat,sage,gin]",
        "links=[0,a,1,2];ops=[gcn,gat,sage,gin]",
        "links=[0,0,1,2];ops=[gcn,gat,sage,transformer]",
        "links=[0,0,0,0];ops=[skip,skip,skip,skip]",
        "ops=[gcn,gat,sage,gin];links=[0,0,1,2]",
        '{"links": [0, 0, 1, 2]}',
        '{"links": [0, 0, 1, 2], "ops": "gcn"}',
        '{"links": [0, 0, 1.5, 2], "ops": ["gcn", "gat", "sage", "gin"]}',
        "{not json",
    ],
)
def test_malformed_text_one_line_error(space, text):
    with pytest.raises(InvalidArchitectureError) as e:
        space.parse(text)
    assert "\n" not in str(e.value)


def test_sample_uniform_over_classes(space, reps):
    s = space.sample(60000, seed=6)
    assert set(s) <= set(reps)
    # class frequency of each link structure of the representatives vs. its share of the 26,206 classes
    expected = Counter(a.links for a in reps)
    got = Counter(a.links for a in s)
    for lk, n in expected.items():
        p = n / 26206
        sd = (p * (1 - p) / 60000) ** 0.5
        assert abs(got[lk] / 60000 - p) < 5 * sd, lk
    assert len({space.canonical(a) for a in s}) > 0.85 * 26206  # 1 - exp(-60000/26206) ~ 0.90


def test_neighbours_class_level_and_symmetric(space):
    a = space.parse("links=[0,1,2,3];ops=[gcn,gin,gat,fc]")
    nbrs = space.neighbours(a)
    assert space.representative(space.parse("links=[0,1,2,3];ops=[gcn,gin,gat,sage]")) in nbrs
    assert space.representative(space.parse("links=[0,1,2,2];ops=[gcn,gin,gat,fc]")) in nbrs
    for b in space.sample(15, seed=7):
        nb = space.neighbours(b)
        assert len({space.canonical(x) for x in nb}) == len(nb)
        assert space.canonical(b) not in {space.canonical(x) for x in nb}
        for m in space.equivalents(b):
            assert space.neighbours(m) == nb
        for c in nb[:: max(1, len(nb) // 4)]:
            assert space.representative(b) in space.neighbours(c)


def test_proteins_subspace_has_2021_classes(space, reps):
    assert sum(space.in_proteins_space(a) for a in reps) == 2021
