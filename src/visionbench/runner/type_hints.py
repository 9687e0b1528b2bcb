"""Whether a config value fits a parameter's type hint, decided only where that is certain.

Config values are plain YAML/Hydra values (None, bool, int, float, str, lists, dicts); a dict with ``_target_`` is an
object Hydra builds. Hints this module cannot judge (classes such as ``nn.Module`` or ``torch.Tensor``, callables,
type variables, string annotations) accept anything, and so does a union with such a member: the check never rejects
a value the code could accept.
"""

import collections.abc
import os
import types
import typing
from pathlib import PurePath
from typing import Any, Literal, Union

SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence)
MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
UNIONS = (Union, types.UnionType)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict) and "_target_" in value


def _fits_class(value: Any, hint: type) -> bool | None:
    """A plain class hint: True/False where certain, None where not."""
    if hint in (Any, object):
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is os.PathLike or (isinstance(hint, type) and issubclass(hint, PurePath)):
        return isinstance(value, str)
    if hint in SEQUENCES:
        return isinstance(value, list)
    if hint in MAPPINGS:
        return isinstance(value, dict)
    return None


def fits(value: Any, hint: Any) -> bool | None:
    """True if ``value`` fits ``hint``, False if it certainly does not, None if this cannot be decided."""
    if _is_object(value) or isinstance(hint, (str, typing.TypeVar, typing.ForwardRef)):
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return fits(value, args[0])
    if origin in UNIONS:
        verdicts = [fits(value, member) for member in args]
        return True if True in verdicts else None if None in verdicts else False
    if origin is Literal:
        return any(value == allowed and type(value) is type(allowed) for allowed in args)
    if origin is None:
        return _fits_class(value, hint)
    container = _fits_class(value, origin)
    if not container or not args:
        return container
    if origin in MAPPINGS:
        return _all_fit(list(value.values()), [args[-1]] * len(value))
    if origin is tuple and args[-1] is not Ellipsis:
        return len(value) == len(args) and _all_fit(value, list(args))
    return _all_fit(value, [args[0]] * len(value))


def _all_fit(values: list, hints: list) -> bool | None:
    verdicts = [fits(value, hint) for value, hint in zip(values, hints, strict=True)]
    return False if False in verdicts else None if None in verdicts else True


def describe(hint: Any) -> str:
    """A hint as a config user reads it: ``int``, ``float | null``, ``list[int]``, ``one of 'norm', 'value'``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "null"
    if origin in UNIONS:  # types first, then the literal values listed once, then null
        literals = [value for member in args if typing.get_origin(member) is Literal for value in member.__args__]
        types_ = [describe(m) for m in args if typing.get_origin(m) is not Literal and m is not type(None)]
        parts = types_ + ([describe(Literal[tuple(literals)])] if literals else [])
        return " | ".join(parts + (["null"] if type(None) in args else []))
    if origin is Literal:
        return "one of " + ", ".join(repr(value) for value in args)
    if origin is typing.Annotated:
        return describe(args[0])
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join('...' if a is Ellipsis else describe(a) for a in args)}]"
    return getattr(hint, "__name__", str(hint).replace("typing.", ""))
