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
    from nag.spaces import space_names

    # every registered space (a space added by one registry line is listed without touching this test)
    assert list(rows) == space_names() and {"nb201", "nb101", "nasbench_graph", "mbv3"} <= set(rows)
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
        (["generate", "--solver", "euler"], "--solver"),
        (["generate", "--checkpoint", "/nonexistent/m.pt"], "checkpoint"),
        (["generate", "-n", "0"], "-n"),
        (["generate", "--space", "nb101", "--checkpoint", "CKPT"], "checkpoint"),
        (["generate", "--out", "x.txt"], "--out"),
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
    assert code == 2 and err.startswith("error: --train-fraction:")


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
        (["search", "--space", "nb101", "--method", "robot"], "--method"),
        (["search", "--signal", "test"], "signal"),
        (["search", "--dataset", "mnist", "--budget", "3"], "dataset"),
        (["search", "--method", "random", "--constraint", "latency<=fast"], "constraint"),
        (["search", "--method", "random", "--constraint", "latency:toaster<=3"], "constraint"),
        (["search", "--method", "random", "--executor", "dask"], "executor"),
        (["search", "--method", "random", "--space", "mbv3"], "space"),
        (["search", "--method", "random", "--budget", "0"], "--budget"),
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
        (["--schedule", "exp", "--constraint", "params<=0.3"], "--schedule"),
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
    assert code == 2 and err.startswith("error: --n-train")


# ------------------------------------------------------------------------------------------------ issue 16: contract
@pytest.mark.parametrize(
    "args,field",
    [
        (["generate", "--seed", str(2**32)], "--seed"),
        (["generate", "--seed", "-1"], "--seed"),
        (["generate", "--steps", "0"], "--steps"),
        (["generate", "--steps", "5000"], "--steps"),
        (["generate", "-n", "20000"], "-n"),
        (["generate", "-n", "2000000", "--no-unique"], "-n"),
        (["generate", "--pool", "-1"], "--pool"),
        (["generate", "--maximize", "accuracy:cifar10", "--guidance-scale", "nan"], "--guidance-scale"),
        (["generate", "--constraint-scale", "inf", "--constraint", "params<=0.3"], "--constraint-scale"),
        (["generate", "--maximize", "accuracy:cifar10", "--n-train", "0"], "--n-train"),
        (["generate", "--constraint", "latency:edgegpu<=-1"], "constraint"),
        (["generate", "--constraint", "params>=1000"], "constraint"),
        (["generate", "--pareto", "accuracy:cifar10,latency:nodevice"], "device"),
        (["generate", "--maximize", "accuracy:mnist"], "dataset"),
        (["train", "predictor", "--ensemble", "0"], "--ensemble"),
        (["train", "predictor", "--features", "bogus"], "--features"),
        (["train", "predictor", "--accelerator", "tpu"], "--accelerator"),
        (["train", "predictor", "--seed", str(2**70)], "--seed"),
        (["train", "predictor", "--target", "foo"], "target"),
        (["train", "diffusion", "--steps", "0"], "--steps"),
        (["train", "diffusion", "--minutes", "-1"], "--minutes"),
        (["train", "diffusion", "--devices", "0"], "--devices"),
        (["train", "diffusion", "--threads", "0"], "--threads"),
        (["train", "diffusion", "--accelerator", "tpu"], "--accelerator"),
        (["zc", "compute", "--metrics", ""], "--metrics"),
        (["zc", "compute", "--batch-size", "0"], "--batch-size"),
        (["zc", "compute", "--workers", "-1"], "--workers"),
        (["zc", "compute", "--n", "100000"], "--n"),
        (["search", "--method", "random", "--budget", "100000"], "--budget"),
        (["search", "--method", "random", "--budget", "4", "--q", "5"], "--q"),
        (["search", "--method", "random", "--seed", "-1"], "--seed"),
        (["search", "--method", "random", "--workers", "-1"], "--workers"),
        (["search", "--method", "random", "--option", "beta=NaN"], "option"),
        (["search", "--method", "diffusion-bo", "--option", "pool=-5"], "option"),
        (["search", "--method", "diffusion-bo", "--option", "pool=many"], "option"),
        (["search", "--method", "bananas", "--option", "colour=blue"], "option"),
        (["search", "--method", "bananas", "--option", "n_init=2.5"], "option"),
        (["search", "--method", "diffusion-bo", "--option", "acquisition=pi"], "acquisition"),
        (["search", "--method", "evolution", "--option", "population_size=abc"], "option"),
        (["search", "--method", "random", "--constraint", "latency:edgegpu<=-1"], "constraint"),
        (["search", "--method", "random", "--signal", "val200", "--dataset", "cifar100"], "signal"),
    ],
)
def test_every_argument_checked_exit_2_one_line(capsys, tmp_path, monkeypatch, args, field):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(args, capsys)
    assert code == 2, err
    assert err.startswith(f"error: {field}") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and out == ""
    assert (
        list(tmp_path.iterdir()) == []
    )  # nothing created: no run directory, no cache in the working directory


