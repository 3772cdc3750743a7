"""The pipeline file -> PipelineSpec, or a SpecError naming file, line and stage."""

from __future__ import annotations

import math
import os
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlpipe import kinds
from mlpipe.errors import SpecError, did_you_mean
from mlpipe.kinds.plugin import ConfigProblem, StageKind
from mlpipe.spec import localcode, refs, settings, templating
from mlpipe.spec import params as paramlib
from mlpipe.spec.model import PipelineSpec, StageSpec
from mlpipe.spec.yamlio import MarkedDict, load_file

TOP_LEVEL_FIELDS = ("name", "description", "params", "params_file", "remote", "executor",
                    "stages", "vars", "gitignore")
# Fields every stage may have, whatever its kind.
COMMON_FIELDS = ("kind", "desc", "deps", "outs", "metrics", "params", "needs", "frozen",
                 "always_run", "timeout")
_PATH_LISTS = ("deps", "outs", "metrics")


class _Located:
    """Builds SpecErrors that point into one mapping of the file."""

    def __init__(self, path: Path, mapping: MarkedDict | Any, stage: str | None = None) -> None:
        self.path = path
        self.mapping = mapping
        self.stage = stage

    def error(self, problem: str, key: Any = None, hint: str = "") -> SpecError:
        line, col = 1, None  # not a mapping (the file holds a list or a scalar): its start
        if isinstance(self.mapping, MarkedDict):
            line, col = self.mapping.mark_of(key) if key is not None else (
                self.mapping.line, self.mapping.col)
        return SpecError(problem, path=self.path, line=line, col=col, stage=self.stage, hint=hint)


def load(path: Path, overrides: Sequence[str] = ()) -> PipelineSpec:
    """Read and validate a pipeline file, applying `-S key=value` overrides to its params."""
    path = Path(os.path.abspath(path))
    if not path.is_file():
        raise SpecError("pipeline file not found", path=path,
                        hint="(create one with 'mlpipe init' or pass -f PATH)")
    raw = load_file(path)
    return parse(raw, path, overrides)


def parse(raw: Any, path: Path, overrides: Sequence[str] = ()) -> PipelineSpec:
    """Validate an already-loaded document (see `load`)."""
    top = _Located(path, raw)
    if not isinstance(raw, MarkedDict):
        raise top.error("the pipeline file must be a mapping with a 'stages' key")
    _reject_unknown(top, raw, TOP_LEVEL_FIELDS, "top-level field")
    params = _load_params(top, raw, path.parent)
    try:
        params = paramlib.apply_overrides(params, overrides)
    except paramlib.ParamError as exc:
        from mlpipe.errors import UsageError

        raise UsageError(f"-S {exc.key}: {exc}") from None
    stages_raw = raw.get("stages")
    if not isinstance(stages_raw, MarkedDict) or not stages_raw:
        raise top.error("'stages' must be a mapping of stage name -> stage", "stages")
    stages_raw = _with_text_keys(path, stages_raw)
    variables = templating.load_vars(raw.get("vars"), path.parent, top.error)
    stages_raw = templating.expand(stages_raw, variables, path)
    stages = tuple(_parse_stage(path, name, stages_raw, params) for name in stages_raw)
    stages = refs.resolve(stages, path.parent, lambda stage, key, problem: _Located(
        path, stages_raw[stage], stage).error(problem, key))
    name = raw.get("name") or path.parent.name
    gitignore = raw.get("gitignore", True)
    if not isinstance(gitignore, bool):
        raise top.error("'gitignore' must be true or false", "gitignore")
    return PipelineSpec(path=path, name=str(name), params=params, stages=stages,
                        remote=settings.parse_remote(raw.get("remote"), top.error),
                        executor=settings.parse_executor(raw.get("executor"), top.error),
                        params_file=raw.get("params_file"),
                        overrides=dict(paramlib.parse_override(text) for text in overrides),
                        gitignore=gitignore)


def _with_text_keys(path: Path, mapping: MarkedDict) -> MarkedDict:
    """The same mapping with every key as text (YAML reads `2024:` as a number)."""
    result = MarkedDict()
    result.line, result.col = mapping.line, mapping.col
    result.key_marks = {}
    for key, value in mapping.items():
        text, (line, col) = str(key), mapping.mark_of(key)
        if text in result:  # `1:` and `'1':`
            first = result.key_marks[text][0]
            raise SpecError(f"duplicate stage name '{text}' (first defined on line {first})",
                            path=path, line=line, col=col)
        result[text] = value
        result.key_marks[text] = (line, col)
    return result


