"""The `nag` command on TransNAS-Bench-101 (micro, macro): listed, queried, searched on the labelled architectures,
generated from the shipped checkpoints."""

import json

import pytest

from nag.benchmarks.transnas101 import ZC_FILES
from tests.conftest import requires_data
from tests.test_cli import run

pytestmark = requires_data(ZC_FILES["micro"], ZC_FILES["macro"])

SPACES = ("transnas101_micro", "transnas101_macro")


def test_spaces_lists_them_with_their_benchmark(capsys):
    code, out, _ = run(["spaces", "--json"], capsys)
    rows = {r["space"]: r for r in json.loads(out)}
    assert (
        code == 0 and rows["transnas101_micro"]["size"] == 4096 and rows["transnas101_macro"]["size"] == 3256
    )
    assert all(rows[s]["benchmark"] and rows[s]["nodes"] == 8 for s in SPACES)


@pytest.mark.parametrize(
    "space,arch,value",
    [
        ("transnas101_micro", "(1, 0, 0, 2, 1, 0)", 34.8925171),
        ("transnas101_macro", "64-1242-basic", 54.2943878),
    ],
)
def test_query_reads_naslib_values(capsys, space, arch, value):
    code, out, _ = run(["query", "--space", space, "--dataset", "scene", "--arch", arch, "--json"], capsys)
    rec = json.loads(out)
    assert code == 0 and rec["dataset"] == "class_scene" and rec["cost_s"] is None
    assert rec["values"]["val_accuracy"] == pytest.approx(value)
    assert rec["values"]["epe_nas"] is None  # NASLib's failure code


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("method", ["random", "robot", "local", "evolution", "diffusion-bo", "bananas"])
def test_search_queries_labelled_architectures_only(capsys, tmp_path, space, method):
    from nag.benchmarks import get_benchmark

    args = ["search", "--space", space, "--dataset", "jigsaw", "--method", method, "--budget", "8", "--json"]
    code, out, err = run([*args, "--out", str(tmp_path / method)], capsys)
    assert code == 0, err
    rec = json.loads(out)
    bench = get_benchmark(space)
    labelled = {bench.space.format(a) for a in bench.labelled("jigsaw")}
    assert len(rec["queries"]) == 8 and all(q["arch"] in labelled for q in rec["queries"])
    assert rec["pick"]["signal"] == max(q["signal"] for q in rec["queries"])


@pytest.mark.parametrize("space", SPACES)
def test_generate_uses_the_shipped_checkpoint(capsys, tmp_path, space):
    out = tmp_path / "g.jsonl"
    code, _, err = run(["generate", "--space", space, "-n", "10", "--quiet", "--out", str(out)], capsys)
    assert code == 0, err
    assert len(out.read_text().splitlines()) == 10
