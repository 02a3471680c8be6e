"""One typed config base: dataclass configs that write themselves as JSON-able dicts and read themselves back
strictly.

Every config of the project (`nag.diffusion.schedules.ScheduleConfig`, `nag.diffusion.denoiser.DenoiserConfig`,
`nag.diffusion.lit.TrainConfig`, `predictors.encoders.EncoderConfig`, `predictors.accuracy.AccuracyPredictorConfig`,
`predictors.zero_cost.runner.ZCConfig`, `bo.loop.RunConfig`, `bo.candidates.DiffusionBOConfig`, `bo.lit.TrainSettings`)
derives from `Config`, so

* ``cfg.to_dict()`` is plain JSON (tuples become lists, nested configs dicts), and
* ``type(cfg).from_dict(cfg.to_dict()) == cfg`` for every config (the strict round-trip), while
* ``from_dict`` refuses what it cannot read faithfully — an unknown key (a typo, or a file written by another
  version), a missing required field, a value of the wrong type (booleans never pass as numbers), a ``Literal``
  outside its choices — with one line naming the field (``config.budget``), the value and what is accepted, instead of
  silently dropping or mis-typing it. Range checks stay in each config's ``__post_init__``.

Defaults live only in the dataclass fields (one source); callers that build a config from options pass only what
the user set.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

__all__ = ["Config", "ConfigError"]

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    """A config dict that cannot be read: the one-line message names the field, the value and what is accepted."""


def _json_type(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(v), type(v).__name__)  # fmt: skip


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class Config:
    """Mixin for ``@dataclass`` configs: `to_dict` and a strict `from_dict` (see the module docstring)."""

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-able dict (nested configs as dicts, tuples as lists)."""
        return {f.name: _dump(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[C], d: Any, where: str = "") -> C:
        """The config ``d`` describes, checked field by field.

        Args:
            d: a dict as written by `to_dict` (missing optional fields take their defaults).
            where: prefix of field names in messages (e.g. ``"config"`` gives ``config.budget``); defaults to the
                class name.

        Raises:
            ConfigError: ``d`` is not a dict, has an unknown key, lacks a required field, or a value has the wrong
                type; `ValueError` from the config's own range checks.
        """
        where = where or cls.__name__
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: must be an object, got {_json_type(d)}")
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = [k for k in d if k not in fields]
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown key; accepted: {', '.join(fields)}")
        hints = _hints(cls)
        kw = {}
        for name, f in fields.items():
            if name in d:
                kw[name] = _load(hints[name], d[name], f"{where}.{name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}.{name}: missing (required)")
        return cls(**kw)


def _dump(v: Any) -> Any:
    if isinstance(v, Config):
        return v.to_dict()
    if isinstance(v, tuple | list):
        return [_dump(x) for x in v]
    if isinstance(v, dict):
        return {k: _dump(x) for k, x in v.items()}
    return v


def _load(tp: Any, v: Any, name: str) -> Any:
    """``v`` read as type ``tp`` (``name`` for messages)."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _load(a, v, name)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{name}: {_json_type(v)} fits none of {tp}")
    if origin is Literal:
        if v not in args:
            raise ConfigError(f"{name}: unknown value {v!r}; accepted: {', '.join(map(str, args))}")
        return v
    if tp is Any:
        return v
    if isinstance(tp, type) and issubclass(tp, Config):
        return tp.from_dict(v, name)
    if origin is tuple:
        if not isinstance(v, list | tuple):
            raise ConfigError(f"{name}: must be a list, got {_json_type(v)}")
        item = args[0] if args else Any
        return tuple(_load(item, x, f"{name}[{i}]") for i, x in enumerate(v))
    if origin is list:
        if not isinstance(v, list):
            raise ConfigError(f"{name}: must be a list, got {_json_type(v)}")
        return [_load(args[0] if args else Any, x, f"{name}[{i}]") for i, x in enumerate(v)]
    if origin is dict or tp is dict:
        if not isinstance(v, dict):
            raise ConfigError(f"{name}: must be an object, got {_json_type(v)}")
        return dict(v)
    scalar = _SCALARS.get(tp)
    if scalar is not None:
        ok, what = scalar
        if not ok(v):
            raise ConfigError(f"{name}: must be {what}, got {_json_type(v)}")
        return float(v) if tp is float else v
    raise TypeError(
        f"{name}: type {tp!r} has no reader in nag.config"
    )  # a config declared an unsupported type


#: Scalar field types: the test a JSON value passes and what the message calls it (booleans are never numbers).
_SCALARS: dict[type, tuple[Callable[[Any], bool], str]] = {
    bool: (lambda v: isinstance(v, bool), "a boolean"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
        "a finite number",
    ),
    str: (lambda v: isinstance(v, str), "a string"),
}
