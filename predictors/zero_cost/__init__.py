"""Training-free (zero-cost) metrics: one function per metric, registered by name.

Every metric is ``fn(net, batch, **options) -> float``: ``net`` is an untrained ``nn.Module`` returning logits
``B x K`` (or ``(features, logits)``), ``batch`` is ``(x, y)`` with ``x``: ``B x 3 x H x W`` and ``y``: ``B``.
Metrics never change ``net``: those that alter weights, buffers or gradients work on a deep copy on the net's own
device. Which input each metric uses (the real minibatch, its shape only, or seeded noise) is said in its docstring;
`predictors.zero_cost.data` builds real Fashion-MNIST and Gaussian batches.

Example::

    from predictors.zero_cost import compute, list_metrics
    from predictors.zero_cost.data import fashion_mnist_batch

    score = compute("synflow", net, fashion_mnist_batch(64, seed=0))
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from nag.errors import InvalidChoiceError

__all__ = ["METRICS", "register", "compute", "get_metric", "list_metrics", "MetricFn"]

MetricFn = Callable[..., float]

#: name -> metric function; filled by `register` (the built-in metrics live in `predictors.zero_cost.metrics`).
METRICS: dict[str, MetricFn] = {}


def register(name: str) -> Callable[[MetricFn], MetricFn]:
    """Decorator adding a metric to `METRICS` under ``name`` (a second registration of a name is an error)."""

    def deco(fn: MetricFn) -> MetricFn:
        if name in METRICS and METRICS[name] is not fn:
            raise ValueError(f"metric: {name!r} is already registered to {METRICS[name].__qualname__}")
        METRICS[name] = fn
        return fn

    return deco


def list_metrics() -> list[str]:
    """Registered metric names, sorted."""
    return sorted(METRICS)


def get_metric(name: str) -> MetricFn:
    """The metric function called ``name``.

    Raises:
        InvalidChoiceError: ``name`` is not registered; the message lists the registered names.
    """
    try:
        return METRICS[name]
    except KeyError:
        raise InvalidChoiceError("metric", name, list_metrics()) from None


def compute(name: str, net: nn.Module, batch, **options) -> float:
    """Value of metric ``name`` for ``net`` on ``batch`` (``(x, y)``); ``options`` go to the metric function."""
    return float(get_metric(name)(net, batch, **options))


from predictors.zero_cost import metrics as _metrics  # noqa: E402,F401  (registers the built-in metrics)
