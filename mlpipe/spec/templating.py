"""Templated stages: `vars`, `foreach` and `matrix`, expanded before stages are parsed.

    vars:                      # values, and YAML files of values (paths from the root)
      - shared.yaml
      - regions: [eu, us]
    stages:
      prepare:
        foreach: ${regions}    # a list, a mapping, or a var holding one
        do:                    # the stage, once per item: prepare@eu, prepare@us
          cmd: python prep.py ${item}
      train:
        matrix:                # every combination: train@lr-1, train@lr-2, ...
          model: [lr, rf]
          seed: [1, 2]
        cmd: python train.py ${item.model} ${item.seed}

`${item}` is the item (`${item.x}` a field of it), `${key}` its key in a mapping, its index in
a list, or the name's suffix in a matrix (`lr-1`), `${name}` a var. A string that is exactly
one reference keeps the value's type; in a `command` stage's `cmd`, a reference inside longer
text is shell-quoted as `${params...}` is. `${params...}` is left for the params step, and so
is a reference to anything else (a shell's `${HOME}`). Errors name the template's file and
line.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlpipe.errors import SpecError
from mlpipe.spec import shellquote
from mlpipe.spec.yamlio import MarkedDict, load_file

_REFERENCE = re.compile(r"\$\{\s*(?!params\.|raw:)([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)*)"
                        r"\s*\}")
Error = Callable[[str, Any], SpecError]


def load_vars(raw: Any, root: Path, error: Error) -> dict[str, Any]:
    """The `vars:` list (or mapping) as one mapping; files are read relative to `root`."""
    entries = raw if isinstance(raw, list) else [raw] if raw is not None else []
    found: dict[str, Any] = {}
    for entry in entries:
        if isinstance(entry, str):
            try:
                loaded = load_file(root / entry) if "\0" not in entry else None
            except SpecError as exc:
                if exc.line is not None:  # a problem inside the vars file: point into it
                    raise
                raise error(f"vars file '{entry}': {exc.problem}", "vars") from None
            if not isinstance(loaded, Mapping):
                raise error(f"vars file '{entry}' must hold a mapping", "vars")
            found.update(loaded)
        elif isinstance(entry, Mapping):
            found.update(entry)
        else:
            raise error("'vars' must list file names and mappings of values", "vars")
    return found


def _lookup(context: Mapping[str, Any], dotted: str) -> Any:
    node: Any = context
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(dotted)
    return node


def _ours(match: re.Match[str], context: Mapping[str, Any]) -> bool:
    """Whether a reference names a var, `item` or `key` (others, like a shell's `${HOME}`,
    are left as written)."""
    return match.group(1).split(".")[0] in context


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _render(value: Any, context: Mapping[str, Any], shell: bool) -> Any:
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value.strip())
        if whole and _ours(whole, context):
            return _lookup(context, whole.group(1))
        parts: list[str] = []
        start = 0
        where: shellquote.Context = ()
        for match in _REFERENCE.finditer(value):
            if not _ours(match, context):
                continue
            before = value[start:match.start()]
            parts.append(before)
            where = shellquote.scan(before, where)
            text = _text(_lookup(context, match.group(1)))
            parts.append(shellquote.quote(text, where) if shell else text)
            start = match.end()
        parts.append(value[start:])
        return "".join(parts)
    if isinstance(value, Mapping):
        out = MarkedDict({k: _render(v, context, False) for k, v in value.items()})
        out.line, out.col, out.key_marks = 0, 0, {}
        if isinstance(value, MarkedDict):
            out.line, out.col, out.key_marks = value.line, value.col, dict(value.key_marks)
        return out
    if isinstance(value, list):
        return [_render(item, context, shell) for item in value]
    return value


def render(value: Any, context: Mapping[str, Any], error: Error, key: Any) -> Any:
    """`value` (the field `key` of a stage) with its references replaced; a `cmd` is
    shell-quoted."""
    try:
        return _render(value, context, key == "cmd")
    except KeyError as exc:
        raise error(f"undefined reference '${{{exc.args[0]}}}'", key) from None


def _render_stage(body: MarkedDict, context: Mapping[str, Any], error: Error) -> MarkedDict:
    out = MarkedDict()
    out.line, out.col, out.key_marks = body.line, body.col, dict(body.key_marks)
    for key, value in body.items():
        out[key] = render(value, context, error, key)
    return out


def _name_part(value: Any, index: int, axis: str = "") -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value)
        if text and re.fullmatch(r"[A-Za-z0-9_.\-]+", text):
            return text
    return f"{axis}{index}"


def _items(body: MarkedDict, context: Mapping[str, Any], error: Error
           ) -> tuple[list[tuple[str, Any, Any]], MarkedDict]:
    """(name suffix, key, item) for each expansion, and the stage template."""
    if "foreach" in body:
        if "matrix" in body:
            raise error("a stage has 'foreach' or 'matrix', not both", "matrix")
        extra = [k for k in body if k not in ("foreach", "do")]
        if extra:
            raise error(f"with 'foreach', the stage goes under 'do' (found '{extra[0]}')",
                        extra[0])
        template = body.get("do")
        if not isinstance(template, MarkedDict):
            raise error("'foreach' needs 'do': the stage to repeat, a mapping", "foreach")
        over = render(body["foreach"], context, error, "foreach")
        if isinstance(over, Mapping) and over:
            return [(_name_part(k, i), k, v) for i, (k, v) in enumerate(over.items())], template
        if isinstance(over, list) and over:
            return [(_name_part(v, i), i, v) for i, v in enumerate(over)], template
        raise error("'foreach' must be a non-empty list or mapping", "foreach")
    axes = render(body["matrix"], context, error, "matrix")
    if not isinstance(axes, Mapping) or not axes or not all(
            isinstance(v, list) and v for v in axes.values()):
        raise error("'matrix' must map each axis to a non-empty list of values", "matrix")
    template = MarkedDict({k: v for k, v in body.items() if k != "matrix"})
    template.line, template.col = body.line, body.col
    template.key_marks = {k: m for k, m in body.key_marks.items() if k != "matrix"}
    names = list(axes)
    combos = itertools.product(*(list(enumerate(axes[n])) for n in names))
    items = []
    for combo in combos:
        suffix = "-".join(_name_part(v, j, axis) for axis, (j, v) in zip(names, combo,
                                                                          strict=True))
        items.append((suffix, suffix, dict(zip(names, (v for _, v in combo), strict=True))))
    return items, template


def _errors(path: Path, stage: str, start: tuple[int, int], where: Any) -> Error:
    """Builds SpecErrors at a field of `where` (a stage's mapping), else at the stage name."""
    def error(problem: str, key: Any) -> SpecError:
        at = where.mark_of(key) if isinstance(where, MarkedDict) and key else start
        return SpecError(problem, path=path, line=at[0], col=at[1], stage=stage)

    return error


def expand(stages: MarkedDict, variables: Mapping[str, Any], path: Path) -> MarkedDict:
    """Stages with each `foreach`/`matrix` stage replaced by its expansions (`name@suffix`,
    at the template's line); other stages get their `${var}` references filled in."""
    out = MarkedDict()
    out.line, out.col, out.key_marks = stages.line, stages.col, {}
    for name, body in stages.items():
        line, col = stages.mark_of(name)
        error = _errors(path, name, (line, col), body)

        templated = isinstance(body, MarkedDict) and ("foreach" in body or "matrix" in body)
        if not templated:
            plain = not isinstance(body, MarkedDict) or not variables
            expanded = [(name, body if plain else _render_stage(body, variables, error))]
        else:
            items, template = _items(body, variables, error)
            expanded = []
            for suffix, key, item in items:
                context = {**variables, "item": item, "key": key}
                expanded.append((f"{name}@{suffix}", _render_stage(
                    template, context, _errors(path, name, (line, col), template))))
        for stage_name, stage in expanded:
            if stage_name in out:
                raise SpecError(f"duplicate stage name '{stage_name}' (first defined on line "
                                f"{out.key_marks[stage_name][0]})", path=path, line=line,
                                col=col)
            out[stage_name] = stage
            out.key_marks[stage_name] = (line, col)
    return out
