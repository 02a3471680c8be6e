"""NAS-Bench-201 space: notations, graph encoding, isomorphism classes and the real network."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nag.errors import InvalidArchitectureError
from nag.spaces import get_space
from nag.spaces.nb201 import ADJACENCY, OPS, NB201Arch
from tests.spaces.contract import SpaceContract

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
arch_st = st.tuples(*[st.sampled_from(OPS)] * 6).map(NB201Arch)


class TestNB201Contract(SpaceContract):
    space_name = "nb201"


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


def test_adjacency_follows_protocol():
    # PROTOCOL.md: 0→{1,2,4}, 1→{3,5}, 2→{6}, 3→{6}, 4→{7}, 5→{7}, 6→{7}
    expected = {0: {1, 2, 4}, 1: {3, 5}, 2: {6}, 3: {6}, 4: {7}, 5: {7}, 6: {7}, 7: set()}
    got = {i: set(np.nonzero(ADJACENCY[i])[0].tolist()) for i in range(8)}
    assert got == expected


def test_naslib_tuple_matches_table_example(space):
    # first row of the table: arch string and NASLib tuple as the data README describes them
    a = space.parse(
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    )
    assert a.naslib_tuple == (4, 3, 3, 0, 0, 0)
    assert space.parse("(4, 3, 3, 0, 0, 0)") == a


@given(arch_st)
def test_naslib_round_trip(a):
    assert NB201Arch.from_naslib(a.naslib_tuple) == a


def test_enumerate_and_index(space):
    archs = list(space.enumerate())
    assert len(archs) == space.size == 15_625
    assert len(set(archs)) == 15_625
    assert set(archs) == set(space.enumerate_product())
    assert space.index(space.parse(BEST_C10)) == 6111
    assert space.from_index(6111).arch_str == BEST_C10
    with pytest.raises(InvalidArchitectureError):
        space.from_index(15_625)


def test_isomorphism_classes_match_published_count(space):
    assert len({space.canonical(a) for a in space.enumerate_product()}) == 6466


def test_canonical_known_equivalences(space):
    # an edge whose source is cut off by 'none' does not matter
    a = space.parse("|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_1x1~2|")
    b = space.parse("|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    assert space.canonical(a) == space.canonical(b)
    # but the operation on a live edge does
    c = space.parse("|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    assert space.canonical(b) != space.canonical(c)


@pytest.mark.parametrize(
    "text",
    [
        "|conv~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|",
        "(1, 2, 3)",
        "(1, 2, 3, 4, 5, 9)",
    ],
)
def test_malformed_rejected_with_reason(space, text):
    with pytest.raises(InvalidArchitectureError, match="arch|naslib_tuple"):
        space.parse(text)


def test_decode_rejects_wrong_topology(space):
    g = space.encode([space.parse(BEST_C10)])
    A = g.A.clone()
    A[0, 1, 6] = 1.0
    from nag.graph import ArchGraph

    assert space.decode(ArchGraph(X=g.X, A=A, mask=g.mask, ops=g.ops)) == [None]
    X = g.X.clone()
    X[0, 3] = 0
    X[0, 3, 0] = 1  # 'input' op on an edge node
    assert space.decode(ArchGraph(X=X, A=g.A, mask=g.mask, ops=g.ops)) == [None]


def test_neighbours_differ_in_one_edge(space):
    a = space.parse(BEST_C10)
    nbrs = space.neighbours(a)
    assert len(nbrs) == 24
    assert all(sum(x != y for x, y in zip(a.ops, n.ops, strict=True)) == 1 for n in nbrs)


@pytest.mark.parametrize("num_classes,resolution", [(10, 32), (100, 32), (120, 16)])
def test_network_forward_shapes(space, num_classes, resolution):
    torch.manual_seed(0)
    net = space.to_module(space.parse(BEST_C10), num_classes=num_classes)
    out = net(torch.randn(2, 3, resolution, resolution))
    assert out.shape == (2, num_classes)
    assert net.forward_features(torch.randn(2, 3, resolution, resolution)).shape == (2, 64)


def test_param_formula_equals_full_builds(space):
    # num_params uses additivity over edges; check it against full network builds on a seeded sample
    archs = space.sample(25, seed=3) + [
        NB201Arch(ops) for ops in itertools.islice(itertools.product(OPS, repeat=6), 5)
    ]
    full = [sum(p.numel() for p in space.to_module(a).parameters()) for a in archs]
    assert space.num_params(archs).tolist() == full


def test_known_best_cell_params(space):
    # params_mb_cifar10 of index 6111 in the benchmark is 1.073466 (M); the official network gives the same
    net = space.to_module(space.parse(BEST_C10), num_classes=10)
    assert sum(p.numel() for p in net.parameters()) == 1_073_466


def test_cell_sums_edge_outputs(space):
    # all-skip cell: node1 = x, node2 = x + x, node3 = x + x + 2x = 4x
    from nag.spaces.nb201 import NB201Cell

    cell = NB201Cell(NB201Arch(("skip_connect",) * 6), 4)
    x = torch.randn(1, 4, 5, 5)
    assert torch.allclose(cell(x), 4 * x)
    zero = NB201Cell(NB201Arch(("none",) * 6), 4)
    assert torch.count_nonzero(zero(x)) == 0


def test_disconnected_cells_ignore_their_input(space):
    import torch

    cells = list(space.enumerate_product())
    cut = [a for a in cells if space.disconnected(a)]
    assert len(cut) == 341  # the cells on which NAS-Bench-Suite-Zero's jacob_cov is NaN
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    for a, expect_same in [(cut[0], True), (cut[-1], True), (space.parse(BEST_C10), False)]:
        net = space.to_module(a, C=4, N=1, num_classes=3).eval()
        with torch.no_grad():
            out = net(x)
        assert torch.allclose(out[0], out[1]) is expect_same, a.arch_str
