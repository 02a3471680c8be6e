"""Contract every `SearchSpace` must honour; subclass `SpaceContract` and set ``space_name``.

Checks: seeded samples are valid and reproducible; ``parse(format(a)) == a``; ``decode(encode(a)) == a``;
``encode`` gives well-formed upper-triangular graphs; neighbours are valid and distinct from the original;
``canonical`` is stable under relabelling the nodes of the graph (any topological order of the same DAG that
still decodes gives the same canonical form); garbage text is rejected with `InvalidArchitectureError`.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nag.errors import InvalidArchitectureError
from nag.graph import ArchGraph
from nag.spaces import get_space


class SpaceContract:
    space_name: str = ""

    @pytest.fixture(scope="class")
    def space(self):
        return get_space(self.space_name)

    def test_samples_valid_and_seeded(self, space):
        a = space.sample(50, seed=0)
        b = space.sample(50, seed=0)
        assert len(a) == 50
        assert a == b
        assert all(space.is_valid(x) for x in a), [space.validate(x) for x in a if not space.is_valid(x)]
        assert space.sample(50, seed=1) != a

    @given(seed=st.integers(0, 2**31 - 1))
    def test_text_round_trip(self, space, seed):
        for a in space.sample(5, seed=seed):
            assert space.parse(space.format(a)) == a

    @given(seed=st.integers(0, 2**31 - 1))
    def test_encode_decode_round_trip(self, space, seed):
        archs = space.sample(8, seed=seed)
        g = space.encode(archs)
        assert isinstance(g, ArchGraph)
        assert g.X.shape == (8, space.max_nodes, len(space.ops))
        assert g.is_well_formed().all(), g.structural_errors()
        assert space.decode(g) == archs

    @given(seed=st.integers(0, 2**31 - 1))
    def test_neighbours_valid(self, space, seed):
        (a,) = space.sample(1, seed=seed)
        nbrs = space.neighbours(a)
        assert nbrs, "every architecture should have at least one neighbour"
        assert all(space.is_valid(n) for n in nbrs)
        assert a not in nbrs
        assert len(set(nbrs)) == len(nbrs)
        m = space.mutate(a, seed=seed)
        assert m in nbrs

    @given(seed=st.integers(0, 2**31 - 1), perm_seed=st.integers(0, 2**31 - 1))
    def test_canonical_stable_under_relabelling(self, space, seed, perm_seed):
        (a,) = space.sample(1, seed=seed)
        g = space.encode([a])
        dg = g.to_networkx(0)
        rng = np.random.default_rng(perm_seed)
        perm = rng.permutation(dg.number_of_nodes())
        relabelled = nx.relabel_nodes(dg, {i: int(p) for i, p in enumerate(perm)})
        back = space.decode(ArchGraph.from_networkx([relabelled], space.ops, num_nodes=space.max_nodes))[0]
        if back is not None:  # another topological order of the same DAG
            assert space.canonical(back) == space.canonical(a)
        assert space.canonical(a) == space.canonical(space.parse(space.format(a)))

    @pytest.mark.parametrize("text", ["", "garbage", "|||", "[[1]]"])
    def test_bad_text_rejected(self, space, text):
        with pytest.raises(InvalidArchitectureError):
            space.parse(text)

    def test_decode_rejects_wrong_vocabulary(self, space):
        g = space.encode(space.sample(2, seed=0))
        bad = ArchGraph(X=g.X, A=g.A, mask=g.mask, ops=tuple(f"x{i}" for i in range(len(space.ops))))
        with pytest.raises(ValueError):
            space.decode(bad)
