"""NAS-Bench-101 space: the contract, the benchmark's rules and hash, NASLib's keys and the real network."""

from __future__ import annotations

import gzip
import json
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nag.benchmarks.data import resolve
from nag.errors import InvalidArchitectureError
from nag.spaces import get_space
from nag.spaces.nb101 import (
    AVAILABLE_OPS,
    CONV1X1,
    CONV3X3,
    GRAPH_OPS,
    INPUT,
    MAXPOOL3X3,
    OUTPUT,
    NB101Arch,
    compute_vertex_channels,
    graph_hash,
    prune,
)
from tests.conftest import skip_unless_data
from tests.spaces.contract import SpaceContract


class TestNB101Contract(SpaceContract):
    space_name = "nb101"


@pytest.fixture(scope="module")
def space():
    return get_space("nb101")


@pytest.fixture(scope="module")
def naslib_rows() -> dict[str, dict[str, float]]:
    """NASLib's 500 cells: key (49 adjacency entries + 7 op codes) -> metrics."""
    skip_unless_data("nb101/naslib_zc_nasbench101_500archs.json.gz")
    with gzip.open(resolve("nb101/naslib_zc_nasbench101_500archs.json.gz"), "rt") as f:
        return json.load(f)["nasbench101"]["cifar10"]


@pytest.fixture(scope="module")
def full_records() -> dict:
    """NASLib's 30 full benchmark records: official hash -> (fixed stats, computed stats)."""
    skip_unless_data("nb101/naslib_nb101_30archs.pkl")
    with open(resolve("nb101/naslib_nb101_30archs.pkl"), "rb") as f:
        return pickle.load(f)


def _cell(matrix, ops) -> NB101Arch:
    return NB101Arch(matrix=matrix, ops=ops)


CHAIN3 = _cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], (INPUT, CONV3X3, OUTPUT))
BARE = _cell([[0, 1], [0, 0]], (INPUT, OUTPUT))


def test_space_attributes(space):
    assert space.name == "nb101"
    assert space.ops == GRAPH_OPS == ("input", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "output")
    assert space.max_nodes == 7 and not space.fixed_topology
    assert get_space("nasbench101") is space


# ---------------------------------------------------------------------- NASLib's keys and the official hash
def test_all_naslib_cells_parse_prune_and_round_trip(space, naslib_rows):
    archs = [space.parse(k) for k in naslib_rows]
    assert all(space.validate(a) == [] for a in archs), [
        space.validate(a) for a in archs if space.validate(a)
    ]
    assert all(prune(a.matrix, a.ops) == a for a in archs)
    assert all(space.parse(space.format(a)) == a for a in archs)
    assert all(space.parse(str(a.naslib_tuple)) == a for a in archs)
    g = space.encode(archs)
    assert g.X.shape == (500, 7, 5) and g.is_well_formed().all()
    assert space.decode(g) == archs


def test_naslib_params_equal_closed_form_count(space, naslib_rows):
    # NASLib stores `params` in millions; it equals the benchmark network's count for every cell, which also pins
    # down its op codes (any other assignment of 2/3/4 to the three ops mismatches on most cells)
    for key, rec in naslib_rows.items():
        assert space.num_params(space.parse(key)) == round(rec["params"] * 1e6), key


def test_naslib_op_codes_cross_checked_with_full_record(space, naslib_rows, full_records):
    # the one cell present in both files: parsed from NASLib's codes it hashes to a record with op names
    shared = [k for k in naslib_rows if space.canonical(space.parse(k)) in full_records]
    assert len(shared) == 1
    a = space.parse(shared[0])
    fixed, _ = full_records[space.canonical(a)]
    assert sorted(a.ops) == sorted(fixed["module_operations"])
    assert a.num_edges == int(np.sum(fixed["module_adjacency"]))
    key = "(0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, "
    key += "0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 4, 4, 1)"
    assert key in naslib_rows  # codes 0 3 3 3 4 4 1; vertex 3 is pruned (it feeds nothing)
    assert space.parse(key).ops == (INPUT, CONV1X1, CONV1X1, CONV3X3, CONV3X3, OUTPUT)
    for code, op in [(2, MAXPOOL3X3), (3, CONV1X1), (4, CONV3X3)]:
        assert space.parse(f"(0, 1, 0, 0, 0, 1, 0, 0, 0, 0, {code}, 1)") == _cell(
            CHAIN3.matrix, (INPUT, op, OUTPUT)
        )


def test_hash_equals_official_keys(space, full_records):
    for key, (fixed, _) in full_records.items():
        a = _cell(fixed["module_adjacency"], fixed["module_operations"])
        assert space.validate(a) == []
        assert space.canonical(a) == key