def test_method_options_come_from_the_config_dataclass(capsys):
    """diffusion-bo and bananas options are the fields of `DiffusionBOConfig` (BANANAS: its `BananasConfig` preset,
    whose defaults decide the types)."""
    _, _, err = run(["search", "--method", "bananas", "--option", "colour=blue"], capsys)
    assert err.startswith(
        "error: option: unknown value 'colour'; accepted: acquisition, beta, beta_decay, checkpoint"
    )
    _, _, err = run(["search", "--method", "bananas", "--option", "n_init=2.5"], capsys)
    assert err.strip() == "error: option: n_init=2.5 has the wrong type; accepted: an int (default 10)"


def test_wrong_field_names_fixed(capsys):
    _, _, err = run(["train", "predictor", "--target", "foo"], capsys)
    assert err.startswith("error: target: unknown value 'foo'; accepted: cifar10_<metric>")
    _, _, err = run(["search", "--method", "random", "--signal", "val200", "--dataset", "cifar100"], capsys)
    assert "'val200'" in err and "val_acc" not in err and "accepted: target, cifar10" in err


def test_out_checked_before_training(capsys, tmp_path):
    import time

    blocker = tmp_path / "file"
    blocker.write_text("x")
    for args in (
        ["train", "predictor", "--out", str(blocker / "p.pt")],
        ["train", "predictor", "--out", str(tmp_path)],
        ["train", "diffusion", "--out", str(blocker)],
        ["generate", "--out", str(blocker / "a.jsonl")],
        ["zc", "compute", "--out", str(tmp_path / "d.csv"), "--cache", str(tmp_path)],
        ["search", "--method", "random", "--out", str(blocker)],
    ):
        t0 = time.perf_counter()
        code, out, err = run(args, capsys)
        assert code == 2 and err.startswith(("error: --out:", "error: --cache:")), err
        assert time.perf_counter() - t0 < 1.0 and out == ""
    (tmp_path / "d.jsonl").mkdir()
    code, _, err = run(["generate", "--out", str(tmp_path / "d.jsonl")], capsys)
    assert code == 2 and "is a folder" in err


def test_hostile_checkpoint_never_runs_from_the_cli(capsys, tmp_path):
    import builtins

    import torch

    from nag.checkpoint import default_checkpoint, load_checkpoint

    class Payload:
        def __reduce__(self):
            return (builtins.open, (str(tmp_path / "PAYLOAD_RAN"), "w"))

    state = load_checkpoint(default_checkpoint("nb201"), "the shipped model", user_given=False)
    state["extra"] = {"x": Payload()}
    torch.save(state, tmp_path / "m.pt")
    for args in (["generate", "--checkpoint", str(tmp_path / "m.pt"), "-n", "2"],
                 ["train", "predictor", "--noise-aware", str(tmp_path / "m.pt"), "--n-train", "10"]):  # fmt: skip
        code, out, err = run(args, capsys)
        assert code == 2 and err.startswith("error: checkpoint:") and "refused, not run" in err, err
        assert not (tmp_path / "PAYLOAD_RAN").exists() and out == ""


