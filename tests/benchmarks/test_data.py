"""The data resolver: search order, a clear error for a missing file, verification on load, the embedded default,
the content-keyed parsed-table cache, and `nag data check`."""

import gzip
import hashlib
import json
import os
import shutil
import struct
import zlib

import pandas as pd
import pytest
import typer

from nag.benchmarks import data
from nag.benchmarks.base import cached_table, load_frame
from nag.errors import DataNotFoundError, NagRuntimeError
from tests.conftest import requires_data

ZC = "nb201/nb201_zc_proxies.csv.gz"
NB101_ZC = "nb101/naslib_zc_nasbench101_500archs.json.gz"
NB101_FULL = "nb101/naslib_nb101_30archs.pkl"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A tmp NAG_DATA_DIR first in the search order, an empty HOME, a tmp cache and a fresh hash memo."""
    monkeypatch.setenv("NAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_memo", None)
    (tmp_path / "data").mkdir()
    return tmp_path


def _copy_real(rel: str, root) -> "os.PathLike":
    """Copy the real data file ``rel`` into ``root`` (its mtime kept, as `shutil.copy2` does)."""
    src = data.resolve(rel)
    dst = root / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    return dst


def _gzip_of_size(payload: bytes, size: int) -> bytes | None:
    """A valid gzip file of exactly ``size`` bytes holding ``payload`` (padded with a header comment), or None."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = co.compress(payload) + co.flush()
    trailer = struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)
    pad = size - (10 + len(body) + len(trailer)) - 1
    if pad < 0:
        return None
    header = b"\x1f\x8b\x08\x10\x00\x00\x00\x00\x02\xff"  # FLG.FCOMMENT
    return header + b" " * pad + b"\0" + body + trailer


def _edit_same_size(path) -> None:
    """Set the digits (1-9 to 0) of the first data rows (a valid table with other values), keeping the file a valid gzip
    of the same size, with its mtime put back."""
    st = path.stat()
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    n = 1
    while (
        blob := _gzip_of_size(b"\n".join(lines), st.st_size)
    ) is None:  # fewer digits: smaller deflate stream
        lines[n : 2 * n] = [bytes(48 if 49 <= c <= 57 else c for c in ln) for ln in lines[n : 2 * n]]
        n *= 2
    path.write_bytes(blob)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


# ---------------------------------------------------------------------------------------------------- search order
def test_env_dir_comes_first(isolated):
    env_file = isolated / "data" / "extra" / "a.txt"
    home_file = isolated / "home" / ".cache" / "nag" / "extra" / "b.txt"
    for p in (env_file, home_file):
        p.parent.mkdir(parents=True)
        p.write_text(p.name)
    (home_file.parent / "a.txt").write_text("shadowed")
    assert data.data_dirs()[0] == isolated / "data"
    assert data.data_dirs()[-1] == isolated / "home" / ".cache" / "nag"
    assert data.resolve("extra/a.txt") == env_file
    # a file only in a later directory is still found after the env dir
    assert data.resolve("extra/b.txt") == home_file


def test_missing_file_error_names_file_places_and_source(isolated):
    with pytest.raises(DataNotFoundError) as e:
        data.resolve("nb201/no_such_table.csv.gz")
    msg = str(e.value)
    assert "nb201/no_such_table.csv.gz" in msg
    assert str(isolated / "data") in msg and ".cache/nag" in msg
    assert "NATS-Bench" in msg and "nag data fetch" in msg
    assert "\n" not in msg


# ---------------------------------------------------------------------------------------------------- cache
def test_cached_table_round_trip(isolated):
    src = isolated / "t.csv"
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
    # one entry per table: the previous content's parquet is gone
    assert len(list((isolated / "cache").glob("t-*.parquet"))) == 1


def test_same_size_same_mtime_edit_is_never_served_stale(isolated):
    src = isolated / "t.csv"
    src.write_text("a\n1\n")
    st = src.stat()
    assert cached_table(src, "t", pd.read_csv)["a"].tolist() == [1]
    src.write_text("a\n7\n")  # same size
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back
    assert src.stat().st_size == st.st_size and src.stat().st_mtime_ns == st.st_mtime_ns
    assert cached_table(src, "t", pd.read_csv)["a"].tolist() == [7]


def test_corrupt_cache_is_rebuilt(isolated):
    src = isolated / "t.csv"
    src.write_text("a\n1\n")
    cached_table(src, "t", pd.read_csv)
    (entry,) = (isolated / "cache").glob("t-*.parquet")
    entry.write_bytes(b"not parquet")
    assert cached_table(src, "t", pd.read_csv)["a"].tolist() == [1]


