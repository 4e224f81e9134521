"""Typed config dataclasses: every field checked against its annotation, dotted overrides from the
command line (``--set model.n_layer=4``), and the one error a bad value raises (``ConfigError``).
Every layer's configs (tasks, models, training) use it."""

from __future__ import annotations

import ast
import dataclasses
import types
import typing
from dataclasses import fields
from typing import Any


class ConfigError(ValueError):
    """A config value of the wrong type or out of range."""


def _fits(value, hint) -> bool:
    """Whether ``value`` has the annotated type ``hint`` (bool is not an int, an int is a float)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(args) == len(value) and all(_fits(v, a) for v, a in zip(value, args))
    return isinstance(value, origin or hint)


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) if isinstance(hint, type) else str(hint).replace("typing.", "")


def check_types(config) -> None:
    """Raise ConfigError unless every field of the dataclass ``config`` has its annotated type
    (read with ``typing.get_type_hints``, so ``int | None`` and ``bool`` fields work)."""
    hints = typing.get_type_hints(type(config))
    for f in fields(config):
        value = getattr(config, f.name)
        if not _fits(value, hints[f.name]):
            raise ConfigError(f"{type(config).__name__}.{f.name} must be {_type_name(hints[f.name])}, got {value!r}")


def with_overrides(config, overrides: dict[str, str]):
    """Return a copy of a frozen config dataclass with ``{"field": "text value"}`` applied; a
    dotted name reaches a nested config (``"model.n_layer"`` of a profile). Values are parsed
    as Python literals (``3e-4``, ``True``, ``(3, 5)``, ``None``, ``"cosine"`` or bare
    ``cosine``), checked against the field's annotated type, then validated by the dataclass."""
    hints = typing.get_type_hints(type(config))
    names = {f.name for f in fields(config)}
    changes, nested = {}, {}
    for key, text in overrides.items():
        head, dot, rest = key.partition(".")
        if head not in names:
            raise ConfigError(f"{type(config).__name__} has no field {head!r}; fields: {', '.join(sorted(names))}")
        if dot:
            if not dataclasses.is_dataclass(getattr(config, head)):
                raise ConfigError(f"{type(config).__name__}.{head} has no fields; set it as {head}=VALUE")
            nested.setdefault(head, {})[rest] = text
            continue
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a bare word such as cosine
        if isinstance(value, list):
            value = tuple(value)
        kinds = typing.get_args(hints[head]) or (hints[head],)
        if type(value) is int and float in kinds and int not in kinds:
            value = float(value)
        if not _fits(value, hints[head]):
            raise ConfigError(f"{type(config).__name__}.{head} must be {_type_name(hints[head])}, got {value!r}")
        changes[head] = value
    for head, sub in nested.items():
        changes[head] = with_overrides(getattr(config, head), sub)
    try:
        return dataclasses.replace(config, **changes)
    except (TypeError, ValueError) as e:  # the dataclass's own checks
        raise e if isinstance(e, ConfigError) else ConfigError(str(e)) from e
