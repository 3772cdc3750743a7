"""The stage-kind registry: built-in kinds by name, third-party kinds by entry point.

Built-in kinds are imported only when a pipeline names them, so a pipeline of command stages
never imports pandas or scikit-learn. Third-party packages add kinds through the entry-point
group `mlpipe.kinds` (name -> `module:Class`).
"""

from __future__ import annotations

import importlib
from functools import cache

from mlpipe.errors import did_you_mean
from mlpipe.kinds.plugin import StageKind

_BUILTIN: dict[str, str] = {
    "command": "mlpipe.kinds.command:CommandKind",
    "ingest": "mlpipe.kinds.ingest:IngestKind",
    "validate": "mlpipe.kinds.validate:ValidateKind",
    "train": "mlpipe.kinds.train:TrainKind",
    "evaluate": "mlpipe.kinds.evaluate:EvaluateKind",
    "register": "mlpipe.kinds.register_model:RegisterKind",
    "deploy": "mlpipe.kinds.deploy:DeployKind",
}
_REGISTERED: dict[str, type[StageKind]] = {}
ENTRY_POINT_GROUP = "mlpipe.kinds"


class UnknownKind(LookupError):
    """No kind of that name; the message lists the known kinds and the nearest one."""


def add_kind(cls: type[StageKind]) -> type[StageKind]:
    """Class decorator that makes a kind available under `cls.name` (it wins over a built-in
    or entry-point kind of the same name, also one already looked up)."""
    _REGISTERED[cls.name] = cls
    return cls


@cache
def _entry_points() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known() -> list[str]:
    """Names of every available kind, sorted."""
    return sorted({*_BUILTIN, *_REGISTERED, *_entry_points()})


def _load(target: str) -> type[StageKind]:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def get(name: str) -> StageKind:
    """An instance of the kind called `name`."""
    if name in _REGISTERED:
        return _REGISTERED[name]()
    return _get_installed(name)


@cache
def _get_installed(name: str) -> StageKind:
    """A built-in or entry-point kind, loaded once per process."""
    target = _BUILTIN.get(name) or _entry_points().get(name)
    if target is None:
        raise UnknownKind(
            f"unknown kind '{name}'{did_you_mean(name, known())}; known kinds: {', '.join(known())}"
        )
    return _load(target)()
