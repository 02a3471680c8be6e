"""Cost of verifying data on load: hashing the NB201 files on their first load vs the hash memo on later loads.

Every data file is checked against its expected SHA-256 when loaded (`nag.benchmarks.data.verify`); the digest is
remembered under (path, size, mtime, ctime, inode), so only a new or changed file is hashed. The cache directory is a
temporary one; the memo is dropped from memory before each "later load" so it is read from disk as a new process does.

    .venv/bin/python experiments/bench/bench_verify.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

FILES = (
    "nb201/nb201_table.csv.gz",
    "nb201/nb201_zc_proxies.csv.gz",
    "nb201/nb201_ImageNet16-120_zc_proxies.csv.gz",
    "nb201/naslib_zc_nasbench201_725archs.json.gz",
    "nb201/robustness_cifar10.csv.gz",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cache = tempfile.mkdtemp()
    os.environ["NAG_CACHE_DIR"] = cache
    from nag.benchmarks import data

    paths = [(rel, data.find(rel)) for rel in FILES]
    missing = [rel for rel, p in paths if p is None]
    if missing:
        raise SystemExit(
            f"not found: {', '.join(missing)} (the full NB201 tables are needed: `nag data fetch`)"
        )
    first, later = [], []
    try:
        for _ in range(args.repeats):
            shutil.rmtree(cache)
            data._memo = None
            t = time.perf_counter()
            for rel, p in paths:
                data.verify(p, rel)
            first.append(time.perf_counter() - t)
            data._memo = None
            t = time.perf_counter()
            for rel, p in paths:
                data.verify(p, rel)
            later.append(time.perf_counter() - t)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    mb = sum(p.stat().st_size for _, p in paths) / 1e6
    print(
        f"verify {len(paths)} NB201 files ({mb:.1f} MB): first load (hash) {statistics.median(first) * 1e3:.1f} ms, "
        f"later loads (memo) {statistics.median(later) * 1e3:.1f} ms (median of {args.repeats})"
    )


if __name__ == "__main__":
    main()
