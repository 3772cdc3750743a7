"""Params that reach a stage's code: a JSON file, per-key environment variables, and the
pipeline's params file rewritten for a run with overrides.

Every stage of a run gets `MLPIPE_PARAMS_FILE` (a JSON file holding all of the run's params)
and one `MLPIPE_PARAM_<KEY>` variable per leaf of each param it uses (`model.C` ->
`MLPIPE_PARAM_MODEL_C`; strings as they are, other values as JSON).

When the run has `-S` overrides and the pipeline reads a `params_file:`, scripts that read that
file themselves (`yaml.safe_load(open("params.yaml"))`) must see the run's values too. So the
file is rewritten (atomically) with the overridden values for the run, and put back afterwards.
Its original bytes are first saved under `.mlpipe/tmp/` with a journal naming them, and a small
guard process, in a session of its own, waits for the run to end however it ends (SIGKILL
included): if the journal is still there, it puts the original back. A run that starts also
restores what a journal left by a dead run names.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from mlpipe.spec import params as paramlib
from mlpipe.spec.model import PipelineSpec, StageSpec
from mlpipe.state.fsutil import atomic_write_bytes, atomic_write_text

PARAMS_FILE_VAR = "MLPIPE_PARAMS_FILE"
PARAM_VAR_PREFIX = "MLPIPE_PARAM_"
_NOT_NAME = re.compile(r"[^A-Za-z0-9]+")
# Kinds that run a program of the user's, which can read the environment and the params file.
_READS_ENVIRONMENT = ("command",)


def env_name(dotted: str) -> str:
    """`model.C` -> `MLPIPE_PARAM_MODEL_C`."""
    return PARAM_VAR_PREFIX + _NOT_NAME.sub("_", dotted).strip("_").upper()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def stage_env(stage: StageSpec, params_json: Path) -> dict[str, str]:
    """The environment variables that carry a stage's params."""
    env = {PARAMS_FILE_VAR: str(params_json)}
    for key, value in stage.params.items():
        leaves = paramlib.flat_keys(value) if isinstance(value, Mapping) and value else []
        env[env_name(key)] = _text(value)
        for leaf in leaves:
            env[env_name(f"{key}.{leaf}")] = _text(paramlib.lookup(value, leaf))
    return env


def _overridden(key: str, overrides: Mapping[str, Any]) -> list[str]:
    """Overrides that change what `key` names (the key itself, inside it, or around it)."""
    return [o for o in overrides
            if o == key or o.startswith(f"{key}.") or key.startswith(f"{o}.")]


def unreachable(spec: PipelineSpec) -> list[str]:
    """Warnings for stages that declare an overridden param they have no way to read.

    A kind other than `command` reads only its own fields: a param listed in its `params:` but
    not written as `${params.x}` in a field keeps its old effect, whatever the override says.
    """
    warnings: list[str] = []
    for stage in spec:
        if stage.kind in _READS_ENVIRONMENT:
            continue
        declared = stage.raw.get("params") or []
        interpolated = json.dumps({k: v for k, v in stage.raw.items() if k != "params"},
                                  default=str)
        for key in declared if isinstance(declared, list) else []:
            hits = _overridden(str(key), spec.overrides)
            if hits and f"params.{key}" not in interpolated:
                warnings.append(
                    f"stage '{stage.name}': param '{key}' is overridden (-S {hits[0]}) but a "
                    f"'{stage.kind}' stage reads only its fields; write ${{params.{key}}} in "
                    "the field that uses it, or the override does not reach it")
    return warnings


def _rewritten(original: bytes, overrides: Mapping[str, Any]) -> bytes | None:
    """The params file with each override applied to a key it holds (None: none applies)."""
    try:
        data = yaml.safe_load(original.decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, Mapping):
        return None
    held = [f"{key}={json.dumps(value)}" for key, value in overrides.items()
            if paramlib.lookup(data, key) is not paramlib.MISSING]
    if not held:
        return None
    changed = paramlib.apply_overrides(data, held)
    return yaml.safe_dump(changed, sort_keys=False, allow_unicode=True).encode("utf-8")


def restore_from(journal: Path) -> None:
    """Put back the params file a journal names, then remove the journal and its copy."""
    try:
        entry = json.loads(journal.read_text("utf-8"))
        target, backup = Path(entry["target"]), Path(entry["backup"])
    except (OSError, ValueError, KeyError, TypeError):
        journal.unlink(missing_ok=True)
        return
    if backup.is_file():
        if target.parent.is_dir():
            atomic_write_bytes(target, backup.read_bytes())
            with contextlib.suppress(OSError):
                os.chmod(target, int(entry.get("mode", 0o644)))
        journal.unlink(missing_ok=True)
        backup.unlink(missing_ok=True)
    else:
        journal.unlink(missing_ok=True)


def recover(tmp_dir: Path, root: Path) -> None:
    """Restore params files that runs killed before the guard could act left rewritten, and
    remove the params JSON files of runs that are gone."""
    for stale in tmp_dir.glob("params-*.json"):
        pid = stale.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    for journal in sorted(tmp_dir.glob("params-*.journal")):
        with contextlib.suppress(OSError, ValueError):
            entry = json.loads(journal.read_text("utf-8"))
            if Path(entry["target"]).parent == root and not _alive(int(entry["pid"])):
                restore_from(journal)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _swapped(target: Path, new: bytes, tmp_dir: Path, run_id: str) -> Iterator[None]:
    backup = tmp_dir / f"params-{run_id}.orig"
    journal = tmp_dir / f"params-{run_id}.journal"
    atomic_write_bytes(backup, target.read_bytes())
    atomic_write_text(journal, json.dumps({"target": str(target), "backup": str(backup),
                                           "mode": target.stat().st_mode & 0o7777,
                                           "pid": os.getpid()}))
    guard = subprocess.Popen([sys.executable, "-m", "mlpipe.execute.paramguard", str(journal)],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        atomic_write_bytes(target, new)
        yield
    finally:
        restore_from(journal)
        assert guard.stdin is not None
        guard.stdin.close()
        guard.wait()


@contextmanager
def delivered(spec: PipelineSpec, tmp_dir: Path, run_id: str,
              warn: Callable[[str], None]) -> Iterator[Callable[[StageSpec], dict[str, str]]]:
    """For the body of the `with`: the params JSON file exists, the params file holds the
    run's values, and the yielded function gives each stage its environment variables."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    recover(tmp_dir, spec.root)
    params_json = tmp_dir / f"params-{os.getpid()}-{run_id}.json"
    atomic_write_text(params_json, json.dumps(spec.params, sort_keys=True, default=str),
                      durable=False)
    for message in unreachable(spec):
        warn(message)
    swap: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if spec.overrides and spec.params_file:
        target = spec.root / spec.params_file
        new = _rewritten(target.read_bytes(), spec.overrides) if target.is_file() else None
        if new is not None:
            swap = _swapped(target, new, tmp_dir, run_id)
    try:
        with swap:
            yield lambda stage: stage_env(stage, params_json)
    finally:
        params_json.unlink(missing_ok=True)
