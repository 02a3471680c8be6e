"""One name -> thing resolver for every registry of the project (spaces, benchmarks, search methods, oracles, ...).

A `Registry` maps registered names to targets, each either the object itself or a ``"module:Attr"`` string imported
on first use (so asking for one entry never imports the others' dependencies), accepts alternative spellings
(aliases) and refuses unknown names with `nag.errors.InvalidChoiceError` naming the field, the value and every
accepted spelling. The idea is PyTorch Geometric's ``resolver``; the mapping stays a plain ``dict`` the registry
reads through, so modules keep exposing it (``SPACES``, ``BENCHMARKS``, ``METHODS``, ...) and a line added to that
dict registers a new entry.

Example::

    SPACES = {"nb201": "nag.spaces.nb201:NB201Space"}
    spaces = Registry("space", SPACES, aliases={"nasbench201": "nb201"}, fuzzy=True)
    spaces.canonical("NAS_Bench201")  # -> "nb201"
    spaces.load("nb201")             # -> the NB201Space class
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Generic, TypeVar

from nag.errors import InvalidChoiceError

__all__ = ["Registry", "load_target"]

T = TypeVar("T")


def load_target(target: object) -> object:
    """``target`` itself, or the attribute a ``"module:Attr"`` string names (imported now)."""
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        if not attr:
            raise ValueError(f"target: {target!r} is not of the form 'module:Attr'")
        return getattr(importlib.import_module(module), attr)
    return target


class Registry(Generic[T]):
    """Names -> targets (objects or lazy ``"module:Attr"`` strings), with aliases.

    Args:
        field: what a name names, for error messages (``space``, ``method``, ...).
        entries: the mapping read through (kept by reference: later additions to it are seen).
        aliases: alternative spelling -> registered name (kept by reference).
        fuzzy: also accept case, surrounding spaces and ``-``/``_`` variants of names and aliases.
    """

    def __init__(
        self,
        field: str,
        entries: MutableMapping[str, str | T],
        aliases: MutableMapping[str, str] | None = None,
        *,
        fuzzy: bool = False,
    ) -> None:
        self.field = field
        self.entries = entries
        self.aliases: MutableMapping[str, str] = aliases if aliases is not None else {}
        self.fuzzy = fuzzy

    # ------------------------------------------------------------------ names
    def names(self) -> list[str]:
        """Registered names (aliases excluded), in registration order."""
        return list(self.entries)

    def accepted(self) -> list[str]:
        """Every accepted spelling: the names, then the aliases sorted."""
        return [*self.entries, *sorted(self.aliases)]

    def _spellings(self, name: str) -> list[str]:
        if not self.fuzzy:
            return [name]
        low = name.strip().lower()
        dash = low.replace("_", "-")
        return [name, low, dash, dash.replace("-", "_")]

    def find(self, name: str) -> str | None:
        """The registered name ``name`` resolves to, or ``None``."""
        for cand in self._spellings(name):
            if cand in self.entries:
                return cand
            if cand in self.aliases:
                return self.aliases[cand]
        return None

    def canonical(self, name: str) -> str:
        """The registered name of ``name`` (aliases resolved).

        Raises:
            InvalidChoiceError: unknown name; the message lists `accepted`.
        """
        key = self.find(name)
        if key is None:
            raise InvalidChoiceError(self.field, name, self.accepted())
        return key

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.entries))

    def __len__(self) -> int:
        return len(self.entries)

    # ------------------------------------------------------------------ targets
    def load(self, name: str) -> T:
        """The target registered as ``name`` (a ``"module:Attr"`` string is imported)."""
        return load_target(self.entries[self.canonical(name)])  # type: ignore[return-value]

    def register(self, name: str, target: str | T, aliases: tuple[str, ...] = ()) -> None:
        """Add ``name`` (and its ``aliases``); registering a name again to another target is an error.

        Raises:
            ValueError: ``name`` or an alias is already registered to something else.
        """
        if name in self.entries and self.entries[name] != target:
            raise ValueError(f"{self.field}: {name!r} is already registered to {self.entries[name]!r}")
        for a in aliases:
            if self.aliases.get(a, name) != name:
                raise ValueError(f"{self.field}: alias {a!r} already names {self.aliases[a]!r}")
        self.entries[name] = target
        for a in aliases:
            self.aliases[a] = name

    def __repr__(self) -> str:
        return f"Registry({self.field!r}, {self.names()})"
