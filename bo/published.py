"""Published search results on NAS-Bench-201, to print and plot beside ours (`bo.report`, `experiments/`).

Every entry states what the figure is (the pick's test accuracy, or the best test accuracy among the queried
architectures — the convention of DiffusionNAG, MetaD2A and BANANAS), under which search signal and budget, and
where it comes from. Values are test accuracy in %; datasets use the harness' names (``cifar10``, ``cifar100``,
``ImageNet16-120``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Published", "PUBLISHED", "published_for"]


@dataclass(frozen=True)
class Published:
    """One published figure.

    Attributes:
        method: the method's name in its paper.
        space / dataset: where it was measured (harness names).
        value: test accuracy (%).
        kind: ``"pick"`` (test accuracy of the architecture the search returns) or ``"best queried"`` (best test
            accuracy among every architecture it queried).
        budget: queries (architectures evaluated), or ``None`` where the paper states a time budget instead.
        signal: the search signal (e.g. ``"cifar10 12-epoch val"``), as the paper states it.
        source: paper (and table).
    """

    method: str
    space: str
    dataset: str
    value: float
    kind: str
    budget: int | None
    signal: str
    source: str


_ROBOT = "He et al., RoBoT (ICLR 2024), NAS-Bench-201 results at T = 20"
_DNAG = "An et al., DiffusionNAG (ICLR 2024), NAS-Bench-201 transferable-NAS table"
_REA = "Dong & Yang, NAS-Bench-201 (ICLR 2020): REA at a 12,000 s search budget"

PUBLISHED: tuple[Published, ...] = (
    Published("RoBoT", "nb201", "cifar10", 94.36, "pick", 20, "cifar10 12-epoch val", _ROBOT),
    Published("RoBoT", "nb201", "cifar100", 73.51, "pick", 20, "cifar10 12-epoch val", _ROBOT),
    Published("RoBoT", "nb201", "ImageNet16-120", 46.34, "pick", 20, "cifar10 12-epoch val", _ROBOT),
    Published(
        "DiffusionNAG", "nb201", "cifar10", 94.37, "best queried", None, "meta-learned predictor", _DNAG
    ),
    Published(
        "DiffusionNAG", "nb201", "cifar100", 73.51, "best queried", None, "meta-learned predictor", _DNAG
    ),
    Published("REA", "nb201", "cifar10", 93.92, "pick", None, "target 12-epoch val", _REA),
    Published("REA", "nb201", "cifar100", 71.84, "pick", None, "target 12-epoch val", _REA),
    Published("REA", "nb201", "ImageNet16-120", 45.15, "pick", None, "target 12-epoch val", _REA),
    Published(
        "BANANAS",
        "nb201",
        "cifar10",
        94.37,
        "best queried",
        46,
        "target val",
        "White et al., BANANAS (AAAI 2021): reaches the optimum at 46 queries",
    ),  # fmt: skip
    Published(
        "BANANAS",
        "nb201",
        "cifar100",
        73.51,
        "best queried",
        88,
        "target val",
        "White et al., BANANAS (AAAI 2021): reaches the optimum at 88 queries",
    ),  # fmt: skip
)


def published_for(space: str, dataset: str) -> list[Published]:
    """The published figures of one (space, dataset), in table order."""
    return [p for p in PUBLISHED if p.space == space and p.dataset == dataset]
