"""TransNAS-Bench-101 micro space: notation, enumeration order, graph encoding and isomorphism classes."""

import itertools

import pytest

from nag.errors import InvalidArchitectureError
from nag.spaces import get_space
from nag.spaces.nb201 import ADJACENCY
from nag.spaces.transnas101 import MICRO_OPS, TNBMicroArch
from tests.spaces.contract import SpaceContract


class TestTransNASMicroContract(SpaceContract):
    space_name = "transnas101_micro"


@pytest.fixture(scope="module")
def space():
    return get_space("transnas101_micro")


def test_code_tuple_notation(space):
    # NASLib's key of the first class_scene row: 0 none, 1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3
    a = space.parse("(1, 0, 0, 2, 1, 0)")
    assert a.ops == ("skip_connect", "none", "none", "nor_conv_1x1", "skip_connect", "none")
    assert space.format(a) == "(1, 0, 0, 2, 1, 0)" and a.codes == (1, 0, 0, 2, 1, 0)
    assert space.parse("1,0,0,2,1,0") == a == space.parse("[1, 0, 0, 2, 1, 0]")
    for bad in ("(1, 0, 0, 2, 1)", "(4, 0, 0, 0, 0, 0)", "(a, 0, 0, 0, 0, 0)"):
        with pytest.raises(InvalidArchitectureError, match="arch"):
            space.parse(bad)


def test_enumeration_and_index(space):
    archs = list(space.enumerate())
    assert len(archs) == space.size == 4**6 == len(set(archs))
    assert archs[0].codes == (0,) * 6 and archs[-1].codes == (3,) * 6
    assert [a.codes for a in archs[:5]] == list(itertools.islice(itertools.product(range(4), repeat=6), 5))
    for i in (0, 1, 777, 4095):
        assert space.index(space.from_index(i)) == i and space.from_index(i) == archs[i]
    with pytest.raises(InvalidArchitectureError, match="index"):
        space.from_index(4096)


def test_graph_is_nb201_layout(space):
    g = space.encode([space.parse("(3, 2, 1, 0, 3, 2)")])
    assert g.ops == ("input", *MICRO_OPS, "output")
    assert (g.A[0].numpy() == ADJACENCY).all()


def test_canonical_merges_isomorphic_cells(space):
    # a conv on an edge whose source carries nothing (node 1 fed by 'none') does not matter
    a = TNBMicroArch(("none", "nor_conv_3x3", "nor_conv_1x1", "none", "skip_connect", "nor_conv_3x3"))
    b = TNBMicroArch(("none", "nor_conv_3x3", "nor_conv_3x3", "none", "nor_conv_1x1", "nor_conv_3x3"))
    assert space.canonical(a) == space.canonical(b)
    assert space.canonical(a) != space.canonical(space.parse("(3, 3, 3, 3, 3, 3)"))
    assert len(space.neighbours(a)) == 18
