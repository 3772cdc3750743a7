"""What execution tells the outside world: the only thing a user interface knows about a run."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class Status(Enum):
    """How a stage ended."""

    RAN = "ran"
    CACHED = "cached"
    RESTORED = "restored"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class RunStarted:
    """A run begins; these stages are selected, in run order."""

    stages: tuple[str, ...]


@dataclass(frozen=True)
class StageStarted:
    """A stage began running (or restoring).

    Attributes:
        stage: Stage name.
        activity: "running" or "restoring".
        reason: Why it must run.
    """

    stage: str
    activity: str
    reason: str = ""


@dataclass(frozen=True)
class StageFinished:
    """A stage reached its final status.

    Attributes:
        stage: Stage name.
        status: How it ended.
        reason: Why (why it ran, why it failed, why it was skipped).
        duration_s: Wall time spent on it.
        stderr_tail: Last lines of a failed command's standard error.
        log: The stage's log file, when it ran.
        warning: A problem that did not fail the stage (e.g. result not recorded).
    """

    stage: str
    status: Status
    reason: str = ""
    duration_s: float = 0.0
    stderr_tail: str = ""
    log: Path | None = None
    warning: str = ""


@dataclass(frozen=True)
class Notice:
    """A warning that belongs to no single stage's result (e.g. a corrupt cache entry)."""

    message: str


Event = RunStarted | StageStarted | StageFinished | Notice


class FailurePolicy(Enum):
    """What happens to the rest of a run when a stage fails."""

    FAIL_FAST = "fail_fast"
    KEEP_GOING = "keep_going"
