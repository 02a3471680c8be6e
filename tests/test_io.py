"""nag.io: atomic writes leave either the old or the new file, and stale temp files are cleaned."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nag.io import atomic_path, atomic_write_bytes, atomic_write_text, remove_stale_temps


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a" / "f.json"
    atomic_write_text(p, "one")
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    assert sorted(x.name for x in p.parent.iterdir()) == ["f.json"]


def test_atomic_path_failure_keeps_old_file(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(p) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_path_keeps_suffix(tmp_path):
    with atomic_path(tmp_path / "plot.png") as tmp:
        assert tmp.suffix == ".png"
        tmp.write_bytes(b"x")
    assert (tmp_path / "plot.png").read_bytes() == b"x"


def test_remove_stale_temps_only_dead_pids(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".state.json.{dead_pid}.tmp"
    live = tmp_path / f".state.json.{os.getpid()}.tmp"
    other = tmp_path / "notes.tmp"
    for f in (stale, live, other):
        f.write_text("x")
    removed = remove_stale_temps(tmp_path)
    assert removed == [stale]
    assert live.exists() and other.exists() and not stale.exists()


def test_cached_json_recomputes_only_for_new_settings(tmp_path):
    from nag.io import cached_json

    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    path = tmp_path / "a" / "seed0.json"
    first = cached_json(path, {"seed": 0, "sources": ("x", "y")}, compute)
    assert first == {"key": {"seed": 0, "sources": ["x", "y"]}, "value": 1}
    # read back, not recomputed; other settings: recomputed
    assert cached_json(path, {"seed": 0, "sources": ["x", "y"]}, compute)["value"] == 1
    assert cached_json(path, {"seed": 1, "sources": ["x", "y"]}, compute)["value"] == 2
    assert len(calls) == 2 and not list(path.parent.glob("*.tmp*"))
