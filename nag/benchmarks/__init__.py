"""Tabular benchmark oracles over the real data in ``shared/data`` (or the embedded NB201 default) and the data
resolver (`nag.benchmarks.data`: search order, verification on load, the embedded default).

``get_benchmark("nb201")`` returns the benchmark of a search space (instantiated once per process).
"""

from __future__ import annotations

import importlib
from functools import cache

from nag.benchmarks.base import Benchmark
from nag.errors import InvalidChoiceError

__all__ = ["BENCHMARKS", "get_benchmark", "Benchmark"]

#: Search-space registry name -> "module:Class" of its benchmark.
BENCHMARKS: dict[str, str] = {
    "nb201": "nag.benchmarks.nb201:NB201Benchmark",
    "nb101": "nag.benchmarks.nb101:NB101Benchmark",
    "nasbench_graph": "nag.benchmarks.nasbench_graph:NASBenchGraphBenchmark",
}


def get_benchmark(space: str) -> Benchmark:
    """The benchmark for search space ``space`` (aliases accepted), instantiated once per process."""
    from nag.spaces import canonical_space_name

    key = canonical_space_name(space)
    if key not in BENCHMARKS:
        raise InvalidChoiceError("space", space, list(BENCHMARKS))
    return _instance(key)


@cache
def _instance(key: str) -> Benchmark:
    module, cls = BENCHMARKS[key].split(":")
    return getattr(importlib.import_module(module), cls)()
