"""Property-based fuzzing of the ``nag`` command line (issue 16).

Hypothesis draws invocations of every subcommand, mixing malformed option values (empty, negative, huge, NaN,
non-numbers, control characters, unknown names, paths that are files or folders) with small valid ones, and runs each
in-process through `nag.cli.main` in a fresh working directory with ``$NAG_CACHE_DIR`` inside it. Properties:

* the exit code is 0, 1 or 2, and 2 for every invocation that contains a value known to be invalid;
* stderr holds no traceback, and an error is one line;
* nothing is written outside the ``--out`` area and the cache (the working directory stays empty);
* the benchmark data directory is untouched.

The default run keeps every command cheap (tiny ``-n`` / ``--steps`` / ``--budget``; training commands always carry one
invalid value, so they stop at the argument checks); the ``slow`` variant also lets the training commands run with
small valid settings and draws more examples.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nag.cli import main

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"

#: Values no option accepts (each is invalid wherever it is used below).
ALWAYS_BAD = ["", "-1", "nan", "inf", "-inf", "1e10", str(2**70), "abc", "\x01", "-3.5"]
#: Odd values that some options accept: exit 0 is allowed.
ODD = ["0", "1", "2", "1.5", " ", "../x", "auto", "none", "cifar10", "%s", "\u00e9"]


def _value(bad: list[str] = ALWAYS_BAD):
    return st.one_of(
        st.sampled_from(bad + ODD),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6),
    )


# per subcommand: fixed cheap valid arguments, and the options to fuzz with their known-bad values
SUBCOMMANDS: dict[str, tuple[list[str], dict[str, list[str]]]] = {
    "query": (
        ["query", "--arch", BEST],
        {
            "--space": ["nb999", ""],
            "--dataset": ["mnist", ""],
            "-m": ["accuracy", "latency:nodevice", ""],
            "--arch": ["not an arch", "(9, 3, 3, 0, 0, 0)", ""],
        },
    ),
    "generate": (
        ["generate", "-n", "2", "--steps", "2", "-q"],
        {
            "-n": ["0", "-1", "20000", "1e10", "abc"],
            "--steps": ["0", "-3", "5000", "1e8"],
            "--seed": ["-1", str(2**32), str(2**70)],
            "--solver": ["euler", ""],
            "--space": ["nb999", "mbv3"],
            "--checkpoint": ["/nonexistent/m.pt", "{DIR}", "{FILE}"],
            "--out": ["x.txt", "{DIR}.jsonl", "{FILE}/a.jsonl"],
            "--constraint": ["latency:edgegpu<=-1", "params>=1000", "latency:nokia<=3", "", "<=3"],
            "--pareto": ["accuracy:cifar10", "accuracy:cifar10,latency:nodevice", ",,"],
            "--maximize": ["flops", "accuracy:mnist", ""],
            "--guidance-scale": ["nan", "inf"],
            "--constraint-scale": ["nan", "-1"],
            "--pool": ["-1", "1e9"],
            "--schedule": ["exp", ""],
        },
    ),
    "zc": (
        ["zc", "compute", "--metrics", "params", "--n", "2", "--batch-size", "2"],
        {
            "--metrics": ["", ",", "nope"],
            "--n": ["0", "-3", "100000"],
            "--batch-size": ["0", "-8", "5000"],
            "--seed": ["-1", str(2**70)],
            "--workers": ["-1", "1000"],
            "--space": ["mbv3", "nb999"],
            "--dataset": ["mnist"],
            "--out": ["x.txt", "{DIR}.csv", "{FILE}/z.csv"],
            "--cache": ["{DIR}", "{FILE}/c.jsonl"],
        },
    ),
    "search": (
        ["search", "--method", "random", "--budget", "2"],
        {
            "--method": ["no-such", ""],
            "--space": ["nb999", "mbv3"],
            "--dataset": ["mnist"],
            "--budget": ["0", "-5", "100000", "1e26"],
            "--seed": ["-1", str(2**70)],
            "--q": ["0", "-2", "1000"],
            "--signal": ["test", ""],
            "--constraint": ["latency<=fast", "latency:toaster<=3", "latency:edgegpu<=-1"],
            "--executor": ["dask", ""],
            "--workers": ["0", "-1"],
            "--option": ["population_size", "beta=NaN", "pool=-5", "=3"],
            "--normalisation": ["zscore"],
            "--out": ["{FILE}", "{FILE}/run"],
            "--resume": ["/nonexistent/run", "{FILE}", "{DIR}"],
        },
    ),
    "report": (["report"], {"": ["/nonexistent/run", "{FILE}"]}),
    "train predictor": (
        ["train", "predictor", "--n-train", "10", "--ensemble", "1", "--features", "none"],
        {
            "--target": ["foo", "cifar10_bogus", "", "mnist_test_acc"],
            "--n-train": ["0", "1", "-5", "1000000"],
            "--ensemble": ["0", "-1", "1000"],
            "--seed": ["-1", str(2**70)],
            "--features": ["bogus", ""],
            "--accelerator": ["tpu", ""],
            "--noise-aware": ["/nonexistent.pt", "{FILE}", "{DIR}"],
            "--out": ["{FILE}/p.pt", "{DIR}"],
            "--space": ["mbv3", "nb999"],
        },
    ),
    "train diffusion": (
        "train diffusion --steps 2 --train-fraction 0.02 --accelerator cpu --devices 1 --threads 1".split(),
        {
            "--steps": ["0", "-2", "1e8"],
            "--minutes": ["-1", "0", "nan"],
            "--train-fraction": ["0", "1.5", "nan"],
            "--seed": ["-1", str(2**70)],
            "--accelerator": ["tpu", ""],
            "--devices": ["0", "-1", "many"],
            "--threads": ["0", "-4"],
            "--strategy": ["nonsense"],
            "--space": ["nb999"],
            "--out": ["{FILE}"],
        },
    ),
    "other": (["spaces"], {"--bogus": [""], "extra": [""]}),
}
#: Paths (a random text would be a path relative to the working directory, where the default is meant) and
#: options that are not given when empty: drawn only from their listed bad values.
LISTED_ONLY = {"--out", "--cache", "--checkpoint", "--noise-aware", "--resume", "--pareto", "--arch", ""}
#: Options for which some of ALWAYS_BAD are fine (any finite scale; ``-1`` inverts the guidance).
LENIENT = {"--guidance-scale", "--constraint-scale"}
#: Training commands run only in the slow variant; in the default one they always get a known-bad value.
EXPENSIVE = {"train predictor", "train diffusion"}


@st.composite
def invocations(draw, slow: bool):
    """``(group, argv, known_bad)``: a subcommand's cheap valid base arguments plus 1-3 fuzzed options."""
    group = draw(st.sampled_from(sorted(SUBCOMMANDS)))
    base, options = SUBCOMMANDS[group]
    names = draw(st.lists(st.sampled_from(sorted(options)), min_size=1, max_size=3, unique=True))
    must_be_bad = group in EXPENSIVE and not slow
    args, known_bad = list(base), False
    for i, name in enumerate(names):
        bad_here = options[name]
        if (must_be_bad and i == 0) or name in LISTED_ONLY:
            value = draw(st.sampled_from(bad_here))
            is_bad = True
        else:
            value = draw(st.one_of(st.sampled_from(bad_here), _value()))
            is_bad = value in bad_here or (value in ALWAYS_BAD and name not in LENIENT)
        known_bad |= is_bad
        if name in ("", "extra"):
            args.append(value or "x")
        elif name == "--bogus":
            args.append("--bogus")
        else:
            args += [name, value]
    return group, args, known_bad