def _reject_unknown(loc: _Located, mapping: Mapping[str, Any], allowed: Sequence[str],
                    what: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise loc.error(f"unknown {what} '{key}'{did_you_mean(str(key), allowed)}", key)


def _load_params(top: _Located, raw: MarkedDict, root: Path) -> dict[str, Any]:
    inline = raw.get("params") or {}
    if not isinstance(inline, Mapping):
        raise top.error("'params' must be a mapping", "params")
    file_name = raw.get("params_file")
    if file_name is None:
        return paramlib.merge({}, inline)
    if not isinstance(file_name, str) or not file_name or "\0" in file_name:
        raise top.error("'params_file' must be a path", "params_file")
    try:
        from_file = load_file(root / file_name)
    except SpecError as exc:
        if exc.line is not None:  # a problem inside the params file: point into it
            raise
        raise top.error(f"params file '{file_name}': {exc.problem}", "params_file") from None
    if from_file is None:
        from_file = {}
    if not isinstance(from_file, Mapping):
        raise top.error(f"params file '{file_name}' must hold a mapping", "params_file")
    return paramlib.merge(inline, from_file)


def _parse_stage(path: Path, name: str, stages: MarkedDict, params: Mapping[str, Any]
                 ) -> StageSpec:
    line = stages.mark_of(name)[0]
    body = stages[name]
    _check_name(_Located(path, stages, name), name)
    loc = _Located(path, body if isinstance(body, MarkedDict) else stages, name)
    if not isinstance(body, MarkedDict):
        raise _Located(path, stages, name).error("a stage must be a mapping of fields", name)
    if "kind" not in body:
        known = ", ".join(kinds.known())
        raise loc.error("missing required field 'kind'", hint=f"(one of: {known})")
    try:
        kind = kinds.get(str(body["kind"]))
    except kinds.UnknownKind as exc:
        raise loc.error(str(exc), "kind") from None
    allowed = (*COMMON_FIELDS, *kind.required, *kind.optional)
    _reject_unknown(loc, body, allowed, f"field for kind '{kind.name}'")
    for field_name in kind.required:
        if field_name not in body:
            raise loc.error(f"missing required field '{field_name}' for kind '{kind.name}'")

    used: dict[str, Any] = {}
    resolved: dict[str, Any] = {}
    for key, value in body.items():
        try:
            resolved[key] = paramlib.interpolate(value, params, used,
                                                 shell=key in kind.shell_fields)
        except paramlib.ParamError as exc:
            raise loc.error(str(exc), key) from None
    for key in _string_list(loc, resolved, "params"):
        try:
            used[key] = paramlib.require(params, key)
        except paramlib.ParamError as exc:
            raise loc.error(str(exc), "params") from None

    config = {key: resolved.get(key, default) for key, default in kind.optional.items()}
    config.update({key: resolved[key] for key in kind.required})
    try:
        with localcode.importable(path.parent):
            kind.check(config)
    except ConfigProblem as exc:
        raise loc.error(str(exc), exc.field_name) from None
    return _build_stage(loc, name, kind, config, resolved, used, line, path.parent)


def _check_name(loc: _Located, name: str) -> None:
    """A stage name names log files: no path separators, `.`/`..` or control characters."""
    odd = name in ("", ".", "..") or "/" in name or "\\" in name or any(
        unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name)
    if odd or refs.path_problem(name):
        raise loc.error("a stage name must not be empty, '.' or '..', nor hold '/', '\\' or "
                        "control characters", name)


def _build_stage(loc: _Located, name: str, kind: StageKind, config: dict[str, Any],
                 resolved: Mapping[str, Any], used: dict[str, Any], line: int, root: Path
                 ) -> StageSpec:
    lists = {key: _string_list(loc, resolved, key) for key in _PATH_LISTS}
    deps = tuple(_normalize(loc, root, p, "deps", must_be_inside=False) for p in lists["deps"])
    code = tuple(localcode.code_files(root, localcode.dotted_names(config, kind.code_fields)))
    named = {key: _normalize(loc, root, out, "kind")
             for key, out in kind.outputs(name, config).items()}
    metrics = tuple(dict.fromkeys([
        *(_normalize(loc, root, p, "metrics") for p in lists["metrics"]),
        *(named[key] for key in kind.metric_outputs)]))
    outs = list(dict.fromkeys(_normalize(loc, root, p, "outs") for p in lists["outs"]))
    for out in (*named.values(), *metrics):
        if out not in outs:
            outs.append(out)
    needs = tuple(_string_list(loc, resolved, "needs"))
    for flag in ("frozen", "always_run"):
        if not isinstance(resolved.get(flag, False), bool):
            raise loc.error(f"'{flag}' must be true or false", flag)
    return StageSpec(
        name=name, kind=kind.name, config=config, deps=tuple(dict.fromkeys((*deps, *code))),
        code=code, outs=tuple(outs), outputs=named, metrics=metrics,
        params=dict(sorted(used.items())), needs=needs,
        frozen=resolved.get("frozen", False),
        always_run=resolved.get("always_run", False) or kind.always_run(config),
        timeout=_timeout(loc, resolved.get("timeout")),
        line=line, raw=_plain(loc.mapping),
    )


def _timeout(loc: _Located, value: Any) -> float | None:
    """`timeout:` in seconds: a positive finite number, or None when not given."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 < value < math.inf):
        raise loc.error(f"'timeout' must be a positive number of seconds, not {value!r}",
                        "timeout")
    return float(value)


def _plain(value: Any) -> Any:
    """MarkedDicts -> plain dicts, so a StageSpec pickles small and compares simply."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _string_list(loc: _Located, mapping: Mapping[str, Any], key: str) -> list[str]:
    value = mapping.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise loc.error(f"'{key}' must be a list of non-empty strings", key)
    return value


def _normalize(loc: _Located, root: Path, raw: str, key: str, must_be_inside: bool = True
               ) -> str:
    """Path relative to the root in POSIX form (see refs.normalize for a dep outside it).

    An output (`must_be_inside`) must be relative, stay inside the root once `..` is resolved,
    and not lead out of it through a symlink: mlpipe deletes and restores outputs.
    """
    problem = refs.path_problem(raw)
    if problem:
        raise loc.error(f"path '{raw}' {problem}", key)
    path, inside = refs.normalize(root, raw)
    if not must_be_inside:
        return path
    if os.path.isabs(os.path.expanduser(raw)):
        raise loc.error(f"output path '{raw}' must be relative to the pipeline's root", key)
    if not inside:
        raise loc.error(f"output path '{raw}' is outside the pipeline's root ({root})", key)
    escape = refs.escaping_output(root, [path])
    if escape:
        raise loc.error(escape, key)
    return path