@given(seed=st.integers(0, 2**31 - 1), perm_seed=st.integers(0, 2**31 - 1))
def test_hash_invariant_under_permuting_intermediate_vertices(space, seed, perm_seed):
    (a,) = space.sample(1, seed=seed)
    n = a.num_vertices
    perm = np.concatenate([[0], 1 + np.random.default_rng(perm_seed).permutation(n - 2), [n - 1]])
    m = a.adjacency()[np.ix_(perm, perm)]  # new vertex i is old vertex perm[i]
    ops = [a.ops[i] for i in perm]
    assert graph_hash(m, ops) == space.canonical(a)
    if not np.tril(m).any():  # still a topological order: a valid cell in its own right
        b = _cell(m, ops)
        assert space.is_valid(b) and space.canonical(b) == space.canonical(a)


def test_hash_separates_different_cells(space):
    other_op = _cell(CHAIN3.matrix, (INPUT, CONV1X1, OUTPUT))
    with_skip = _cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], CHAIN3.ops)
    assert len({space.canonical(x) for x in (CHAIN3, other_op, with_skip, BARE)}) == 4


# ---------------------------------------------------------------------- validity and pruning
TEN_EDGES = [[0, 1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 0, 0]]
TEN_EDGES += [[0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]]
OPS7 = (INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3, CONV1X1, OUTPUT)


@pytest.mark.parametrize(
    "matrix,ops,reason",
    [
        ([[0, 1, 0], [0, 0, 1], [1, 0, 0]], (INPUT, CONV3X3, OUTPUT), "not strictly upper-triangular"),
        ([[0, 1, 0], [0, 0, 1], [0, 1, 0]], (INPUT, CONV3X3, OUTPUT), "not strictly upper-triangular"),
        (TEN_EDGES, OPS7, "10 edges after pruning; at most 9"),
        ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], (INPUT, CONV3X3, OUTPUT), "input does not reach output"),
        (np.eye(8, k=1, dtype=int), (INPUT, *[CONV3X3] * 6, OUTPUT), "8 vertices; at most 7"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], (INPUT, "conv5x5", OUTPUT), "unknown intermediate op 'conv5x5'"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], (CONV1X1, CONV3X3, OUTPUT), "first op must be 'input'"),
        ([[0, 1, 1], [0, 0, 0], [0, 0, 0]], (INPUT, CONV3X3, OUTPUT), "not pruned: vertices [1]"),
    ],
)
def test_invalid_cells_rejected_with_reasons(space, matrix, ops, reason):
    a = _cell(matrix, ops)
    errs = space.validate(a)
    assert any(reason in e for e in errs), errs
    assert not space.is_valid(a)
    idx = [GRAPH_OPS.index(o) if o in GRAPH_OPS else 0 for o in ops]
    if "unknown" not in reason and "not pruned" not in reason:
        assert space.arch_of(idx, np.asarray(matrix)) is None
    with pytest.raises(InvalidArchitectureError):
        space.to_module(a)


def test_ten_edges_spec_is_fully_connected_so_pruning_keeps_it():
    assert np.sum(TEN_EDGES) == 10
    assert prune(TEN_EDGES, OPS7) == _cell(TEN_EDGES, OPS7)


def test_prune_removes_vertices_off_every_path():
    # vertex 2 is a dead end, vertex 3 is unreachable from the input; vertex 1 is kept
    m = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    ops = (INPUT, CONV3X3, MAXPOOL3X3, CONV1X1, OUTPUT)
    assert prune(m, ops) == CHAIN3
    assert prune([[0, 0], [0, 0]], (INPUT, OUTPUT)) is None
    with pytest.raises(ValueError, match="upper-triangular"):
        prune([[0, 0], [1, 0]], (INPUT, OUTPUT))


def test_parse_prunes_and_reports_instead_of_raising_on_rule_violations(space):
    raw = json.dumps({"matrix": [[0, 1, 1], [0, 0, 0], [0, 0, 0]], "ops": [INPUT, CONV3X3, OUTPUT]})
    assert space.parse(raw) == BARE
    cyc = space.parse('{"matrix": [[0, 1], [1, 0]], "ops": ["input", "output"]}')
    assert any("upper-triangular" in e for e in space.validate(cyc))


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        '{"matrix": [[0, 1]], "ops": ["input", "output"]}',
        '{"matrix": [[0, 2], [0, 0]], "ops": ["input", "output"]}',
        '{"matrix": [[0, 1], [0, 0]], "ops": ["input"]}',
        '{"matrix": [[0, 1], [0, 0]], "ops": ["input", 3]}',
        '{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"], "x": 1}',
        "(0, 1, 2)",
        "(0, 1, 0, 0, 0, 7)",
        "(0, x, 0, 0, 0, 1)",
        "[[0, 1], [0, 0]]",
    ],
)
def test_malformed_text_raises_one_line_error(space, text):
    with pytest.raises(InvalidArchitectureError) as e:
        space.parse(text)
    assert "\n" not in str(e.value)


def test_format_is_compact_json(space):
    assert (
        space.format(CHAIN3)
        == '{"matrix":[[0,1,0],[0,0,1],[0,0,0]],"ops":["input","conv3x3-bn-relu","output"]}'
    )


