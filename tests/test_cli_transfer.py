"""`nag search` / `nag generate` with ``--transfer-from``: bad input (one line, exit 2, nothing written), a tiny
search that names its sources and the prior's cost, RoBoT's source-chosen start, generation with k = 0."""

import json

import pytest

from tests.test_cli import run

SRC = "cifar10,ImageNet16-120"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--transfer-from", "cifar100"], "the target itself"),
        (["--transfer-from", "cora"], "nasbench_graph"),
        (["--transfer-from", "nope"], "nope"),
        (["--transfer-from", ","], "transfer_from"),
        (["--transfer-from", "cifar10", "--method", "evolution"], "evolution"),
    ],
)
def test_search_bad_sources(capsys, tmp_path, extra, needle):
    out = tmp_path / "run"
    code, _, err = run(
        ["search", "--dataset", "cifar100", "--budget", "2", "--out", str(out), *extra], capsys
    )
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_generate_bad_sources(capsys):
    base = ["generate", "--maximize", "accuracy:cifar100", "--n-train", "0", "-n", "4"]
    for extra, needle in ((["--transfer-from", "cifar100"], "the target itself"),
                          (["--transfer-from", "cora"], "nasbench_graph")):  # fmt: skip
        code, out, err = run([*base, *extra], capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and not out
    code, _, err = run(["generate", "--maximize", "latency:pixel3", "--transfer-from", "cifar10"], capsys)
    assert code == 2 and "accuracy" in err


def test_search_with_transfer(capsys, tmp_path):
    out = tmp_path / "run"
    code, text, err = run(["search", "--dataset", "cifar100", "--budget", "3", "--transfer-from", SRC,
                           "--out", str(out)], capsys)  # fmt: skip
    assert code == 0
    assert "transfer: sources nb201/cifar10/val_acc_hp12, nb201/ImageNet16-120/val_acc_hp12" in text
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert cfg["method"] == "diffusion-bo"  # auto with --transfer-from
    assert cfg["method_options"]["transfer_from"] == ["cifar10", "ImageNet16-120"]
    code, rep, _ = run(["report", str(out)], capsys)
    assert code == 0 and "source tasks nb201/cifar10/val_acc_hp12" in rep and "building the prior cost" in rep
    code, js, _ = run(["search", "--dataset", "cifar100", "--budget", "2", "--transfer-from", "c10", "--json",
                       "--out", str(tmp_path / "run2")], capsys)  # fmt: skip
    assert code == 0 and json.loads(js)["transfer"]["sources"] == ["nb201/cifar10/val_acc_hp12"]


def test_robot_with_transfer(capsys, tmp_path):
    out = tmp_path / "run"
    code, text, _ = run(["search", "--method", "robot", "--dataset", "cifar100", "--budget", "3",
                         "--transfer-from", SRC, "--out", str(out)], capsys)  # fmt: skip
    assert code == 0 and "transfer: sources" in text
    # the sources' best weights start phase 1: their top-1 is among CIFAR-100's best cells at once
    first = float(text.splitlines()[0].split("signal")[1].split()[0])
    assert first > 60.0


def test_generate_with_transfer_k0(capsys):
    code, out, err = run(["generate", "--maximize", "accuracy:cifar100", "--transfer-from", SRC, "--n-train", "0",
                          "-n", "8", "--pool", "16", "--steps", "10", "--quiet"], capsys)  # fmt: skip
    assert code == 0
    assert len(out.strip().splitlines()) == 8
    assert (
        "transfer: prior source from nb201/cifar10/val_acc_hp12" in err and "adapted from 0 cifar100" in err
    )
