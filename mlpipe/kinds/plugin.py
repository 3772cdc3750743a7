"""The stage-kind plug-in interface: what a kind declares, and what it is given to run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from mlpipe.spec.model import StageSpec


OUTPUT_ROOT = "out"


def output_path(stage: str, filename: str) -> str:
    """Where a kind writes a named output by default: `out/<stage>/<filename>`."""
    return f"{OUTPUT_ROOT}/{stage}/{filename}"


class ConfigProblem(ValueError):
    """A kind-specific field holds a bad value; the parser adds file, line and stage."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name


@dataclass(frozen=True)
class StageContext:
    """What a kind's `run` gets: the stage, where it runs, and where its logs go.

    Attributes:
        stage: The stage to run.
        root: The pipeline root; the working directory of the stage.
        stdout_path: File that receives the stage's standard output.
        stderr_path: File that receives the stage's standard error.
        env: Extra environment variables for the stage.
        lock_file: The pipeline's lock file: what each stage last produced, for kinds that
            check an input against the hash its producer recorded (None outside a run).
        pipeline_file: The pipeline file the stage belongs to (None outside a run).
        state_dir: The pipeline's state directory when it is not `root/.mlpipe` (a
            reproduction's scratch state); kinds read `state`.
    """

    stage: StageSpec
    root: Path
    stdout_path: Path
    stderr_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    lock_file: Path | None = None
    pipeline_file: Path | None = None
    state_dir: Path | None = None

    @property
    def state(self) -> Path:
        """Where the registry, cards and deployment records live."""
        return self.state_dir or self.root / ".mlpipe"  # Workspace.state_dir's default


@dataclass(frozen=True)
class StageResult:
    """What a kind reports after a successful run.

    Attributes:
        summary: One line for the terminal (may be empty).
        warning: Something the user should act on although the stage succeeded (shown as
            `stage: warning: ...` after the run; empty for none).
    """

    summary: str = ""
    warning: str = ""


class StageKind(ABC):
    """A kind of stage: its schema, the versions that shape its results, and how it runs.

    Subclasses set `name`, list their fields in `required` and `optional` (with defaults), and
    implement `run`. `check` may reject bad values with ConfigProblem. Kinds that write outputs
    at paths of their own choosing return them from `outputs`.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    required: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[Mapping[str, Any]] = {}
    # Config fields that name what the stage reads: an upstream output as `stage.output`, or
    # a path. The parser turns each into a path relative to the root and adds it to the deps.
    inputs: ClassVar[tuple[str, ...]] = ()
    # Config fields that may name the project's own code by import path (`mymodels.MyLR`,
    # at any depth inside them): the files behind those names are keyed (spec/localcode.py).
    code_fields: ClassVar[tuple[str, ...]] = ()
    # Named outputs (see `outputs`) that hold JSON metrics.
    metric_outputs: ClassVar[tuple[str, ...]] = ()
    # Config fields a shell runs: a `${params.x}` inside their text is shell-quoted.
    shell_fields: ClassVar[tuple[str, ...]] = ()
    # Whether the kind starts other processes (a shell, its programs); an executor whose
    # worker may die under a stage then runs the stage in a process group that dies with it.
    spawns_processes: ClassVar[bool] = False

    def check(self, config: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Raise ConfigProblem for a field whose value cannot work."""

    def outputs(self, stage: str, config: Mapping[str, Any]) -> dict[str, str]:
        """Named outputs the kind writes (name -> path relative to the root).

        Later stages refer to them as `stage.name`; `output_path` gives the usual place.
        """
        return {}

    def always_run(self, config: Mapping[str, Any]) -> bool:
        """True when results depend on more than the key (e.g. the registry's champion)."""
        return False

    def needs_project(self, config: Mapping[str, Any]) -> bool:
        """True when the stage uses the project beyond its deps and outputs (the model
        registry, git): workers that lack the project (`--worker-files remote`) cannot run it,
        so it runs on the machine that coordinates the run."""
        return False

    def display(self, config: Mapping[str, Any]) -> str | None:
        """A one-line form of the definition shown in the lock file (None for none)."""
        return None

    def versions(self) -> dict[str, str]:
        """Versions that affect this kind's results; they are part of every stage key."""
        return {"kind": f"{self.name}/{self.version}"}

    @abstractmethod
    def run(self, ctx: StageContext) -> StageResult:
        """Do the stage's work; raise StageFailed (or any exception) when it fails."""
