"""Search-space registry: ``get_space("nb201")`` returns a ready instance; unknown names list the valid ones.

Spaces are imported lazily, so asking for one space does not import the others' dependencies.
"""

from __future__ import annotations

from functools import cache

from nag.registry import Registry
from nag.spaces.base import EnumerableSpace, ModuleSpace, SearchSpace

__all__ = [
    "SPACES",
    "ALIASES",
    "REGISTRY",
    "get_space",
    "space_names",
    "canonical_space_name",
    "SearchSpace",
    "EnumerableSpace",
    "ModuleSpace",
]

#: Registry name -> "module:Class".
SPACES: dict[str, str] = {
    "nb201": "nag.spaces.nb201:NB201Space",
    "nb101": "nag.spaces.nb101:NB101Space",
    "nasbench_graph": "nag.spaces.nasbench_graph:NASBenchGraphSpace",
    "mbv3": "nag.spaces.mbv3:MobileNetV3Space",
    "transnas101_micro": "nag.spaces.transnas101:TransNASMicroSpace",
    "transnas101_macro": "nag.spaces.transnas101:TransNASMacroSpace",
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

#: The resolver behind `canonical_space_name` / `get_space` (case, ``-``/``_`` variants and aliases accepted).
REGISTRY: Registry[type[SearchSpace]] = Registry("space", SPACES, ALIASES, fuzzy=True)


def space_names() -> list[str]:
    """Registered space names (aliases excluded)."""
    return REGISTRY.names()


def canonical_space_name(name: str) -> str:
    """Resolve aliases; raises `InvalidChoiceError` (field ``space``) for unknown names."""
    return REGISTRY.canonical(name)


def get_space(name: str) -> SearchSpace:
    """The search space registered as ``name`` (or an alias), instantiated once per process."""
    return _instance(canonical_space_name(name))


@cache
def _instance(key: str) -> SearchSpace:
    return REGISTRY.load(key)()
