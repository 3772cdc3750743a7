"""Stages whose files travel through the remote cache instead of a shared file system
(`mlpipe run --executor dask --worker-files remote`): what the dask executor asks of the code
that moves them.

The coordinator ships a stage (`Staging.ship`: its deps go to the remote by digest) and gets
a `Shipment`, which is sent to a worker with the task. The worker runs `Shipment.run`: a fresh
scratch directory as the root, the deps downloaded into it, the stage run there through the
usual deadline paths, the outputs hashed and uploaded; it returns a `StagedResult`. The
coordinator then lands the result (`Staging.land`: outputs downloaded into the workspace and
logs written) before the Scheduler records the run as it records any other.

Execution never imports `mlpipe.remote`: api.py injects the implementation
(`mlpipe.remote.shipping`), and the executor knows only these protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from mlpipe.execute.task import StageTask, TaskOutcome

# Runs a task on the worker the way a stage runs there without staging (see
# `dask_executor.run_here`), so timeouts and process groups hold in a scratch directory too.
Runner = Callable[[StageTask], TaskOutcome]


@dataclass(frozen=True)
class StagedResult:
    """What a worker sends back after running a stage in its scratch directory.

    Attributes:
        outcome: The task's outcome; a failure also when a dep could not be fetched, an
            output was not written, or an output could not be uploaded.
        outs: Output path -> digest of what the worker uploaded (empty after a failure).
        stdout: The stage's standard output (its end, when it is long).
        stderr: The stage's standard error (likewise).
    """

    outcome: TaskOutcome
    outs: Mapping[str, str] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""


class Shipment(Protocol):
    """A shipped stage's files, as a worker needs them; picklable."""

    def run(self, task: StageTask, runner: Runner, scratch_parent: str | None) -> StagedResult:
        """On a worker: run `task` in a new scratch directory under `scratch_parent`.

        Args:
            task: The stage's task as the coordinator built it (its root is not used).
            runner: Runs the task once its root is ready.
            scratch_parent: Where the scratch directory goes (None: the temporary directory).

        Returns:
            The outcome, the uploaded outputs' digests and the logs; never raises.
        """
        ...


class Staging(Protocol):
    """The coordinator's side: ship a stage's deps, land its outputs."""

    def ship(self, task: StageTask) -> Shipment | TaskOutcome:
        """Make sure the remote holds the task's deps (`task.deps`, as the Scheduler hashed
        them); a failed outcome says why they cannot be shipped."""
        ...

    def land(self, task: StageTask, result: StagedResult) -> TaskOutcome:
        """Bring a worker's outputs into the workspace and write its logs; the outcome to
        record (a failure when an output cannot be brought)."""
        ...
