"""The `nag` command on TransNAS-Bench-101 micro: listed, queried, searched (on the labelled cells), generated."""

import json

import pytest

from nag.benchmarks.transnas101 import ZC_FILES
from tests.conftest import requires_data
from tests.test_cli import run

pytestmark = requires_data(ZC_FILES["micro"])

SPACE = ["--space", "transnas101_micro"]


def test_spaces_lists_it_with_its_benchmark(capsys):
    code, out, _ = run(["spaces", "--json"], capsys)
    row = next(r for r in json.loads(out) if r["space"] == "transnas101_micro")
    assert code == 0 and row["size"] == 4096 and row["benchmark"] and row["nodes"] == 8


def test_query_reads_naslib_values(capsys):
    code, out, _ = run(
        ["query", *SPACE, "--dataset", "scene", "--arch", "(1, 0, 0, 2, 1, 0)", "--json"], capsys
    )
    rec = json.loads(out)
    assert code == 0 and rec["dataset"] == "class_scene" and rec["cost_s"] is None
    assert rec["values"]["val_accuracy"] == pytest.approx(34.8925171)
    assert rec["values"]["epe_nas"] is None  # NASLib's failure code


@pytest.mark.parametrize("method", ["random", "robot", "local"])
def test_search_queries_labelled_cells_only(capsys, tmp_path, method):
    from nag.benchmarks import get_benchmark

    args = ["search", *SPACE, "--dataset", "jigsaw", "--method", method, "--budget", "8", "--json"]
    code, out, err = run([*args, "--out", str(tmp_path / method)], capsys)
    assert code == 0, err
    rec = json.loads(out)
    labelled = {
        get_benchmark("transnas101_micro").space.format(a)
        for a in get_benchmark("transnas101_micro").labelled("jigsaw")
    }
    assert len(rec["queries"]) == 8 and all(q["arch"] in labelled for q in rec["queries"])
    assert rec["pick"]["signal"] == max(q["signal"] for q in rec["queries"])


def test_generate_uses_the_shipped_checkpoint(capsys, tmp_path):
    out = tmp_path / "g.jsonl"
    code, _, err = run(["generate", *SPACE, "-n", "10", "--quiet", "--out", str(out)], capsys)
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert len(lines) == 10
