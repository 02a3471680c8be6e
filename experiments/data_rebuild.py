"""Rebuild the benchmark tables from their public sources and compare them with the published ones.

Runs ``nag data fetch --mirror MIRROR`` and ``nag data build`` (the real CLI, in subprocesses) into an empty data
root and prints, per table: expected sha256 (``SHA256SUMS`` of the published data), rebuilt sha256, match, and the
columns not rebuilt. Where a gzipped CSV does not match, its decompressed content is compared column by column with
the published file (values within a float tolerance).

A mirror is a folder laid out like ``wget -x`` (``raw.githubusercontent.com/<owner>/<name>/<commit>/<path>``, ...).
``--assemble-from SNAPSHOTS`` writes one from bare git snapshots of the upstream repositories
(``SNAPSHOTS/<owner>+<name>/repo``) plus the Debian package and the wheel (``--deb``, ``--wheel``; e.g. from
``apt-get download dataset-fashion-mnist`` and ``pip download --no-deps nas-bench-graph==1.4.0``):

    python experiments/data_rebuild.py --assemble-from /work/.mirror --deb X.deb --wheel Y.whl --mirror-dir /tmp/m
    python experiments/data_rebuild.py --mirror file:///tmp/m
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from nag.benchmarks.data import data_dirs
from nag.benchmarks.sources import SOURCES, TARGETS, mirror_url
from nag.io import atomic_write_bytes


def assemble_mirror(snapshots: Path, deb: Path | None, wheel: Path | None, out: Path) -> int:
    """Write every pinned source into ``out`` at its mirror path; return how many were written."""
    n = 0
    for src in SOURCES.values():
        rel = mirror_url(src, out.as_uri())[len(out.as_uri()) + 1 :]
        dest = out / rel
        if src.origin.startswith("debian:") or src.origin.startswith("pypi:"):
            given = deb if src.origin.startswith("debian:") else wheel
            if given is None:
                print(f"skip {src.key}: give --deb / --wheel", file=sys.stderr)
                continue
            data = given.read_bytes()
        else:
            gitdir = snapshots / src.origin.replace("/", "+") / "repo"
            if (gitdir / ".git").is_dir():
                gitdir = gitdir / ".git"
            data = subprocess.run(
                ["git", "-C", str(gitdir), "cat-file", "-p", f"{src.version}:{src.path}"],
                capture_output=True,
                check=True,
            ).stdout
        if hashlib.sha256(data).hexdigest() != src.sha256:
            raise SystemExit(f"{src.key}: the snapshot's bytes do not have the pinned sha256")
        atomic_write_bytes(dest, data)
        n += 1
    return n


def published_sums() -> tuple[Path | None, dict[str, str]]:
    """The first data folder with a SHA256SUMS, and its checksums by relative path."""
    for d in data_dirs():
        p = d / "SHA256SUMS"
        if p.is_file():
            sums = {}
            for line in p.read_text().splitlines():
                if line.strip():
                    digest, rel = line.split(maxsplit=1)
                    sums[rel.lstrip("*").removeprefix("./")] = digest
            return d, sums
    return None, {}


def compare_csv(rebuilt: bytes, published: Path, rtol: float = 1e-9) -> list[str]:
    """Columns whose values differ (beyond ``rtol``) between a rebuilt and a published gzipped CSV."""
    import numpy as np
    import pandas as pd

    a = pd.read_csv(io.BytesIO(gzip.decompress(rebuilt)))
    b = pd.read_csv(published)
    out = [f"missing column {c}" for c in b.columns if c not in a.columns]
    for c in b.columns:
        if c not in a.columns:
            continue
        x, y = a[c], b[c]
        if x.dtype.kind in "fi" and y.dtype.kind in "fi":
            same = np.allclose(x.to_numpy(float), y.to_numpy(float), rtol=rtol, atol=0, equal_nan=True)
        else:
            same = bool((x.astype(str) == y.astype(str)).all())
        if not same:
            out.append(c)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirror", help="mirror URL base (file://...) to fetch from")
    ap.add_argument("--root", type=Path, help="data root to fill (default: a new temporary folder)")
    ap.add_argument("--assemble-from", type=Path, help="folder of bare git snapshots <owner>+<name>/repo")
    ap.add_argument("--deb", type=Path, help="dataset-fashion-mnist .deb (with --assemble-from)")
    ap.add_argument("--wheel", type=Path, help="nas-bench-graph 1.4.0 wheel (with --assemble-from)")
    ap.add_argument("--mirror-dir", type=Path, help="where --assemble-from writes the mirror")
    args = ap.parse_args()

    if args.assemble_from:
        out = args.mirror_dir or Path(tempfile.mkdtemp(prefix="nag-mirror-"))
        n = assemble_mirror(args.assemble_from, args.deb, args.wheel, out)
        print(f"assembled {n} of {len(SOURCES)} source files under {out}")
        args.mirror = args.mirror or out.resolve().as_uri()
    if not args.mirror:
        raise SystemExit("give --mirror or --assemble-from")

    root = args.root or Path(tempfile.mkdtemp(prefix="nag-data-"))
    env = dict(os.environ, NAG_DATA_DIR=str(root))
    nag = [sys.executable, "-m", "nag.cli", "data"]
    fetch = subprocess.run(
        [*nag, "fetch", "--mirror", args.mirror, "--json"], env=env, capture_output=True, text=True
    )
    fetched = json.loads(fetch.stdout)
    for e in fetched["errors"]:
        print(f"fetch error: {e}")
    build = subprocess.run([*nag, "build", "--json"], env=env, capture_output=True, text=True)
    built = json.loads(build.stdout)
    print(
        f"fetch exit {fetch.returncode} ({len(fetched['files'])} files), build exit {build.returncode}, root {root}"
    )

    shared, sums = published_sums()
    rows = []
    for r in built["files"]:
        expected = sums.get(r["file"], r["expected_sha256"])
        where = "SHA256SUMS" if r["file"] in sums else "pinned"
        lost = "; ".join(f"{c} ({why})" for c, why in r["columns_not_rebuilt"]) or "none"
        match = r["sha256"] == expected
        if (
            not match
            and shared is not None
            and r["file"].endswith(".csv.gz")
            and (shared / r["file"]).is_file()
        ):
            rebuilt = TARGETS[r["file"]]
            from nag.benchmarks.build import produce

            diff = compare_csv(produce(rebuilt, root), shared / r["file"])
            lost = ("columns differing: " + ", ".join(diff)) if diff else "content equal, bytes differ"
        rows.append((r["file"], f"{expected} ({where})", r["sha256"] or "-", "yes" if match else "NO", lost))
    for rel, why in built["not_built"].items():
        rows.append((rel, sums.get(rel, "-") + " (SHA256SUMS)", "-", "not built", why))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    head = ("file", "expected sha256", "rebuilt sha256", "match", "columns not rebuilt")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
    for row in [head, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    matched = sum(row[3] == "yes" for row in rows)
    print(f"{matched} of {len(built['files'])} built files reproduce their checksum")
    if args.root is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
