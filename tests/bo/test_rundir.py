"""Run directories under crashes and concurrency (bo/rundir.py, bo/loop.py, `nag search` / `nag report`): one writer
per run, damaged files named in one line, resume checks, interrupts that lose and repeat nothing, no orphans."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from bo.loop import load_run, load_state, resume_search, run_search
from bo.oracles import BenchmarkOracle
from bo.rundir import LOCK_NAME, RunFileError, RunLock, RunLockedError
from nag.cli import main

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
ENV = dict(
    os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
)


@pytest.fixture(scope="module")
def oracle():
    return BenchmarkOracle("nb201", "cifar10")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, oracle) -> Path:
    d = tmp_path_factory.mktemp("runs") / "random-s1"
    run_search("random", oracle, 6, seed=1, run_dir=d)
    return d


def _copy(run: Path, tmp_path: Path) -> Path:
    d = tmp_path / "run"
    shutil.copytree(run, d)
    return d


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code or 0, out.out, out.err


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# ------------------------------------------------------------------------------------------------------------ lock
def test_second_writer_is_refused_with_the_holders_pid(tmp_path, oracle):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; from bo.rundir import RunLock; lk = RunLock({str(run_dir)!r}).acquire(); "
            "print('locked', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"in use by process {holder.pid} ") as e:
            run_search("random", oracle, 4, seed=6, run_dir=run_dir)
        assert e.value.pid == holder.pid and str(run_dir) in str(e.value)
        assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_NAME]  # the refused run wrote nothing
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # the holder is gone, so is its lock: the run goes ahead
    assert run_search("random", oracle, 4, seed=6, run_dir=run_dir).n_queries == 4


def test_lock_is_exclusive_and_released(tmp_path):
    first = RunLock(tmp_path).acquire()
    assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    with pytest.raises(RunLockedError, match=f"in use by process {os.getpid()} "):
        RunLock(tmp_path).acquire()
    first.release()
    assert (tmp_path / LOCK_NAME).read_text() == ""
    with RunLock(tmp_path) as second:
        assert second.held


def test_stale_lock_of_a_dead_process_is_recovered(tmp_path, finished_run):
    run_dir = _copy(finished_run, tmp_path)
    dead = _dead_pid()
    (run_dir / LOCK_NAME).write_text(f"{dead}\n")
    with RunLock(run_dir) as lk:
        assert lk.held and (run_dir / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    assert resume_search(run_dir).n_queries == 6


def test_resume_removes_temp_files_of_dead_writers(tmp_path, finished_run):
    run_dir = _copy(finished_run, tmp_path)
    dead = _dead_pid()
    stale = run_dir / f".state.json.{dead}.tmp"
    live = run_dir / f".queries.csv.{os.getpid()}.tmp"
    stale.write_text('{"trunc')
    live.write_text("mine")
    resume_search(run_dir)
    assert not stale.exists() and live.exists()


# ------------------------------------------------------------------------------------------------------------ files
def _edit(key: str, value):
    def f(d: dict) -> dict:
        d[key] = value
        return d

    return f


def _edit_config(key: str, value):
    def f(d: dict) -> dict:
        d["config"][key] = value
        return d

    return f


DAMAGE = {
    "truncated": (lambda raw: raw[: len(raw) // 2], "not valid JSON"),
    "empty": (lambda raw: b"", "empty (0 bytes)"),
    "random bytes": (lambda raw: bytes(range(256)) * 4, "not UTF-8 text"),
    "null": (lambda raw: b"null", "expected a JSON object, got null"),
    "a list": (lambda raw: b"[1, 2]", "expected a JSON object, got a list of 2"),
    "unequal lists": (lambda d: {**d, "signals": d["signals"][:-1]}, "the per-query lists differ in length"),
    "negative budget": (_edit_config("budget", -3), "'config.budget' must be an integer >= 1, got -3"),
    "missing key": (lambda d: {k: v for k, v in d.items() if k != "archs"}, "missing key 'archs'"),
    "wrong type": (_edit("n_steps", "7"), "'n_steps' must be an integer >= 0, got string '7'"),
    "bool as number": (_edit_config("q", True), "'config.q' must be an integer >= 1, got boolean true"),
    "bad signal": (
        lambda d: {**d, "signals": ["x"] * len(d["signals"])},
        "'signals[0]' must be a finite number",
    ),
    "bad rng": (_edit("rng_state", {"bit_generator": "Nope"}), "'rng_state' is not a numpy generator state"),
    "more than budget": (_edit_config("budget", 2), "6 queries recorded, more than the budget 2"),
}


def _damage(path: Path, how: str) -> str:
    change, message = DAMAGE[how]
    raw = path.read_bytes()
    if how in ("truncated", "empty", "random bytes", "null", "a list"):
        path.write_bytes(change(raw))
    else:
        path.write_text(json.dumps(change(json.loads(raw))))
    return message


@pytest.mark.parametrize("how", list(DAMAGE))
def test_damaged_state_is_named_in_one_line(tmp_path, finished_run, capsys, how):
    run_dir = _copy(finished_run, tmp_path)
    message = _damage(run_dir / "state.json", how)
    with pytest.raises(RunFileError) as e:
        load_state(run_dir)
    assert str(e.value).startswith(f"{run_dir / 'state.json'}: ") and message in str(e.value)
    for args in (["search", "--resume", str(run_dir)], ["report", str(run_dir)]):
        code, out, err = _cli(args, capsys)
        assert code == 1 and err.count("\n") == 1, (args, err)
        assert err.startswith(f"error: {run_dir / 'state.json'}: ") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("how", ["truncated", "null", "negative budget", "missing key"])
def test_damaged_config_is_named_in_one_line(tmp_path, finished_run, capsys, how):
    run_dir = _copy(finished_run, tmp_path)
    path = run_dir / "config.json"
    if how == "missing key":
        path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "config"}))
        message = "missing key 'config'"
    else:
        message = _damage(path, how)
    code, _, err = _cli(["search", "--resume", str(run_dir)], capsys)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"error: {path}: ") and message in err


# ------------------------------------------------------------------------------------------------------------ resume
def test_resume_refuses_a_state_of_another_run(tmp_path, oracle, finished_run):
    ours = _copy(finished_run, tmp_path)
    other = tmp_path / "other"
    run_search("random", oracle, 6, seed=1, run_dir=other)  # same configuration, another run
    shutil.copy(other / "state.json", ours / "state.json")
    with pytest.raises(
        RunFileError, match=r"state.json: belongs to run [0-9a-f]{16}, not to run [0-9a-f]{16}"
    ):
        resume_search(ours)
    run_search("random", oracle, 6, seed=2, run_dir=tmp_path / "seed2")
    cfg = json.loads((ours / "config.json").read_text())
    cfg.pop("run_id")  # a run directory written before run ids: configurations are compared instead
    (ours / "config.json").write_text(json.dumps(cfg))
    shutil.copy(tmp_path / "seed2" / "state.json", ours / "state.json")
    with pytest.raises(RunFileError, match=r"its configuration .* differs from config.json's"):
        load_run(ours)


def test_out_on_a_directory_holding_a_run_is_refused(tmp_path, finished_run, capsys):
    run_dir = _copy(finished_run, tmp_path)
    before = (run_dir / "queries.jsonl").read_bytes()
    code, _, err = _cli(["search", "--method", "random", "--seed", "9", "--out", str(run_dir)], capsys)
    assert code == 2 and err.startswith(f"error: out: {str(run_dir)!r} already holds a run")
    assert (run_dir / "queries.jsonl").read_bytes() == before


def test_resume_refuses_run_defining_flags(tmp_path, finished_run, capsys):
    run_dir = _copy(finished_run, tmp_path)
    code, _, err = _cli(["search", "--resume", str(run_dir), "--seed", "3", "--method", "random"], capsys)
    assert code == 2
    assert err.startswith("error: resume: --method, --seed cannot be given with --resume")
    code, out, _ = _cli(["search", "--resume", str(run_dir), "--workers", "1"], capsys)
    assert code == 0 and len(out.strip().splitlines()) == 7  # 6 queries and the pick


def test_run_killed_before_its_first_state_resumes_from_config(tmp_path, oracle):
    full = run_search("evolution", oracle, 12, seed=3, run_dir=tmp_path / "full")
    run_dir = _copy(tmp_path / "full", tmp_path)
    (run_dir / "state.json").unlink()
    st = resume_search(run_dir)
    assert st.archs == full.archs and st.run_id == full.run_id


# ------------------------------------------------------------------------------------------------------------ signals
SLOW_CLI = """
import signal, sys, time
# as in a terminal: a parent that ignores SIGINT (some library in the test process may) would pass that on
signal.signal(signal.SIGINT, signal.default_int_handler)
import bo.oracles
evaluate = bo.oracles.BenchmarkOracle.evaluate
def slow(self, archs):  # the real table oracle, slowed so that the signal lands mid-run even on a loaded machine
    time.sleep(0.3)
    return evaluate(self, archs)
