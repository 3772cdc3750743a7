"""Recorded experiments and the queue, under `.mlpipe/experiments/`.

Each experiment is one JSON file, `<name>.json`, written atomically once its run has
succeeded: an experiment that failed or was killed leaves no record. Its outputs are in the
content store under the hashes its lock records. Queued experiments wait in `queue/`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlpipe.state.fsutil import atomic_write_text

FORMAT = 1
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class BadRecord(ValueError):
    """An experiment file that cannot be read."""


@dataclass(frozen=True)
class Experiment:
    """One experiment.

    Attributes:
        name: Unique in the project.
        base: The commit the experiment ran on (HEAD when it was started).
        tree: The commit of the files it ran with (`base`, or a snapshot of uncommitted
            changes to tracked files).
        pipeline: The pipeline file, relative to the repository's top.
        overrides: Dotted param key -> value it ran with.
        params: Every param, flattened (`model.C` -> value).
        metrics: Metrics file -> dotted metric -> value.
        lock: The lock file its run wrote (text).
        created: When it finished (ISO 8601, UTC).
    """

    name: str
    base: str
    tree: str
    pipeline: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    lock: str = ""
    created: str = ""

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Experiment:
        try:
            raw = json.loads(text)
            if raw.pop("format") != FORMAT:
                raise BadRecord("unknown format")
            return cls(**raw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BadRecord(str(exc)) from None


@dataclass(frozen=True)
class Queued:
    """An experiment waiting for `exp run --queued`."""

    name: str
    overrides: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "overrides": list(self.overrides)})


class ExperimentStore:
    """The experiments of one `.mlpipe/` directory."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "experiments"
        self.queue_dir = self.dir / "queue"

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def save(self, experiment: Experiment) -> None:
        atomic_write_text(self.path(experiment.name), experiment.to_json())

    def get(self, name: str) -> Experiment | None:
        try:
            return Experiment.from_json(self.path(name).read_text("utf-8"))
        except (OSError, BadRecord):
            return None

    def all(self) -> list[Experiment]:
        """Every readable experiment, oldest first."""
        found = [self.get(path.stem) for path in sorted(self.dir.glob("*.json"))]
        return sorted((e for e in found if e is not None), key=lambda e: (e.created, e.name))

    def remove(self, name: str) -> bool:
        path = self.path(name)
        existed = path.is_file()
        path.unlink(missing_ok=True)
        return existed

    def enqueue(self, item: Queued) -> None:
        atomic_write_text(self.queue_dir / f"{item.name}.json", item.to_json())

    def queued(self) -> list[Queued]:
        items = []
        for path in sorted(self.queue_dir.glob("*.json")):
            raw = json.loads(path.read_text("utf-8"))
            items.append(Queued(raw["name"], tuple(raw["overrides"])))
        return items

    def dequeue(self, name: str) -> None:
        (self.queue_dir / f"{name}.json").unlink(missing_ok=True)
