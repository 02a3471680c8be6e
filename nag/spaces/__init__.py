"""Search-space registry: ``get_space("nb201")`` returns a ready instance; unknown names list the valid ones.

Spaces are imported lazily, so asking for one space does not import the others' dependencies.
"""

from __future__ import annotations

import importlib
from functools import cache

from nag.errors import InvalidChoiceError
from nag.spaces.base import EnumerableSpace, ModuleSpace, SearchSpace

__all__ = ["SPACES", "ALIASES", "get_space", "space_names", "SearchSpace", "EnumerableSpace", "ModuleSpace"]

#: Registry name -> "module:Class".
SPACES: dict[str, str] = {
    "nb201": "nag.spaces.nb201:NB201Space",
    "nb101": "nag.spaces.nb101:NB101Space",
    "nasbench_graph": "nag.spaces.nasbench_graph:NASBenchGraphSpace",
    "mbv3": "nag.spaces.mbv3:MobileNetV3Space",
}

#: Accepted alternative spellings.
ALIASES: dict[str, str] = {
    "nasbench201": "nb201",
    "nas-bench-201": "nb201",
    "nats-tss": "nb201",
    "nasbench101": "nb101",
    "nas-bench-101": "nb101",
    "nbgraph": "nasbench_graph",
    "nas-bench-graph": "nasbench_graph",
    "nasbenchgraph": "nasbench_graph",
    "ofa": "mbv3",
    "ofa-mbv3": "mbv3",
    "mobilenetv3": "mbv3",
}


def space_names() -> list[str]:
    """Registered space names (aliases excluded)."""
    return list(SPACES)


def canonical_space_name(name: str) -> str:
    """Resolve aliases; raises `InvalidChoiceError` (field ``space``) for unknown names."""
    key = name.strip().lower().replace("_", "-")
    for cand in (name, name.strip().lower(), key, key.replace("-", "_")):
        if cand in SPACES:
            return cand
        if cand in ALIASES:
            return ALIASES[cand]
    raise InvalidChoiceError("space", name, list(SPACES) + sorted(ALIASES))


def get_space(name: str) -> SearchSpace:
    """The search space registered as ``name`` (or an alias), instantiated once per process."""
    return _instance(canonical_space_name(name))


@cache
def _instance(key: str) -> SearchSpace:
    module, cls = SPACES[key].split(":")
    return getattr(importlib.import_module(module), cls)()
