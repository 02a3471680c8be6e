"""The data resolver: search order, a clear error for a missing file, and the parsed-table cache."""

import os
import shutil

import pandas as pd
import pytest

from nag.benchmarks import data
from nag.benchmarks.base import cached_table
from nag.errors import DataNotFoundError


def test_env_dir_comes_first(tmp_path, monkeypatch):
    src = data.resolve("nb101/naslib_nb101_30archs.pkl")
    (tmp_path / "nb101").mkdir()
    shutil.copy(src, tmp_path / "nb101" / src.name)
    monkeypatch.setenv("NAG_DATA_DIR", str(tmp_path))
    assert data.data_dirs()[0] == tmp_path
    assert data.resolve("nb101/naslib_nb101_30archs.pkl") == tmp_path / "nb101" / src.name
    # a file only in the shared tree is still found after the env dir
    assert data.resolve("nb201/nb201_table.csv.gz").parent.name == "nb201"


def test_missing_file_error_names_file_places_and_source(monkeypatch, tmp_path):
    monkeypatch.setenv("NAG_DATA_DIR", str(tmp_path))
    with pytest.raises(DataNotFoundError) as e:
        data.resolve("nb201/no_such_table.csv.gz")
    msg = str(e.value)
    assert "nb201/no_such_table.csv.gz" in msg
    assert str(tmp_path) in msg and ".cache/nag" in msg
    assert "NATS-Bench" in msg
    assert "\n" not in msg


def test_cached_table_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("NAG_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "t.csv"
    src.write_text("a,b\n1,x\n2,y\n")
    calls = []

    def parse(p):
        calls.append(p)
        return pd.read_csv(p)

    first = cached_table(src, "t", parse)
    second = cached_table(src, "t", parse)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, second)
    # a changed source invalidates the cache
    src.write_text("a,b\n1,x\n2,y\n3,z\n")
    os.utime(src, (src.stat().st_atime, src.stat().st_mtime + 5))
    assert len(cached_table(src, "t", parse)) == 3 and len(calls) == 2


def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("NAG_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "t.csv"
    src.write_text("a\n1\n")
    cached_table(src, "t", pd.read_csv)
    (entry,) = (tmp_path / "cache").glob("t-*.parquet")
    entry.write_bytes(b"not parquet")
    assert cached_table(src, "t", pd.read_csv)["a"].tolist() == [1]