def test_unreadable_source_names_the_file(isolated):
    src = isolated / "t.csv.gz"
    blob = gzip.compress(b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(5000)))
    src.write_bytes(blob[: len(blob) // 2])  # truncated
    with pytest.raises(NagRuntimeError) as e:
        cached_table(src, "t", pd.read_csv)
    msg = str(e.value)
    assert str(src) in msg and "nag data fetch" in msg and "\n" not in msg


def test_file_is_hashed_once_per_content(isolated, monkeypatch):
    src = isolated / "t.bin"
    src.write_bytes(b"x" * 1000)
    hashed = []
    real = data.sha256
    monkeypatch.setattr(data, "sha256", lambda p: hashed.append(p) or real(p))
    digest = data.file_sha256(src)
    assert digest == hashlib.sha256(b"x" * 1000).hexdigest()
    data.file_sha256(src)
    monkeypatch.setattr(data, "_memo", None)  # a new process: the on-disk memo answers
    assert data.file_sha256(src) == digest
    assert len(hashed) == 1
    assert json.loads((isolated / "cache" / "verified.json").read_text()) == {data._stat_key(src): digest}
    st = src.stat()
    src.write_bytes(b"y" * 1000)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert data.file_sha256(src) == hashlib.sha256(b"y" * 1000).hexdigest()
    assert len(hashed) == 2


# ---------------------------------------------------------------------------------------------------- verification
@requires_data(NB101_ZC, NB101_FULL)
def test_edited_table_is_detected_on_the_next_load(isolated):
    from nag.benchmarks.nb101 import NB101Benchmark

    dst = _copy_real(NB101_ZC, isolated / "data")
    _copy_real(NB101_FULL, isolated / "data")
    assert len(NB101Benchmark().archs()) == 321  # the intact copies load (distinct cells)
    st = dst.stat()
    _edit_same_size(dst)
    assert dst.stat().st_size == st.st_size and dst.stat().st_mtime_ns == st.st_mtime_ns
    with pytest.raises(NagRuntimeError) as e:
        NB101Benchmark().archs()
    msg = str(e.value)
    assert str(dst) in msg and data.expected_checksums()[NB101_ZC] in msg and data.sha256(dst) in msg
    assert "nag data fetch" in msg and "\n" not in msg


@requires_data(ZC)
def test_truncated_table_names_the_file(isolated):
    from nag.benchmarks.nb201 import load

    dst = _copy_real(ZC, isolated / "data")
    df, f = load(ZC)  # the intact copy: verified, parsed, cached
    assert f.source == "full" and f.location == str(dst) and len(df) == 9445
    dst.write_bytes(dst.read_bytes()[: dst.stat().st_size // 2])
    with pytest.raises(NagRuntimeError) as e:
        load(ZC)
    assert str(dst) in str(e.value) and "truncated" in str(e.value) and "\n" not in str(e.value)


# ---------------------------------------------------------------------------------------------------- embedded default
def test_embedded_default_is_used_when_no_full_table(isolated, monkeypatch):
    from nag.benchmarks.nb201 import NB201Benchmark
    from nag.spaces import get_space

    monkeypatch.setattr(data, "_shared_beside_checkout", lambda: None)  # as on a fresh clone
    b = NB201Benchmark()
    arch = get_space("nb201").parse("(4, 3, 3, 0, 0, 0)")
    assert b.query(arch, "cifar10", "test_acc") == pytest.approx(85.86, abs=0.01)
    assert b.embedded and b.data_sources["nb201/nb201_table.csv.gz"].source == "embedded"
    assert "embedded default" in data.describe_sources(b.data_sources)
    assert len(b.column("ImageNet16-120", "zc_synflow")) == 15625
    assert b.zc_seconds_per_cell("cifar10") > 0  # NASLib's timings: the embedded file keeps them
    assert "robust_clean_val_acc" not in b.metrics("cifar10")
    with pytest.raises(DataNotFoundError) as e:
        b.query(arch, "cifar10", "help_latency_ms_pixel3")
    assert "nb201/nb201_table.csv.gz" in str(e.value) and "embedded default lacks it" in str(e.value)


def test_embedded_files_match_manifest_and_provenance():
    man = data.embedded_manifest()
    prov = (data.resources.files("nag.benchmarks") / "default" / "PROVENANCE.md").read_text()
    assert set(man["files"]) == {
        "nb201/nb201_table.csv.gz",
        "nb201/nb201_zc_proxies.csv.gz",
        "nb201/nb201_ImageNet16-120_zc_proxies.csv.gz",
        "nb201/naslib_zc_nasbench201_725archs.json.gz",
    }
    total = 0
    for rel, entry in man["files"].items():
        blob = data._package_file(entry["file"])
        total += len(blob)
        assert hashlib.sha256(blob).hexdigest() == entry["sha256"]
        assert entry["source_sha256"] == data.expected_checksums()[rel]
        assert entry["source_sha256"] in prov and entry["sha256"] in prov
        df = data.DataFile(rel, "embedded", entry["file"], entry["sha256"]).read_embedded()
        assert list(df.columns) == entry["columns"] and len(df) == entry["rows"]
    assert total < 5_000_000
    assert "MIT" in prov and "Apache-2.0" in prov
    table = man["files"]["nb201/nb201_table.csv.gz"]
    for col in (
        "cifar10valid_val_acc_hp12",
        "cifar100_val_hp12",
        "in16_val_hp12",
        "cifar10valid_cost_hp12_s",
    ):
        assert col in table["columns"]
    for p in ("cifar10", "cifar100", "in16"):
        assert f"{p}_test_acc" in table["columns"] and f"params_mb_{p}" in table["columns"]
        for dev in ("edgegpu", "raspi4", "edgetpu", "pixel3", "eyeriss", "fpga"):
            assert f"hw_{p}_{dev}_latency" in table["columns"]


@requires_data(*data.embedded_manifest()["files"])
def test_embedded_default_equals_the_full_tables_columns():
    from nag.benchmarks.nb201 import PARSERS

    for rel, entry in data.embedded_manifest()["files"].items():
        key, parse = PARSERS[rel]
        full, f = load_frame(rel, key, parse)
        assert f.source == "full"
        emb = data.DataFile(rel, "embedded", entry["file"], entry["sha256"]).read_embedded()
        pd.testing.assert_frame_equal(emb, full[entry["columns"]])


def test_damaged_embedded_file_is_refused(monkeypatch):
    rel = "nb201/naslib_zc_nasbench201_725archs.json.gz"
    entry = dict(data.embedded_manifest()["files"][rel], sha256="0" * 64)
    man = {"files": {**data.embedded_manifest()["files"], rel: entry}}
    monkeypatch.setattr(data, "embedded_manifest", lambda: man)
    monkeypatch.setattr(data, "find", lambda r: None)
    data._embedded_bytes.cache_clear()
    try:
        with pytest.raises(NagRuntimeError) as e:
            data.locate(rel)
        assert entry["file"] in str(e.value) and "0" * 64 in str(e.value)
    finally:
        data._embedded_bytes.cache_clear()


# ---------------------------------------------------------------------------------------------------- nag data check
def _check(capsys):
    from nag.cli import data_check_cmd

    code = 0
    try:
        data_check_cmd(as_json=True)
    except typer.Exit as e:
        code = e.exit_code
    return code, json.loads(capsys.readouterr().out)


def test_data_check_lists_embedded_and_missing(isolated, monkeypatch, capsys):
    monkeypatch.setattr(
        data, "_shared_beside_checkout", lambda: None
    )  # as on a fresh clone: no SHA256SUMS either
    code, out = _check(capsys)
    rows = {r["file"]: r for r in out["files"]}
    assert code == 1 and out["ok"] is False
    assert set(rows) == set(data.expected_checksums()) | {
        f"{rel} (PyPI nas-bench-graph)" for rel in data.package_checksums()
    }
    assert all(rows[f"{rel} (PyPI nas-bench-graph)"]["status"] == "ok" for rel in data.package_checksums())
    embedded = {f for f, r in rows.items() if r["status"] == "embedded"}
    assert embedded == set(data.embedded_manifest()["files"])
    assert rows["nb201/nb201_table.csv.gz"]["path"].startswith(
        "nag/benchmarks/default/nb201/nb201_table.parquet"
    )
    assert rows["nb101/naslib_nb101_30archs.pkl"] == {
        "file": "nb101/naslib_nb101_30archs.pkl",
        "status": "missing",
        "path": "-",
    }
    assert sum(r["status"] == "missing" for r in rows.values()) == len(data.expected_checksums()) - 4


@requires_data(NB101_ZC)
def test_data_check_flags_a_wrong_checksum(isolated, capsys):
    dst = _copy_real(NB101_ZC, isolated / "data")
    code, out = _check(capsys)
    rows = {r["file"]: r for r in out["files"]}
    assert rows[NB101_ZC] == {"file": NB101_ZC, "status": "ok", "path": str(dst)}
    _edit_same_size(dst)
    code, out = _check(capsys)
    rows = {r["file"]: r for r in out["files"]}
    assert code == 1 and rows[NB101_ZC]["status"] == "wrong checksum"


def test_nas_bench_graph_table_is_verified_before_unpickling(isolated, monkeypatch):
    from nag.benchmarks import nasbench_graph

    rel = "nasbench_graph/proteins.bench"
    p = nasbench_graph.bench_path("proteins")
    assert data.package_checksums()[rel] == data.sha256(p) and len(data.package_checksums()) == 9
    monkeypatch.setattr(data, "package_checksums", lambda: {rel: "f" * 64})
    with pytest.raises(NagRuntimeError) as e:
        nasbench_graph.bench_path("proteins")
    assert str(p) in str(e.value) and "f" * 64 in str(e.value)
