"""TransNAS-Bench-101 macro space: notation, the 3,256 networks, chain encoding, neighbours."""

import itertools

import pytest

from nag.errors import InvalidArchitectureError
from nag.spaces import get_space
from nag.spaces.transnas101 import MACRO_BLOCKS, TNBMacroArch
from tests.spaces.contract import SpaceContract


class TestTransNASMacroContract(SpaceContract):
    space_name = "transnas101_macro"


@pytest.fixture(scope="module")
def space():
    return get_space("transnas101_macro")


def test_notations(space):
    a = space.parse("(1, 2, 4, 2, 0, 0)")  # NASLib's key of the first macro class_scene row
    assert a.codes == (1, 2, 4, 2) and space.format(a) == "(1, 2, 4, 2, 0, 0)"
    assert a.transnas_str == "64-1242-basic" and space.parse("64-1242-basic") == a == space.parse("1,2,4,2")
    for bad, why in [
        ("(1, 1, 1, 1, 0, 0)", "downsampling"),  # no downsampling, no channel doubling
        ("(3, 3, 3, 3, 3, 2)", "downsampling"),  # five downsamplings
        ("(2, 2, 2, 4, 0, 0)", "channel-doubling"),  # four doublings
        ("(1, 2, 3, 0, 0, 0)", "4 to 6 blocks"),
        ("(1, 2, 5, 2, 0, 0)", "1..4"),
    ]:
        with pytest.raises(InvalidArchitectureError, match=why):
            space.parse(bad)


def test_the_3256_networks(space):
    archs = list(space.enumerate())
    assert len(archs) == space.size == 3256 == len(set(archs))
    brute = [
        c
        for n in (4, 5, 6)
        for c in itertools.product((1, 2, 3, 4), repeat=n)
        if 1 <= sum(x in (3, 4) for x in c) <= 4 and 1 <= sum(x in (2, 4) for x in c) <= 3
    ]
    assert [a.codes for a in archs] == brute
    assert all(space.from_index(space.index(a)) == a for a in archs[::97])


def test_chain_encoding_and_neighbours(space):
    a = TNBMacroArch((1, 2, 4, 2))
    g = space.encode([a])
    assert g.ops == ("input", *MACRO_BLOCKS, "output") and int(g.mask.sum()) == 6
    assert g.A[0, :6, :6].sum() == 5 and all(g.A[0, i, i + 1] == 1 for i in range(5))
    nb = space.neighbours(a)
    assert TNBMacroArch((1, 2, 4)) not in nb  # three blocks is too short
    assert TNBMacroArch((1, 2, 4, 2, 3)) in nb and TNBMacroArch((3, 2, 4, 2)) in nb
    assert all(space.is_valid(x) for x in nb)


def test_structured_decode_is_valid_and_best(space):
    import torch

    g = torch.Generator().manual_seed(0)
    for n in (6, 7, 8):
        for _ in range(20):
            scores = torch.randn(8, len(space.ops), generator=g)
            a = space.decode_scores(scores, torch.zeros(8, 8), n)
            assert a is not None and space.is_valid(a) and len(a.codes) == n - 2
            best = max(
                (b for b in space.enumerate() if len(b.codes) == n - 2),
                key=lambda b: sum(float(scores[i + 1, c]) for i, c in enumerate(b.codes)),
            )
            assert a == best
    assert space.decode_scores(torch.zeros(8, 6), torch.zeros(8, 8), 5) is None