def test_lightning_ckpt_says_which_file_to_pass(capsys, tmp_path):
    import torch

    torch.save({"pytorch-lightning_version": "2.4.0", "state_dict": {}}, tmp_path / "last.ckpt")
    code, _, err = run(["generate", "--checkpoint", str(tmp_path / "last.ckpt")], capsys)
    assert code == 2 and "Lightning training checkpoint" in err and str(tmp_path / "model.pt") in err


def test_missing_checkpoint_message(capsys, monkeypatch, tmp_path):
    """A space whose shipped generator is missing (every space ships one now: simulated) says how to train one."""
    import nag.checkpoint

    monkeypatch.setattr(nag.checkpoint, "default_checkpoint", lambda name: tmp_path / f"diffusion_{name}.pt")
    code, _, err = run(["generate", "--space", "mbv3"], capsys)
    assert code == 2 and "nag train diffusion --space mbv3" in err
    assert err.count("diffusion_mbv3.pt") == 1  # named once, not as value and accepted value


def test_runtime_failure_exit_1_one_line_and_debug_traceback(capsys, monkeypatch):
    import nag.spaces

    def boom(*a, **k):
        raise KeyError("nb201")  # a bug: stays visible as exit 1, never a usage error

    monkeypatch.setattr(nag.spaces, "space_names", boom)
    code, _, err = run(["spaces"], capsys)
    assert (
        code == 1 and err == "error: spaces failed: KeyError: 'nb201' (run with --debug for the traceback)\n"
    )
    code, _, err = run(["--debug", "spaces"], capsys)
    assert (
        code == 1 and "Traceback (most recent call last)" in err and err.strip().endswith("KeyError: 'nb201'")
    )


