"""Check a composed config against the callables it builds, before anything is built.

Hydra accepts ``data.batch_size=abc`` (a string) and ``+model.depthh=4`` (a new key); both would fail later, deep
inside instantiation or training. Every node with a ``_target_`` is compared with the signature of its target: a key
that is not a parameter (when the target takes no ``**kwargs``) or a value that does not fit the parameter's type hint
(:mod:`visionbench.runner.type_hints`) raises :class:`ConfigError` with a one-line message.
"""

import difflib
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from visionbench.models.published import MODEL_WEIGHTS_KEY
from visionbench.runner.errors import ConfigError
from visionbench.runner.type_hints import describe, fits

_UNRESOLVED = object()
RUNNER_KEYS: dict[str, dict[str, Any]] = {"model": {MODEL_WEIGHTS_KEY: str | None}}
"""Keys the runner takes out of a node before instantiating it (path of the node -> key -> type hint):
``model.weights``, the published weights file loaded after the model is built (runner.builders.build_model)."""


def closest_key(key: str, candidates: Iterable[str]) -> str | None:
    """The candidate most similar to ``key`` (difflib), or None if none is close."""
    matches = difflib.get_close_matches(key, list(candidates), n=1)
    return matches[0] if matches else None


def unknown_key_message(path: str, value: Any, valid: Iterable[str]) -> str:
    """``unknown key 'model.depthh' (value 4); did you mean 'model.depth'?``, or the valid keys when none is close."""
    valid = sorted(key for key in valid if not key.startswith("_"))
    parent, _, key = path.rpartition(".")
    prefix = f"{parent}." if parent else ""
    message = f"unknown key '{path}' (value {value!r})"
    closest = closest_key(key, valid)
    if closest:
        return f"{message}; did you mean '{prefix}{closest}'?"
    if not valid:
        return f"{message}; '{parent}' takes no keys"
    return f"{message}; valid keys{f' of {parent!r}' if parent else ''}: {', '.join(valid)}"


def _signature(target: str) -> inspect.Signature | None:
    """The signature of a ``_target_``, its annotations evaluated where possible; None when it cannot be had."""
    try:
        function: Callable = get_object(target)
    except Exception:  # instantiation reports a target that does not import, with its own traceback
        return None
    for eval_str in (True, False):
        try:
            return inspect.signature(function, eval_str=eval_str)
        except (NameError, TypeError, ValueError):  # unevaluable annotations; builtins without a signature
            continue
    return None


def _plain(node: DictConfig, key: str) -> Any:
    """``node[key]`` as plain Python (objects stay dicts with ``_target_``), or ``_UNRESOLVED`` when it refers to
    something not available yet (``${hydra:...}`` before Hydra runs) or is missing (``???``)."""
    try:
        value = node[key]
        return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig | ListConfig) else value
    except OmegaConfBaseException:
        return _UNRESOLVED


def _children(node: DictConfig | ListConfig) -> Iterator[tuple[Any, Any]]:
    """``(key, child)`` of a container, children that cannot be resolved yet left out."""
    for key in node.keys() if isinstance(node, DictConfig) else range(len(node)):
        try:
            yield key, node[key]
        except OmegaConfBaseException:
            continue


def _target_nodes(node: Any, path: str = "") -> Iterator[tuple[str, DictConfig]]:
    """Every ``(path, node)`` with a ``_target_`` below ``node`` (itself included), depth first."""
    if not isinstance(node, DictConfig | ListConfig):
        return
    if isinstance(node, DictConfig) and "_target_" in node:
        yield path, node
    for key, child in _children(node):
        yield from _target_nodes(child, f"{path}.{key}" if path else str(key))


def check_node(path: str, node: DictConfig) -> None:
    """Raise :class:`ConfigError` for the first key of ``node`` that its ``_target_`` does not take, or whose value
    does not fit the parameter's type hint."""
    target = node.get("_target_")
    signature = _signature(target) if isinstance(target, str) else None
    if signature is None:
        return
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    parameters = {name: p for name, p in signature.parameters.items() if p.kind not in variadic}
    for name, hint in RUNNER_KEYS.get(path, {}).items():
        parameters[name] = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=hint)
    takes_any_key = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    for key in node:
        if str(key).startswith("_"):  # _target_, _partial_, _args_, _recursive_, _convert_
            continue
        key_path = f"{path}.{key}" if path else str(key)
        value = _plain(node, key)
        parameter = parameters.get(str(key))
        if parameter is None:
            if not takes_any_key:
                shown = OmegaConf.to_container(node, resolve=False)[key] if value is _UNRESOLVED else value
                raise ConfigError(unknown_key_message(key_path, shown, parameters))
            continue
        hint = parameter.annotation
        if value is _UNRESOLVED or hint is inspect.Parameter.empty:
            continue
        if fits(value, hint) is False:
            raise ConfigError(f"wrong type for '{key_path}': expected {describe(hint)}, got {value!r} ({target})")


def check_arguments(cfg: DictConfig) -> None:
    """Check every node with a ``_target_`` in ``cfg`` (:func:`check_node`)."""
    for path, node in _target_nodes(cfg):
        check_node(path, node)
