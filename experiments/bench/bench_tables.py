"""Benchmark-table load times, cold (parse the source, write the parquet cache) and warm (read the cache).

Each load runs in a fresh subprocess so module-level caches do not hide the cost; the cache directory is a temporary
one, so the cold run really parses. Also times one `query` after loading and `nag --help` start-up.

    .venv/bin/python experiments/bench/bench_tables.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

LOADS = {
    "nb201 main table (15,625 x 92)": "from nag.benchmarks import get_benchmark; b = get_benchmark('nb201'); b.table",
    "nb201 full record (all tables)": (
        "from nag.benchmarks import get_benchmark; from nag.spaces import get_space; "
        "b = get_benchmark('nb201'); b.record(get_space('nb201').from_index(0), 'cifar10')"
    ),
    "nb101 (500 + 30 cells)": (
        "from nag.benchmarks import get_benchmark; b = get_benchmark('nb101'); b.archs()"
    ),
    "nasbench_graph cora": (
        "from nag.benchmarks import get_benchmark; b = get_benchmark('nasbench_graph'); "
        "a = b.archs()[0]; b.record(a, 'cora')"
    ),
}


def timed(code: str, env: dict[str, str]) -> float:
    """Seconds to run ``code`` after imports (import time is measured separately and subtracted)."""
    prog = f"import time, nag.benchmarks, nag.spaces, pandas; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", prog], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr.strip().splitlines()[-1])
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for name, code in LOADS.items():
        colds, warms = [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as d:
                env = dict(os.environ, NAG_CACHE_DIR=d, OMP_NUM_THREADS="1")
                try:
                    colds.append(timed(code, env))
                    warms.append(timed(code, env))
                except RuntimeError as e:
                    rows.append((name, f"error: {e}", "", ""))
                    break
        if colds and warms:
            rows.append(
                (
                    name,
                    f"{statistics.mean(colds):.3f} ± {statistics.pstdev(colds):.3f}",
                    f"{statistics.mean(warms):.3f} ± {statistics.pstdev(warms):.3f}",
                    f"{statistics.mean(colds) / statistics.mean(warms):.1f}x",
                )
            )
    t = []
    for _ in range(args.repeats):
        s = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nag.cli", "--help"], capture_output=True, check=True)
        t.append(time.perf_counter() - s)
    print(f"{'table':40s} {'cold load (s)':>18s} {'warm load (s)':>18s} {'speed-up':>9s}")
    for r in rows:
        print(f"{r[0]:40s} {r[1]:>18s} {r[2]:>18s} {r[3]:>9s}")
    print(
        f"\n`nag --help` wall time: {statistics.mean(t):.3f} ± {statistics.pstdev(t):.3f} s (n={args.repeats})"
    )


if __name__ == "__main__":
    main()