def _files(folder: Path) -> list[tuple[str, int, int]]:
    """Every file under ``folder`` with its size and modification time: any write changes the list."""
    return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def data_dir():
    from nag.benchmarks.data import data_dirs

    d = next((Path(p) for p in data_dirs() if Path(p).is_dir()), None)
    before = _files(d) if d is not None else []
    yield d
    if d is not None:
        assert _files(d) == before, f"the data directory {d} changed"


def _check(invocation, capsys) -> None:
    group, args, known_bad = invocation
    old_cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="nag-fuzz-") as tmp_s:
        tmp = Path(tmp_s)
        cwd, area, cache = tmp / "cwd", tmp / "area", tmp / "cache"
        for d in (
            cwd,
            area,
            area / "dir",
            area / "dir.jsonl",
            area / "dir.csv",
        ):  # folders in the way of --out
            d.mkdir()
        (area / "file").write_text("not a checkpoint\n")
        args = [a.replace("{DIR}", str(area / "dir")).replace("{FILE}", str(area / "file")) for a in args]
        if (
            group in ("search", "generate", "train diffusion", "train predictor", "zc")
            and "--out" not in args
        ):
            args += ["--out", str(area / {"search": "run", "generate": "a.jsonl", "train diffusion": "td",
                                          "train predictor": "p.pt", "zc": "z.csv"}[group])]  # fmt: skip
        saved = os.environ.get("NAG_CACHE_DIR")
        os.environ["NAG_CACHE_DIR"] = str(cache)
        os.chdir(cwd)
        try:
            with pytest.raises(SystemExit) as e:
                main(args)
            code = e.value.code
        finally:
            os.chdir(old_cwd)
            if saved is None:
                os.environ.pop("NAG_CACHE_DIR", None)
            else:
                os.environ["NAG_CACHE_DIR"] = saved
        err = capsys.readouterr().err
        stray = [str(p.relative_to(cwd)) for p in cwd.rglob("*")]
        assert code in (0, 1, 2), (args, code, err)
        assert "Traceback" not in err, (args, err)
        assert stray == [], (args, stray)
        if known_bad:
            assert code == 2, (args, code, err)
        if code == 1:
            assert len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1, (args, err)


# capsys is shared by the examples on purpose: each example reads (and so empties) it before asserting
_FIXTURES_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=60, suppress_health_check=_FIXTURES_OK)
@given(invocation=invocations(slow=False))
def test_cli_fuzz(invocation, capsys, data_dir):
    _check(invocation, capsys)


@pytest.mark.slow
@settings(max_examples=300, suppress_health_check=_FIXTURES_OK)
@given(invocation=invocations(slow=True))
def test_cli_fuzz_slow(invocation, capsys, data_dir):
    _check(invocation, capsys)
