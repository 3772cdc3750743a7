"""The validated pipeline: immutable values that exist only once the file passed every check."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlpipe.spec.settings import ExecutorSpec, RemoteSpec


@dataclass(frozen=True, eq=False)
class StageSpec:
    """One stage, with params interpolated and paths made relative to the pipeline root.

    Identity is the stage name: two StageSpecs with the same name are the same stage.

    Attributes:
        name: The stage's name, unique in its pipeline.
        kind: Name of the stage kind that runs it (`command`, `train`, ...).
        config: Kind-specific fields after `${params...}` interpolation (e.g. `{"cmd": ...}`).
        deps: Paths the stage reads, relative to the root (`../x` outside it; absolute only
            when written absolute).
        code: The project's Python files the stage runs (named by import path in its config,
            and the local modules they import); they are deps too (see spec/localcode.py).
        outs: Paths the stage writes, relative to the root; includes `metrics` and `outputs`.
        outputs: The kind's named outputs (name -> path); others refer to them as `stage.name`.
        metrics: The outs that hold JSON metrics.
        params: Dotted param key -> value, for every param the stage uses.
        needs: Stages that must run before this one although no path links them.
        frozen: Never re-run, even when stale.
        always_run: Run every time, even when up to date.
        timeout: Seconds the stage may run before it is killed (None: no limit).
        line: Line of the stage's name in the pipeline file.
        raw: The stage as written, before interpolation (tells edits from param changes).
    """

    name: str
    kind: str
    config: Mapping[str, Any] = field(default_factory=dict)
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    code: tuple[str, ...] = ()
    outputs: Mapping[str, str] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    frozen: bool = False
    always_run: bool = False
    timeout: float | None = None
    line: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StageSpec) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass(frozen=True)
class PipelineSpec:
    """A whole pipeline file, validated.

    Attributes:
        path: The pipeline file.
        name: The pipeline's name (the file's directory name when not given).
        params: All params after merging `params_file` and `-S` overrides.
        stages: Stages in file order.
        remote: The shared cache the file names (`remote:`), if any.
        executor: What runs the stages (`executor:`; local by default).
        params_file: The `params_file:` as written (relative to the root), if any.
        overrides: Dotted key -> value of each `-S` override of this load.
        gitignore: Whether `mlpipe run` keeps the outputs in `.gitignore` (see
            state/ignorefile.py).
    """

    path: Path
    name: str
    params: Mapping[str, Any]
    stages: tuple[StageSpec, ...]
    remote: RemoteSpec | None = None
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)
    params_file: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    gitignore: bool = True

    @property
    def root(self) -> Path:
        """The directory that relative paths in the file resolve against."""
        return self.path.parent

    def __iter__(self) -> Iterator[StageSpec]:
        return iter(self.stages)

    def stage(self, name: str) -> StageSpec:
        """The stage called `name` (KeyError when there is none)."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)
