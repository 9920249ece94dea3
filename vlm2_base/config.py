"""One check for typed configuration dataclasses: unknown keys refused, values of the declared types.

Hydra checks the groups that have a schema in ``configs/`` while it composes; :func:`check_fields`
gives the same guarantee to everything else that builds a config from a mapping (the Python API,
``config.json`` files, groups whose class is not a plain dataclass), with errors that name the full
key, the expected type and the value found.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Opt:
    ...     lr: float = 1e-3
    ...     steps: int | None = None
    >>> check_fields(Opt, {"lr": 1, "steps": None}, "train")
    {'lr': 1.0, 'steps': None}
    >>> check_fields(Opt, {"lr": "fast"}, "train")
    Traceback (most recent call last):
    ...
    ValueError: train.lr: expected a number, got 'fast'
    >>> check_fields(Opt, {"lr": 1e-3, "foo": 1}, "train")
    Traceback (most recent call last):
    ...
    ValueError: train: unknown field(s) ['foo']; expected some of ['lr', 'steps']
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

__all__ = ["check_fields", "check_value"]

_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def check_fields(cls: type, values: Mapping[str, Any], where: str, hints: Mapping[str, Any] | None = None,
                 allow: tuple[str, ...] = ()) -> dict[str, Any]:
    """``values`` with each one checked against the type of ``cls``'s field of that name (ints taken
    for floats; tuples and lists element-wise); ``hints`` overrides the types read from ``cls``,
    ``allow`` names extra keys to pass through unchecked. Raises ValueError naming
    ``<where>.<field>``."""
    hints = dict(hints) if hints is not None else _hints(cls)
    unknown = sorted(set(values) - set(hints) - set(allow))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; expected some of {list(hints)}")
    return {k: (check_value(v, hints[k], f"{where}.{k}") if k in hints else v) for k, v in values.items()}


def _hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    if dataclasses.is_dataclass(cls):
        return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init and f.name in hints}
    return hints


def check_value(value: Any, tp: Any, name: str) -> Any:
    """``value`` as type ``tp`` (a float for an int given to a float field, a tuple for a tuple
    field); ValueError naming ``name`` otherwise. Types it cannot check pass through."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or isinstance(tp, typing.TypeVar):
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for a in options:
            try:
                return check_value(value, a, name)
            except ValueError as e:
                errors.append(e)
        if len(options) == 1:
            raise errors[0]
        raise ValueError(f"{name}: expected one of {[getattr(a, '__name__', str(a)) for a in options]}, "
                         f"got {_show(value)}")
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected true or false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}: expected an integer, got {_show(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ValueError(f"{name}: expected a number, got {_show(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected a string, got {_show(value)}")
        return value
    if origin in (tuple, list) or tp in (tuple, list):
        if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
            raise ValueError(f"{name}: expected a list, got {_show(value)}")
        items = list(value)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(items) != len(args):
                raise ValueError(f"{name}: expected a list of {len(args)} values, got {_show(value)}")
            out = [check_value(v, a, f"{name}[{i}]") for i, (v, a) in enumerate(zip(items, args))]
        elif args:
            out = [check_value(v, args[0], f"{name}[{i}]") for i, v in enumerate(items)]
        else:
            out = items
        return tuple(out) if (origin or tp) is tuple else out
    if origin is dict or tp is dict or origin is Mapping:
        if not isinstance(value, Mapping):
            raise ValueError(f"{name}: expected a mapping, got {_show(value)}")
        if len(args) == 2:
            return {k: check_value(v, args[1], f"{name}.{k}") for k, v in value.items()}
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"{name}: expected a mapping of {tp.__name__} fields, got {_show(value)}")
        return check_fields(tp, value, name)
    if isinstance(tp, type) and not isinstance(value, tp) and tp in _NAMES:
        raise ValueError(f"{name}: expected {_NAMES[tp]}, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
