"""Kill sweep: `nag search` killed at random moments, resumed, and compared with an uninterrupted run.

For each trial a small real search (NAS-Bench-201 table oracle) is started as a `nag search` process and sent a
signal at a random moment: after a random number of printed queries (0 = during start-up, for SIGKILL only) plus a
random delay. Then:

* the exit code must say how it ended: -9 (137 in a shell) for SIGKILL, 130 for SIGINT, 143 for SIGTERM;
* every process the search started (pool workers, the resource tracker) must be gone 5 s after it died;
* ``nag search --resume RUN`` (or the same command again, where the kill came before anything was written) must
  finish with exit 0, a ``queries.jsonl`` byte-identical to the uninterrupted run of the same seed, and the same pick.

A last check starts two writers on one run directory: the second (``--out`` with another seed) and a concurrent
``--resume`` are refused with exit 1 naming the first's PID; the first finishes with all of its queries.

Run from the repository root (needs the benchmark tables; about 6-10 min on 2 idle cores with the defaults)::

    python experiments/bench/kill_sweep.py                 # 30 SIGKILL + 5 SIGINT + 5 SIGTERM
    python experiments/bench/kill_sweep.py --kills 6 --interrupts 2 --seed 1   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 25


@dataclass(frozen=True)
class Config:
    """One small search, as `nag search` arguments."""

    name: str
    args: tuple[str, ...]

    def cli(self, out: Path) -> list[str]:
        return [sys.executable, "-m", "nag.cli", "search", *self.args, "--out", str(out)]


CONFIGS = [
    Config("random/serial", ("--method", "random", "--budget", str(BUDGET), "--seed", "3")),
    Config(
        "evolution/process q2",
        (
            "--method",
            "evolution",
            "--budget",
            str(BUDGET),
            "--seed",
            "5",
            "--q",
            "2",
            "--executor",
            "process",
        ),
    ),
    Config("local/serial", ("--method", "local", "--budget", str(BUDGET), "--seed", "7")),
    Config(
        "random/process q3",
        ("--method", "random", "--budget", str(BUDGET), "--seed", "9", "--q", "3", "--executor", "process"),
    ),
]

#: The exit code each signal must give (a SIGKILL cannot be handled: the process dies of it).
EXPECTED = {signal.SIGKILL: -signal.SIGKILL, signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class Trial:
    config: str
    sig: signal.Signals
    after_queries: int
    rc: int | None = None
    queries_at_kill: int = 0
    descendants: int = 0
    orphans: int = 0
    resumed_rc: int | None = None
    identical: bool = False
    same_pick: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.rc == EXPECTED[self.sig]
            and self.orphans == 0
            and self.resumed_rc == 0
            and self.identical
            and self.same_pick
        )


def _env() -> dict[str, str]:
    return dict(
        os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    )


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()  # fields after "pid (comm) "


def _descendants(pid: int) -> dict[int, str]:
    """Live descendants of ``pid``: PID -> start time (so a reused PID is not taken for a survivor)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and (st := _stat(int(p.name))) is not None:
            children.setdefault(int(st[1]), []).append((int(p.name), st[19]))
    out, todo = {}, [pid]
    while todo:
        for c, start in children.get(todo.pop(), []):
            out[c] = start
            todo.append(c)
    return out


def _alive(pid: int, start: str) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z" and st[19] == start


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _pick(stdout: str) -> str:
    picks = [ln for ln in stdout.splitlines() if ln.startswith("pick:")]
    return picks[-1] if picks else ""


def reference(cfg: Config, work: Path) -> tuple[bytes, str]:
    """``queries.jsonl`` and the pick line of an uninterrupted run."""
    out = work / f"ref-{cfg.name.replace('/', '_').replace(' ', '_')}"
    res = subprocess.run(cfg.cli(out), capture_output=True, text=True, env=_env(), timeout=600)
    if res.returncode != 0:
        raise SystemExit(
            f"reference run {cfg.name} failed (exit {res.returncode}): {res.stderr.strip()[-300:]}"
        )
    return (out / "queries.jsonl").read_bytes(), _pick(res.stdout)


