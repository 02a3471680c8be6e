"""Tabular benchmark oracles over the real data in ``shared/data`` (or the embedded NB201 default) and the data
resolver (`nag.benchmarks.data`: search order, verification on load, the embedded default).

``get_benchmark("nb201")`` returns the benchmark of a search space (instantiated once per process);
``get_spec("nb201")`` its facts (`BenchmarkSpec`: datasets, signals, report metric, identity, targets, ...) without
loading any data. Everything that depends on what a benchmark is asks its spec instead of testing its name.
"""

from __future__ import annotations

from functools import cache

from nag.benchmarks.base import Benchmark, BenchmarkSpec
from nag.errors import InvalidChoiceError
from nag.registry import Registry

__all__ = [
    "BENCHMARKS",
    "REGISTRY",
    "get_benchmark",
    "get_spec",
    "find_spec",
    "benchmark_spaces",
    "metric_matrix_spaces",
    "Benchmark",
    "BenchmarkSpec",
]

#: Search-space registry name -> "module:Class" of its benchmark.
BENCHMARKS: dict[str, str] = {
    "nb201": "nag.benchmarks.nb201:NB201Benchmark",
    "nb101": "nag.benchmarks.nb101:NB101Benchmark",
    "nasbench_graph": "nag.benchmarks.nasbench_graph:NASBenchGraphBenchmark",
    "transnas101_micro": "nag.benchmarks.transnas101_bench:TransNASMicroBenchmark",
    "transnas101_macro": "nag.benchmarks.transnas101_bench:TransNASMacroBenchmark",
}

#: The resolver behind `get_benchmark` / `get_spec` (names are the spaces' registry names; space aliases resolve
#: through `nag.spaces.canonical_space_name` first).
REGISTRY: Registry[type[Benchmark]] = Registry("space", BENCHMARKS)


def _key(space: str) -> str:
    from nag.spaces import canonical_space_name

    key = canonical_space_name(space)
    if key not in BENCHMARKS:
        raise InvalidChoiceError("space", space, list(BENCHMARKS))
    return key


def get_benchmark(space: str) -> Benchmark:
    """The benchmark for search space ``space`` (aliases accepted), instantiated once per process.

    Raises:
        InvalidChoiceError: unknown space, or a space without a benchmark (field ``space``, listing `BENCHMARKS`).
    """
    return _instance(_key(space))


def get_spec(space: str) -> BenchmarkSpec:
    """The `BenchmarkSpec` of ``space``'s benchmark (imports its module; loads no data).

    Raises:
        InvalidChoiceError: as `get_benchmark`.
    """
    return REGISTRY.load(_key(space)).spec


def find_spec(space: str) -> BenchmarkSpec | None:
    """`get_spec`, or ``None`` for a registered space without a benchmark (unknown spaces still raise)."""
    from nag.spaces import canonical_space_name

    key = canonical_space_name(space)
    return get_spec(key) if key in BENCHMARKS else None


def benchmark_spaces(**facts: object) -> list[str]:
    """Spaces with a benchmark whose spec has every ``field=value`` of ``facts`` (a predicate value is called on
    the field), e.g. ``benchmark_spaces(exhaustive=True)``; the accepted values of a field error message."""
    out = []
    for name in BENCHMARKS:
        spec = get_spec(name)
        if all(v(getattr(spec, k)) if callable(v) else getattr(spec, k) == v for k, v in facts.items()):
            out.append(name)
    return out


def metric_matrix_spaces() -> list[str]:
    """Spaces whose benchmark has a training-free metric matrix (RoBoT's input)."""
    return benchmark_spaces(training_free=bool)


@cache
def _instance(key: str) -> Benchmark:
    return REGISTRY.load(key)()
