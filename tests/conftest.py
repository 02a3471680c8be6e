"""Test-wide settings: one torch thread (two cores oversubscribe easily), a quiet hypothesis profile, and
`requires_data`, the one marker for tests that need the full benchmark tables.

On a fresh clone (nothing beside it) only the package's embedded NB201 default is there: tests marked
``@requires_data("nb101/...")`` skip with one line saying how to get the file; the rest run on the embedded default.
CI has ``../shared/data`` beside the checkout and runs everything.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

torch.set_num_threads(1)

settings.register_profile(
    "nag",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    derandomize=True,
)
settings.load_profile("nag")

#: The full NB201 files the embedded default stands in for, with fewer columns (HELP latencies, NB201 v1.0
#: accuracies, NASLib's scores) or not at all (robustness): tests of those values need the real files.
NB201_FULL = (
    "nb201/nb201_table.csv.gz",
    "nb201/naslib_zc_nasbench201_725archs.json.gz",
    "nb201/robustness_cifar10.csv.gz",
)


def missing_data(*relpaths: str) -> list[str]:
    """The data files among ``relpaths`` that no data directory holds (`nag.benchmarks.data.find`)."""
    from nag.benchmarks.data import find

    return [r for r in relpaths if find(r) is None]


def _reason(missing: list[str]) -> str:
    return f"needs the full data file(s) {', '.join(missing)}: run `nag data fetch` or set NAG_DATA_DIR"


def requires_data(*relpaths: str) -> pytest.MarkDecorator:
    """Skip unless every one of ``relpaths`` (paths in the data tree) is found; the reason says how to get them."""
    missing = missing_data(*relpaths)
    return pytest.mark.skipif(bool(missing), reason=_reason(missing))


def skip_unless_data(*relpaths: str) -> None:
    """`requires_data` for fixtures (marks do not apply to them): every test using the fixture skips."""
    missing = missing_data(*relpaths)
    if missing:
        pytest.skip(_reason(missing))


#: Shorthands for the common cases.
requires_full_nb201 = requires_data(*NB201_FULL)
requires_nb101 = requires_data(
    "nb101/naslib_zc_nasbench101_500archs.json.gz", "nb101/naslib_nb101_30archs.pkl"
)
IMAGES = ("images/fashion_mnist/t10k-images-idx3-ubyte.gz", "images/fashion_mnist/t10k-labels-idx1-ubyte.gz")
requires_images = requires_data(*IMAGES)


def guarded_oracle(monkeypatch: pytest.MonkeyPatch, space: str, target: str, names: tuple[str, ...] = ()):
    """A `BenchmarkOracle` for ``target`` whose benchmark raises when any of its readers is called with the target
    (or one of ``names``, its aliases) outside `Oracle.evaluate`: a search may read the target's table only through
    queries (the transfer tests' no-leak check)."""
    from bo.oracles import BenchmarkOracle
    from nag.benchmarks import get_benchmark

    bench = get_benchmark(space)
    watched = {target, *names}
    inside = {"evaluate": False}

    def guard(name: str) -> None:
        orig = getattr(bench, name)

        def fn(*args, **kwargs):
            hit = any(isinstance(a, str) and a in watched for a in [*args, *kwargs.values()])
            if hit and not inside["evaluate"]:
                raise AssertionError(f"target table read outside evaluate: {name}{args}")
            return orig(*args, **kwargs)

        monkeypatch.setattr(bench, name, fn)

    for name in ("column", "query", "record", "query_many", "labelled_column", "metric_matrix"):
        guard(name)

    class GuardedOracle(BenchmarkOracle):
        def evaluate(self, archs):
            inside["evaluate"] = True
            try:
                return super().evaluate(archs)
            finally:
                inside["evaluate"] = False

    return GuardedOracle(space, target)