bo.oracles.BenchmarkOracle.evaluate = slow
from nag.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize(
    "sig,code", [(signal.SIGINT, 130), pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow)]
)
def test_interrupted_search_saves_and_resumes_identically(tmp_path, oracle, sig, code):
    run_dir = tmp_path / "run"
    args = ["search", "--method", "evolution", "--budget", "25", "--seed", "4", "--out", str(run_dir)]
    p = subprocess.Popen(
        [sys.executable, "-c", SLOW_CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**ENV, "PYTHONUNBUFFERED": "1"},  # each query line reaches us when printed, not at exit
    )
    for n, _ in enumerate(p.stdout, 1):
        if n == 6:
            p.send_signal(sig)
            break
    _, err = p.communicate(timeout=60)
    assert p.returncode == code
    assert f"interrupted; resume with `nag search --resume {run_dir}`" in err.splitlines()
    saved = load_state(run_dir)
    assert 6 <= saved.n_queries < 25 and not saved.done
    st = resume_search(run_dir)
    full = run_search("evolution", oracle, 25, seed=4, run_dir=tmp_path / "full")
    assert (run_dir / "queries.jsonl").read_bytes() == (tmp_path / "full" / "queries.jsonl").read_bytes()
    assert st.pick_index() == full.pick_index() and st.archs == full.archs


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_search_leaves_no_pool_workers(tmp_path):
    """SIGKILL of a search with a process pool: its workers end within 5 s (they watch their parent)."""
    script = textwrap.dedent(
        f"""
        import os, signal, torch
        torch.set_num_threads(1)
        from bo.executors import ProcessExecutor
        from bo.loop import run_search
        from bo.oracles import BenchmarkOracle
        ex = ProcessExecutor(1)
        def kill(state):
            if state.n_queries >= 4:
                print(*[p.pid for p in ex._pool._processes.values()], flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
        run_search("random", BenchmarkOracle("nb201", "cifar10"), 12, q=2, seed=2, run_dir={str(tmp_path)!r},
                   executor=ex, callback=kill)
        """
    )
    out = tmp_path / "pids"
    with open(out, "w") as f:  # a file, not a pipe: a surviving worker would hold a pipe open
        res = subprocess.run([sys.executable, "-c", script], stdout=f, env=ENV, timeout=120)
    assert res.returncode == -signal.SIGKILL
    workers = [int(x) for x in out.read_text().split()]
    assert len(workers) == 1
    deadline = time.monotonic() + 5
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [w for w in workers if _alive(w)] == []
    assert load_state(tmp_path).n_queries == 4