def test_nag_runtime_error_and_signals(capsys, monkeypatch):
    import os
    import signal

    import nag.spaces
    from nag.errors import NagRuntimeError

    def fail(*a, **k):
        raise NagRuntimeError("state.json in runs/x: truncated")

    monkeypatch.setattr(nag.spaces, "space_names", fail)
    code, _, err = run(["spaces"], capsys)
    assert code == 1 and err == "error: state.json in runs/x: truncated\n"

    def ctrl_c(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(nag.spaces, "space_names", ctrl_c)
    code, _, err = run(["spaces"], capsys)
    assert code == 130 and err.strip() == "interrupted (SIGINT)"

    def sigterm(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler main() installs raises Terminated here
        raise AssertionError("SIGTERM did not interrupt")

    monkeypatch.setattr(nag.spaces, "space_names", sigterm)
    before = signal.getsignal(signal.SIGTERM)
    code, _, err = run(["spaces"], capsys)
    assert code == 143 and err.strip() == "terminated (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) is before  # restored after main()


def test_data_check_wrong_checksum_exits_1(capsys, tmp_path, monkeypatch):
    """A data file whose SHA-256 differs from what the package expects is listed as wrong, exit 1 (as --help says)."""
    from nag.benchmarks.data import expected_checksums

    rel = min(expected_checksums())  # any file this version expects; $NAG_DATA_DIR is searched first
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_bytes(b"edited")
    monkeypatch.setenv("NAG_DATA_DIR", str(tmp_path))
    code, out, _ = run(["data", "check", "--json"], capsys)
    rows = {r["file"]: r for r in json.loads(out)["files"]}
    assert code == 1 and rows[rel]["status"] == "wrong checksum" and rows[rel]["path"] == str(tmp_path / rel)


def test_search_help_lists_every_method(capsys):
    from bo.loop import method_names
    from nag.cli import _SEARCH_METHODS

    assert set(_SEARCH_METHODS) == set(method_names())
    code, out, _ = run(["search", "--help"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    assert all(m in flat for m in method_names()) and "--quiet" in flat and "--batch" in flat


def test_query_accepts_both_metric_spellings(capsys):
    arch = "(4, 3, 3, 0, 0, 0)"
    _, a, _ = run(["query", "--arch", arch, "-m", "latency_edgegpu", "--json"], capsys)
    _, b, _ = run(["query", "--arch", arch, "-m", "latency:edgegpu", "-m", "params", "--json"], capsys)
    va, vb = json.loads(a)["values"], json.loads(b)["values"]
    assert va["latency_edgegpu"] == vb["latency_edgegpu"] and list(vb) == ["latency_edgegpu", "params_mb"]


def test_tables_not_cut_off_a_terminal(capsys):
    from pathlib import Path

    code, out, _ = run(["data", "check"], capsys)
    # whole paths on one line even though they are wider than 80 columns together with the table (a found file's
    # line ends with its path: the shared tables' or, on a fresh clone, the nas-bench-graph package's)
    found = [ln for ln in out.splitlines() if " ok " in ln]
    assert found and all(Path(ln.split()[-1]).is_file() for ln in found)
    assert any(len(ln) > 80 for ln in found)


def test_generate_out_file_written_before_printing(capsys, tiny_checkpoint, tmp_path, monkeypatch):
    import nag.cli

    written = []
    real = nag.cli._write_archs

    def spy(path, lines):
        written.append(capsys.readouterr().out)  # what was printed before the file was written
        real(path, lines)

    monkeypatch.setattr(nag.cli, "_write_archs", spy)
    out = tmp_path / "a.csv"
    code, stdout, _ = run(["generate", "--checkpoint", str(tiny_checkpoint), "-n", "5", "--steps", "3", "-q",
                           "--out", str(out)], capsys)  # fmt: skip
    assert code == 0 and written == [""]
    assert len(out.read_text().splitlines()) == 6 and len(stdout.splitlines()) == 5


def test_failed_train_diffusion_leaves_no_empty_out(capsys, tmp_path, monkeypatch):
    import nag.diffusion.lit as lit

    def fail(space, cfg, out_dir, **kw):
        out_dir.mkdir(parents=True, exist_ok=True)
        raise RuntimeError("step 1: loss is NaN")

    monkeypatch.setattr(lit, "train_diffusion", fail)
    run_dir = tmp_path / "run"
    code, _, err = run(["train", "diffusion", "--out", str(run_dir), "--accelerator", "cpu"], capsys)
    assert code == 1 and "loss is NaN" in err and not run_dir.exists()


def test_train_diffusion_progress_by_steps_and_default_out_in_help(capsys):
    from nag.diffusion.lit import _StepProgressBar

    code, out, _ = run(["train", "diffusion", "--help"], capsys)
    assert code == 0 and "runs/train_diffusion/<space>_seed<seed>" in " ".join(out.split())
    assert "Epoch" not in _StepProgressBar.__dict__["_get_train_description"].__code__.co_consts


@requires_images
def test_zc_compute_writes_nothing_into_the_working_directory(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NAG_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "out").mkdir()
    code, out, err = run(["zc", "compute", "--metrics", "params", "--n", "2", "--out", "out/zc.csv"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["zc.csv"]
    assert (tmp_path / "cache" / "zc" / "cache.jsonl").read_text().count("\n") == 2


def test_failure_line_names_the_subcommand_and_report_out_checked(capsys, tmp_path):
    from nag.cli import _step_name

    assert _step_name(["--debug", "train", "predictor", "--out", "x.pt"]) == "train predictor"
    assert _step_name(["report", "/runs/a", "--out", "d"]) == "report" and _step_name([]) == "nag"
    (tmp_path / "f").write_text("x")
    code, _, err = run(["report", str(tmp_path), "--out", str(tmp_path / "f")], capsys)
    assert code == 2 and err.startswith("error: --out:") and "is a file" in err


def test_a_command_on_the_embedded_default_says_so(capsys, monkeypatch):
    """On a fresh clone a command that read the embedded NB201 default says so on stderr (the full tables win when
    found; `test_data.test_embedded_default_is_used_when_no_full_table` covers the resolver's choice)."""
    from nag.benchmarks import data

    monkeypatch.setattr(data, "_USED", {})  # earlier tests of this process may have read the embedded default
    code, _, err = run(["spaces"], capsys)
    assert code == 0 and "embedded" not in err
    rel = "nb201/nb201_table.csv.gz"
    entry = data.embedded_manifest()["files"][rel]
    monkeypatch.setattr(data, "_USED", {rel: data.DataFile(rel, "embedded", entry["file"], entry["sha256"])})
    code, _, err = run(["spaces"], capsys)
    assert code == 0 and err.count("\n") == 1
    assert err.startswith("data: embedded default (") and rel in err and "nag data fetch" in err
