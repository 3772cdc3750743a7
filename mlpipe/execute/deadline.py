"""Stages with a `timeout:` run in a forked process that leads its own process group.

Python cannot interrupt a stage stuck in C code, and killing only the stage's process would
leave what it started (a shell, the programs the shell runs) behind. So a stage with a timeout
runs in a child process that leads a new process group, and when its time is up the whole
group gets SIGKILL. The process that forks is the run itself with `-j 1` and a pool worker
with `-j N`, so no pool worker is ever killed and the pool stays usable.

The group cannot outlive the stage: when the forking process ends first (the run was
killed, or interrupted while waiting), the group is killed too, and so is what is left of it
once the stage has reported (a program the command started in the background), so nothing
goes on writing the stage's outputs while they are recorded. Stages whose kind starts
processes always run this way (`run_stage`), with or without a timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, NoReturn

from mlpipe import kinds
from mlpipe.execute.task import StageTask, TaskOutcome, run_task

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

PARENT_POLL_S = 0.2


def execute(task: StageTask, own_group: bool = False) -> TaskOutcome:
    """Run a task here, or in its own process group when its stage has a timeout or
    `own_group` asks for one (the group then also dies with this process)."""
    if task.stage.timeout is None and not own_group:
        return run_task(task)
    return run_with_deadline(task, task.stage.timeout)


def run_stage(task: StageTask) -> TaskOutcome:
    """Run a task the way every executor does: in its own process group when its kind
    starts processes (a command's shell and its programs), so none of them outlives it."""
    return execute(task, own_group=kinds.get(task.stage.kind).spawns_processes)


def run_with_deadline(task: StageTask, timeout_s: float | None) -> TaskOutcome:
    """Run a task in a new process group, killing the whole group after `timeout_s` seconds
    (None: no limit; the group still dies with this process).

    Returns:
        The task's outcome; a failed one saying "timed out after Ns" when time ran out.
    """
    import multiprocessing

    started = time.perf_counter()
    reader, writer = multiprocessing.Pipe(duplex=False)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        reader.close()
        _child(task, writer, parent)
    writer.close()
    with contextlib.suppress(OSError):  # the child does it too; whichever comes first
        os.setpgid(pid, pid)
    outcome: TaskOutcome | None = None
    timed_out = False
    try:
        timed_out = not reader.poll(timeout_s)
        if not timed_out:
            with contextlib.suppress(EOFError):  # the child died without a result
                outcome = reader.recv()
    finally:
        reader.close()
        _kill_group(pid)  # timed out, died, interrupted, or done with processes left running
        _, status = os.waitpid(pid, 0)
    if outcome is not None:
        return outcome
    took = time.perf_counter() - started
    if timed_out:
        return TaskOutcome(task.stage.name, False, took, f"timed out after {timeout_s:g}s")
    return TaskOutcome(task.stage.name, False, took,
                       f"stage process {_ended(status)} before reporting a result")


def _child(task: StageTask, writer: Connection, parent: int) -> NoReturn:
    """The forked side: lead a new group, run the task, send its outcome, exit."""
    code = 1
    try:
        os.setpgid(0, 0)
        threading.Thread(target=_die_with, args=(parent,), daemon=True).start()
        writer.send(run_task(task))
        code = 0
    finally:
        os._exit(code)


def _die_with(parent: int) -> None:
    """Kill this process group once `parent` is gone (the child was reparented)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os.killpg(0, signal.SIGKILL)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by signal {os.WTERMSIG(status)}"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"