def trial(
    cfg: Config, sig: signal.Signals, k: int, ref: tuple[bytes, str], work: Path, rng: random.Random
) -> Trial:
    """One kill of ``cfg`` after ``k`` printed queries (plus a random delay), then its resume."""
    t = Trial(cfg.name, sig, k)
    work.mkdir(parents=True, exist_ok=True)
    run = work / "run"
    log = work / "stdout.txt"
    with open(log, "w") as f:  # a file, not a pipe: a surviving worker would keep a pipe open
        p = subprocess.Popen(cfg.cli(run), stdout=f, stderr=subprocess.DEVNULL, env=_env())
        deadline = time.monotonic() + 300
        if k == 0:
            time.sleep(rng.uniform(0.0, 3.0))  # somewhere in the start-up
        while k and _lines(log) < k and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.05))
        family = _descendants(p.pid)
        t.queries_at_kill = _lines(log)
        p.send_signal(sig)
        t.rc = p.wait(timeout=120)
    t.descendants = len(family)
    until = time.monotonic() + 5.0
    while any(_alive(c, s) for c, s in family.items()) and time.monotonic() < until:
        time.sleep(0.05)
    survivors = [c for c, s in family.items() if _alive(c, s)]
    t.orphans = len(survivors)
    for c in survivors:  # leave the machine clean; the trial has already failed
        with_kill(c)
    if t.rc == 0:
        t.notes.append("finished before the signal")
    if (run / "state.json").exists() or (run / "config.json").exists():
        cmd = [sys.executable, "-m", "nag.cli", "search", "--resume", str(run)]
        cmd += [a for a in ("--executor", "process") if "process" in cfg.args]  # the same executor again
    else:
        cmd = cfg.cli(run)  # killed before the run wrote anything: start it again
        t.notes.append("restarted (nothing written)")
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    t.resumed_rc = res.returncode
    t.identical = (run / "queries.jsonl").is_file() and (run / "queries.jsonl").read_bytes() == ref[0]
    t.same_pick = _pick(res.stdout) == ref[1] != ""
    shutil.rmtree(work, ignore_errors=True)
    return t


