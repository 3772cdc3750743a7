"""Params: merging, dotted-key lookup, `-S key=value` overrides and `${params.x}` interpolation.

In a shell field (a `command` stage's `cmd`) a reference inside longer text is shell-quoted for
the place it takes (see shellquote.py), so a param reaches the command as literal text whatever
it holds, and a command that already quotes its references ("${params.x}") keeps working.
`${raw:params.x}` opts out (the value is shell code, e.g. a list of flags), and so does a field
that is exactly one reference: that value is the user's command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from mlpipe.spec import shellquote

MISSING = object()
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
_REFERENCE = re.compile(r"\$\{\s*(raw:\s*)?params\.([A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*\}")


class ParamError(ValueError):
    """A param reference or override that cannot be resolved; the caller adds the location."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


def merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `overlay` into a copy of `base`; overlay wins on conflicts."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def lookup(params: Mapping[str, Any], dotted: str) -> Any:
    """Value at `a.b.c`, or MISSING."""
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def flat_keys(params: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every dotted key that leads to a leaf value."""
    keys: list[str] = []
    for key, value in params.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            keys.extend(flat_keys(value, f"{dotted}."))
        else:
            keys.append(dotted)
    return keys


def _undefined(key: str, params: Mapping[str, Any]) -> ParamError:
    from mlpipe.errors import did_you_mean

    return ParamError(f"undefined param '{key}'{did_you_mean(key, flat_keys(params))}", key)


def require(params: Mapping[str, Any], dotted: str) -> Any:
    """Value at `dotted`; ParamError with a suggestion when undefined."""
    value = lookup(params, dotted)
    if value is MISSING:
        raise _undefined(dotted, params)
    return value


def parse_override(text: str) -> tuple[str, Any]:
    """Split `key=value`, reading the value as a YAML scalar (`5` is an int, `true` a bool)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ParamError(f"expected KEY=VALUE, got '{text}'", text)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-3 as text; a user means a number
    return key, value


def apply_overrides(params: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return params with each `key=value` applied; the key must already exist."""
    result: dict[str, Any] = merge({}, params)
    for text in overrides:
        key, value = parse_override(text)
        if lookup(result, key) is MISSING:
            raise _undefined(key, params)
        *parents, leaf = key.split(".")
        node = result
        for part in parents:
            node[part] = dict(node[part])
            node = node[part]
        node[leaf] = value
    return result


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _substitute(text: str, params: Mapping[str, Any], used: dict[str, Any], shell: bool) -> str:
    parts: list[str] = []
    context: shellquote.Context = ()
    start = 0
    for match in _REFERENCE.finditer(text):
        before = text[start:match.start()]
        parts.append(before)
        context = shellquote.scan(before, context)
        key, raw = match.group(2), match.group(1) is not None
        used[key] = require(params, key)
        value = _as_text(used[key])
        if shell and not raw:
            value = shellquote.quote(value, context)
        else:
            context = shellquote.scan(value, context)
        parts.append(value)
        start = match.end()
    parts.append(text[start:])
    return "".join(parts)


def interpolate(value: Any, params: Mapping[str, Any], used: dict[str, Any],
                shell: bool = False) -> Any:
    """Replace `${params.x}` in every string inside `value`, recording each key in `used`.

    A string that is exactly one reference keeps the param's type (a number stays a number);
    a reference inside longer text is rendered as text (JSON for non-strings), shell-quoted
    when `shell` is set unless written `${raw:params.x}` (see the module docstring).
    """
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value.strip())
        if whole:
            key = whole.group(2)
            used[key] = require(params, key)
            return used[key]
        return _substitute(value, params, used, shell)
    if isinstance(value, Mapping):
        return {key: interpolate(item, params, used, shell) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [interpolate(item, params, used, shell) for item in value]
    return value
