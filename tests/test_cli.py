"""The `nag` command: outputs, JSON, exit code 2 with one line for bad input, and a light import."""

import json
import subprocess
import sys

import pytest

from nag.benchmarks.data import expected_checksums
from nag.cli import main
from tests.conftest import requires_data, requires_images

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def run(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code or 0, out.out, out.err


def test_query_json(capsys):
    code, out, _ = run(["query", "--space", "nb201", "--arch", BEST, "--dataset", "in16", "--json"], capsys)
    assert code == 0
    rec = json.loads(out)
    assert rec["dataset"] == "ImageNet16-120"
    assert rec["values"]["test_acc"] == pytest.approx(46.71111, abs=1e-4)
    assert rec["cost_s"] > 0


def test_query_table_selected_metrics(capsys):
    code, out, _ = run(
        ["query", "--arch", "(4, 3, 3, 0, 0, 0)", "-m", "test_acc", "-m", "latency_pixel3"], capsys
    )
    assert code == 0
    assert "85.86" in out and "latency_pixel3" in out


@pytest.mark.parametrize(
    "args,field",
    [
        (["query", "--space", "nb999", "--arch", BEST], "space"),
        (["query", "--arch", "|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|"], "arch"),
        (["query", "--arch", "not an arch"], "arch"),
        (["query", "--arch", BEST, "--dataset", "mnist"], "dataset"),
        (["query", "--arch", BEST, "-m", "accuracy"], "metric"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, args, field):
    code, out, err = run(args, capsys)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}:"), err
    assert "Traceback" not in err


def test_unknown_command_exit_2(capsys):
    code, _, err = run(["frobnicate"], capsys)
    assert code == 2 and "No such command" in err


@requires_data(*expected_checksums())
def test_data_check_all_found(capsys):
    code, out, _ = run(["data", "check", "--json"], capsys)
    rows = json.loads(out)["files"]
    assert code == 0, [r for r in rows if r["status"] != "ok"]
    assert any(r["file"] == "nb201/nb201_table.csv.gz" and r["status"] == "ok" for r in rows)


def test_spaces_lists_all(capsys):
    code, out, _ = run(["spaces", "--json"], capsys)
    rows = {r["space"]: r for r in json.loads(out)}
    assert code == 0
    assert set(rows) == {"nb201", "nb101", "nasbench_graph", "mbv3"}
    assert rows["nb201"]["size"] == 15625 and rows["nb201"]["nodes"] == 8


def test_cli_import_is_light():
    # `nag --help` must not pay for torch / lightning / PyG / diffusers imports
    code = (
        "import sys, nag.cli; heavy = [m for m in ('torch', 'lightning', 'torch_geometric', 'diffusers', 'botorch') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    import torch

    from nag.diffusion.model import GraphDiffusionModel
    from nag.spaces import get_space

    sp = get_space("nb201")
    archs = sp.sample(500, seed=0)
    g = sp.encode(archs)
    torch.manual_seed(0)
    m = GraphDiffusionModel.for_space(sp, g, d_model=16, n_layers=1, n_heads=2)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    for _ in range(30):
        loss = m.loss(g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    path = tmp_path_factory.mktemp("ckpt") / "m.pt"
    m.save(path, extra={"train_archs": [sp.format(a) for a in archs]})
    return path


def test_generate_prints_n_distinct_and_writes_jsonl(capsys, tiny_checkpoint, tmp_path):
    out = tmp_path / "archs.jsonl"
    code, stdout, err = run(
        ["generate", "--checkpoint", str(tiny_checkpoint), "-n", "40", "--steps", "5", "--out", str(out)],
        capsys,
    )
    assert code == 0
    lines = stdout.strip().splitlines()
    assert len(lines) == 40 and len(set(lines)) == 40
    assert all(ln.startswith("|") and ln.endswith("|") for ln in lines)
    assert [json.loads(r)["arch"] for r in out.read_text().splitlines()] == lines
    assert "validity" in err and "novelty" in err


def test_generate_no_unique_csv(capsys, tiny_checkpoint, tmp_path):
    out = tmp_path / "archs.csv"
    code, stdout, _ = run(
        [
            "generate",
            "--checkpoint",
            str(tiny_checkpoint),
            "-n",
            "30",
            "--no-unique",
            "--steps",
            "5",
            "-q",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0 and len(stdout.strip().splitlines()) == 30
    assert out.read_text().splitlines()[0] == "arch" and len(out.read_text().splitlines()) == 31


@pytest.mark.parametrize(
    "args,field",
    [
        (["generate", "--solver", "euler"], "solver"),
        (["generate", "--checkpoint", "/nonexistent/m.pt"], "checkpoint"),
        (["generate", "-n", "0"], "n"),
        (["generate", "--space", "nb101", "--checkpoint", "CKPT"], "checkpoint"),
        (["generate", "--out", "x.txt"], "out"),
    ],
)
def test_generate_bad_input(capsys, tiny_checkpoint, args, field):
    args = [str(tiny_checkpoint) if a == "CKPT" else a for a in args]
    code, _, err = run(args, capsys)
    assert code == 2 and err.startswith(f"error: {field}:"), err


def test_train_diffusion_command(capsys, tmp_path):
    code, out, _ = run(
        [
            "train",
            "diffusion",
            "--space",
            "nb201",
            "--steps",
            "8",
            "--train-fraction",
            "0.05",
            "--out",
            str(tmp_path),
            "--accelerator",
            "cpu",
            "--devices",
            "1",
            "--threads",
            "1",
        ],
        capsys,
    )
    assert code == 0 and "trained nb201: 8 steps" in out
    assert (tmp_path / "model.pt").exists() and (tmp_path / "last.ckpt").exists()
    code, _, err = run(["train", "diffusion", "--train-fraction", "1.5"], capsys)
    assert code == 2 and err.startswith("error: train-fraction:")


def test_search_robot_prints_queries_then_pick(capsys, tmp_path):
    code, out, _ = run(
        [
            "search",
            "--method",
            "robot",
            "--dataset",
            "cifar10",
            "--budget",
            "6",
            "--json",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0
    rec = json.loads(out)
    assert len(rec["queries"]) <= 6 and rec["queries"][-1]["query"] == len(rec["queries"])
    best = max(q["signal"] for q in rec["queries"])
    assert rec["pick"]["signal"] == best and rec["pick"]["test_acc"] > 0


@pytest.mark.parametrize(
    "args,field",
    [
        (["search", "--method", "no-such-method"], "method"),
        (["search", "--space", "nb101"], "space"),
        (["search", "--signal", "test"], "signal"),
        (["search", "--dataset", "mnist", "--budget", "3"], "dataset"),
        (["search", "--method", "random", "--constraint", "latency<=fast"], "constraint"),
        (["search", "--method", "random", "--constraint", "latency:toaster<=3"], "constraint"),
        (["search", "--method", "random", "--executor", "dask"], "executor"),
        (["search", "--method", "random", "--space", "mbv3"], "space"),
        (["search", "--method", "random", "--budget", "0"], "budget"),
        (["search", "--resume", "/nonexistent/run"], "resume"),
        (["search", "--method", "random", "--option", "population_size"], "option"),
        (
            ["search", "--method", "evolution", "--budget", "2", "--option", "pop=3", "--out", "/tmp/x"],
            "option",
        ),
        (["report", "/nonexistent/run"], "run_dir"),
        (["zc", "compute", "--metrics", "synflow,nope"], "metrics"),
        (["zc", "compute", "--space", "mbv3"], "space"),
    ],
)
def test_search_and_zc_bad_input(capsys, args, field):
    code, _, err = run(args, capsys)
    assert code == 2 and err.startswith(f"error: {field}:"), err


@requires_images
def test_zc_compute_writes_csv_and_resumes(capsys, tmp_path):
    args = [
        "zc",
        "compute",
        "--metrics",
        "params,synflow",
        "--n",
        "3",
        "--batch-size",
        "4",
        "--cache",
        str(tmp_path / "c.jsonl"),
        "--out",
        str(tmp_path / "zc.csv"),
    ]
    code, out, _ = run(args, capsys)
    assert code == 0 and "computed 6 values, reused 0" in out
    assert (tmp_path / "zc.csv").read_text().splitlines()[0] == "arch,params,synflow"
    code, out, _ = run(args, capsys)
    assert code == 0 and "computed 0 values, reused 6" in out


def test_search_random_prints_queries_then_pick_last(capsys, tmp_path):
    args = ["search", "--method", "random", "--dataset", "cifar100", "--budget", "5", "--seed", "0"]
    code, out, err = run([*args, "--out", str(tmp_path / "r")], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [ln.split()[0] for ln in lines[:5]] == ["1", "2", "3", "4", "5"]
    assert len(lines) == 6 and lines[-1].startswith("pick: |") and "test_acc" in lines[-1]
    state = json.loads((tmp_path / "r" / "state.json").read_text())
    assert (
        lines[-1].split()[1] == max(zip(state["signals"], state["archs"], strict=True), key=lambda t: t[0])[1]
    )  # the pick is the best signal
    # the same run again into the same directory is refused; --resume continues (here: nothing left to do)
    code, _, err = run([*args, "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and err.startswith("error: out:")
    code, out2, _ = run(["search", "--resume", str(tmp_path / "r")], capsys)
    assert code == 0 and out2.strip().splitlines() == lines


def test_search_evolution_json_with_constraint(capsys, tmp_path):
    code, out, _ = run(
        [
            "search",
            "--method",
            "evolution",
            "--dataset",
            "in16",
            "--budget",
            "12",
            "--q",
            "3",
            "--constraint",
            "latency:edgegpu<=3.5",
            "--json",
            "--out",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0
    rec = json.loads(out)
    assert rec["dataset"] == "ImageNet16-120" and rec["constraints"] == ["latency_edgegpu<=3.5"]
    assert len(rec["queries"]) == 12 and rec["queries"][-1]["query"] == 12
    feasible = [q for q in rec["queries"] if q["feasible"]]
    assert all(q["latency_edgegpu"] <= 3.5 for q in feasible)
    assert rec["pick"]["signal"] == max(q["signal"] for q in feasible)
    assert rec["pick"]["report"]["latency_edgegpu"] <= 3.5


def test_report_table_and_plots(capsys, tmp_path):
    for seed in (0, 1):
        for method in ("random", "local"):
            code, _, _ = run(
                [
                    "search",
                    "--method",
                    method,
                    "--budget",
                    "12",
                    "--seed",
                    str(seed),
                    "--json",
                    "--out",
                    str(tmp_path / f"{method}-{seed}"),
                ],
                capsys,
            )
            assert code == 0
    code, out, err = run(["report", str(tmp_path), "--out", str(tmp_path / "report")], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("| method | space | dataset | signal | budget")
    rows = lines[2 : lines.index("")]
    assert {r.split(" | ")[0].strip("| ") for r in rows} == {"random", "local"}
    # the published NB201 CIFAR-10 figures beside ours (bo.published)
    pub = lines[lines.index("Published figures on the same space and datasets (`bo.published`):") + 3 :]
    assert {r.split(" | ")[0].strip("| ") for r in pub if r.startswith("| ")} >= {"RoBoT", "REA", "BANANAS"}
    assert any("| RoBoT | nb201 | cifar10 | 94.36 | pick | 20 |" in r for r in pub)
    assert all("2 (0–1)" in r and "94.37" in r for r in rows)  # seeds, and the CIFAR-10 signal ceiling
    assert any(ln.startswith("Cost outside the queries") for ln in lines)
    for name in ("report.md", "best_so_far.png", "cost.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0


def test_generate_with_constraints_prints_predicted_and_true_values(capsys):
    code, out, err = run(
        ["generate", "--space", "nb201", "-n", "6", "--constraint", "params<=0.3",
         "--constraint", "latency:edgegpu<=2.5", "--steps", "5"],
        capsys,
    )  # fmt: skip
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 6 and len({ln.split()[0] for ln in lines}) == 6
    for ln in lines:
        f = ln.split()
        params_true = float(f[f.index("params") + 4])
        assert params_true <= 0.3  # hard constraint, exact predictor
        assert "latency:edgegpu" in f
    assert "rejected by constraints" in err


@pytest.mark.parametrize(
    "args,field",
    [
        (["--constraint", "latency:edgegpu"], "constraint"),
        (["--constraint", "latency:nokia<=3"], "device"),
        (["--maximize", "flops"], "target"),
        (["--pareto", "accuracy:cifar10"], "pareto"),
        (["--schedule", "exp", "--constraint", "params<=0.3"], "schedule"),
    ],
)
def test_generate_guided_bad_input(capsys, args, field):
    code, _, err = run(["generate", "--space", "nb201", "-n", "3", *args], capsys)
    assert code == 2
    assert err.strip().startswith(f"error: {field}") and len(err.strip().splitlines()) == 1


def test_train_predictor_bad_input(capsys):
    code, _, err = run(["train", "predictor", "--target", "cifar10_bogus"], capsys)
    assert code == 2 and err.startswith("error: target")
    code, _, err = run(["train", "predictor", "--n-train", "1"], capsys)
    assert code == 2 and err.startswith("error: n_train")