def with_kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def concurrent_writers(work: Path) -> dict[str, object]:
    """Two writers on one run directory: the second and a concurrent resume are refused; the first loses nothing.

    The first writer is paused (SIGSTOP) after its third query while the others try, so that it is certainly still
    holding the run however slow their start-up is, then continued (SIGCONT) to finish its budget.
    """
    run = work / "shared-run"
    budget = 40
    first_cmd = [sys.executable, "-m", "nag.cli", "search", "--method", "random", "--budget", str(budget)]
    first_cmd += ["--seed", "5", "--q", "2", "--executor", "process", "--out", str(run)]
    log = work / "first.txt"
    with open(log, "w") as f:
        first = subprocess.Popen(first_cmd, stdout=f, stderr=subprocess.DEVNULL, env=_env())
        while _lines(log) < 3 and first.poll() is None:
            time.sleep(0.005)
        first.send_signal(signal.SIGSTOP)
        try:
            second = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "nag.cli",
                    "search",
                    "--method",
                    "random",
                    "--budget",
                    "20",
                    "--seed",
                    "6",
                ]
                + ["--out", str(run)],
                capture_output=True,
                text=True,
                env=_env(),
            )
            resumed = subprocess.run(
                [sys.executable, "-m", "nag.cli", "search", "--resume", str(run)],
                capture_output=True,
                text=True,
                env=_env(),
            )
            running = first.poll() is None
        finally:
            first.send_signal(signal.SIGCONT)
        first_rc = first.wait(timeout=600)
    state = json.loads((run / "state.json").read_text())
    records = [json.loads(x) for x in (run / "queries.jsonl").read_text().splitlines()]
    refusal = f"in use by process {first.pid} "
    return {
        "first still running when refused": running,
        "second --out": (second.returncode, second.stderr.strip().splitlines()[-1:]),
        "second --resume": (resumed.returncode, resumed.stderr.strip().splitlines()[-1:]),
        "first exit": first_rc,
        "first queries": len(records),
        "distinct": len({r["arch"] for r in records}),
        "seed kept": state["config"]["seed"],
        "ok": (
            running
            and (second.returncode, resumed.returncode, first_rc) == (1, 1, 0)
            and refusal in second.stderr
            and refusal in resumed.stderr
            and len(records) == budget == len({r["arch"] for r in records}) == state["config"]["budget"]
            and state["config"]["seed"] == 5
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=30, help="SIGKILL trials")
    ap.add_argument("--interrupts", type=int, default=5, help="SIGINT trials, and as many SIGTERM trials")
    ap.add_argument("--seed", type=int, default=0, help="seeds the kill moments")
    ap.add_argument("--jobs", type=int, default=2, help="trials run side by side (one per core)")
    ap.add_argument("--json", type=Path, default=None, help="also write the trials here")
    a = ap.parse_args()
    if not sys.platform.startswith("linux"):
        raise SystemExit("kill_sweep: reads /proc; Linux only")
    # A shell starts background jobs with SIGINT ignored, and children inherit that: the searches must see Ctrl-C
    # as from a terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = random.Random(a.seed)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nag-kill-sweep-") as tmp:
        work = Path(tmp)
        refs = {c.name: reference(c, work) for c in CONFIGS}
        plan = [signal.SIGKILL] * a.kills + [signal.SIGINT, signal.SIGTERM] * a.interrupts
        # a handled signal needs the handlers installed (after the first query); a SIGKILL may come any time
        ks = [rng.randrange(0 if sig == signal.SIGKILL else 1, BUDGET) for sig in plan]
        seeds = [rng.randrange(2**32) for _ in plan]

        def one(i: int) -> Trial:
            cfg = CONFIGS[(i + i // 2) % len(CONFIGS)]  # shifted so both handled signals meet every config
            t = trial(cfg, plan[i], ks[i], refs[cfg.name], work / f"trial{i}", random.Random(seeds[i]))
            print(
                f"[{i + 1:2d}/{len(plan)}] {cfg.name:22s} {plan[i].name:7s} after {t.queries_at_kill:2d} queries: "
                f"exit {t.rc}, {t.orphans} orphans of {t.descendants}, resumed exit {t.resumed_rc}, "
                f"identical {t.identical}, same pick {t.same_pick} {' '.join(t.notes)}",
                file=sys.stderr,
                flush=True,
            )
            return t

        with ThreadPoolExecutor(max(a.jobs, 1)) as pool:
            trials = list(pool.map(one, range(len(plan))))
        conc = concurrent_writers(work)
    print(
        "| config | signal | trials | exit code as expected | orphans after 5 s | resumed identical | same pick |"
    )
    print("|---|---|---|---|---|---|---|")
    for cfg in CONFIGS:
        for sig in (signal.SIGKILL, signal.SIGINT, signal.SIGTERM):
            ts = [t for t in trials if t.config == cfg.name and t.sig == sig]
            if not ts:
                continue
            print(
                f"| {cfg.name} | {sig.name} ({EXPECTED[sig]}) | {len(ts)} | {sum(t.rc == EXPECTED[sig] for t in ts)} | "
                f"{sum(t.orphans for t in ts)} (of {sum(t.descendants for t in ts)} processes) | "
                f"{sum(t.identical for t in ts)} | {sum(t.same_pick for t in ts)} |"
            )
    n_ok = sum(t.ok for t in trials)
    print(
        f"\n{n_ok}/{len(trials)} trials fully correct; finished before the signal: "
        f"{sum(t.rc == 0 for t in trials)}."
    )
    print(
        f"Two writers on one run: second --out exit {conc['second --out'][0]}, concurrent --resume exit "
        f"{conc['second --resume'][0]}; first exit {conc['first exit']}, {conc['first queries']} queries "
        f"({conc['distinct']} distinct), seed {conc['seed kept']} kept: {'ok' if conc['ok'] else 'FAILED'}"
    )
    print(f"  refusal: {conc['second --out'][1][0] if conc['second --out'][1] else ''}")
    print(f"({time.monotonic() - t0:.0f} s)")
    if a.json is not None:
        from nag.io import atomic_write_text

        atomic_write_text(
            a.json,
            json.dumps(
                {
                    "trials": [{**t.__dict__, "sig": t.sig.name, "ok": t.ok} for t in trials],
                    "concurrent": {k: v for k, v in conc.items()},
                },
                indent=1,
            ),
        )
    sys.exit(0 if n_ok == len(trials) and conc["ok"] else 1)


if __name__ == "__main__":
    main()