# ---------------------------------------------------------------------- sampling and neighbourhoods
def test_sampler_matches_naslib_sample_size_distribution(space, naslib_rows):
    # NASLib drew its 500 cells with the benchmark's random_spec; ours should give the same pruned-size law
    from scipy.stats import chisquare

    def counts(archs):
        c = np.bincount([min(a.num_vertices, 6) for a in archs], minlength=7)[2:]
        return c

    ref = counts(space.sample(5000, seed=0)) / 5000
    obs = counts([space.parse(k) for k in naslib_rows])
    assert chisquare(obs, ref * obs.sum()).pvalue > 1e-3


def test_neighbours_of_small_cells(space):
    nb = space.neighbours(CHAIN3)
    expected = {
        _cell(CHAIN3.matrix, (INPUT, CONV1X1, OUTPUT)),
        _cell(CHAIN3.matrix, (INPUT, MAXPOOL3X3, OUTPUT)),
        _cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], CHAIN3.ops),
    }
    assert set(nb) == expected and len(nb) == 3
    # the bare cell has no one-edit neighbour; it grows by one vertex instead
    assert set(space.neighbours(BARE)) == {_cell(CHAIN3.matrix, (INPUT, op, OUTPUT)) for op in AVAILABLE_OPS}


@given(seed=st.integers(0, 2**31 - 1))
def test_neighbours_are_pruned_and_never_isomorphic_to_the_original(space, seed):
    (a,) = space.sample(1, seed=seed)
    own = space.canonical(a)
    for b in space.neighbours(a):
        assert prune(b.matrix, b.ops) == b
        assert space.canonical(b) != own


# ---------------------------------------------------------------------- the real network
def test_vertex_channels():
    # vertices 2, 3, 4 feed the output: 10 channels split 4/3/3; vertex 1 feeds only 2 and 3 and takes the wider
    m = np.zeros((6, 6), dtype=int)
    for i, j in [(0, 1), (1, 2), (1, 3), (0, 4), (2, 5), (3, 5), (4, 5)]:
        m[i, j] = 1
    assert compute_vertex_channels(6, 10, m) == [6, 4, 4, 3, 3, 10]
    m2 = np.zeros((4, 4), dtype=int)
    m2[0, 1] = m2[1, 2] = m2[2, 3] = 1
    assert compute_vertex_channels(5, 8, m2) == [5, 8, 8, 8]
    assert compute_vertex_channels(5, 8, np.array([[0, 1], [0, 0]])) == [5, 8]


def test_network_params_equal_benchmark_for_30_records(space, full_records):
    for key, (fixed, _) in full_records.items():
        a = _cell(fixed["module_adjacency"], fixed["module_operations"])
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            net = space.to_module(a)
        built = sum(p.numel() for p in net.parameters() if p.requires_grad)
        assert built == fixed["trainable_parameters"] == space.num_params(a), key


def test_inception_like_cell_from_the_benchmark_readme(space):
    a = _cell(
        [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0]]
        + [[0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
        (INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT),
    )
    assert space.num_params(a) == 2694282  # trainable_parameters printed in the benchmark's README


@pytest.mark.parametrize("which", ["smallest", "input_to_output_and_concat"])
def test_forward_pass_gives_logits(space, full_records, which):
    torch.manual_seed(0)
    cells = [_cell(f["module_adjacency"], f["module_operations"]) for f, _ in full_records.values()]
    if which == "smallest":
        a = min(cells, key=space.num_params)
    else:  # a cell whose input feeds the output directly and whose output concatenates several vertices
        a = next(c for c in cells if c.matrix[0][-1] and sum(r[-1] for r in c.matrix[1:]) > 1)
    net = space.to_module(a)
    y = net(torch.randn(2, 3, 32, 32))
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    assert space.to_module(BARE, num_classes=3, stem_channels=8)(torch.randn(2, 3, 9, 9)).shape == (2, 3)


def test_decode_scores_valid_by_construction(space):
    import torch

    n = 7
    scores = torch.triu(torch.arange(1.0, n * n + 1).view(n, n), 1)  # every edge positive: 21 edges
    ops = torch.zeros(n, len(GRAPH_OPS))
    ops[:, GRAPH_OPS.index(CONV3X3)] = 1.0
    arch = space.decode_scores(ops, scores, n)
    assert arch is not None and space.is_valid(arch) and arch.num_edges <= 9
    assert arch.ops[0] == INPUT and arch.ops[-1] == OUTPUT
    # the strongest edges survive: the edge with the highest score (5 -> 6) is kept
    assert arch.matrix[len(arch.ops) - 2][len(arch.ops) - 1] == 1
    # no path from input to output: nothing to decode
    cut = torch.full((n, n), -1.0)
    cut[0, 1] = 1.0
    assert space.decode_scores(ops, cut, n) is None
