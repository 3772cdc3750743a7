"""runlock: one run per pipeline; the kernel frees the lock when its holder dies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlpipe.errors import RunLocked
from mlpipe.state import runlock

HOLD_WITH_MLPIPE = """
import sys, time
from pathlib import Path
from mlpipe.state import runlock
with runlock.hold(Path(sys.argv[1]), wait_s=0):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""

# Holds the flock without writing who it is, like a holder killed before it could.
HOLD_SILENTLY = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


class Holder:
    """A child process that holds the lock at `path` for `seconds`."""

    def __init__(self, script: str, path: Path, seconds: float) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", script, str(path), str(seconds)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def lock_path(tmp_path: Path) -> Path:
    return tmp_path / ".mlpipe" / "mlpipe.runlock"


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.kill()


def hold_in_child(holders: list[Holder], path: Path, seconds: float = 60,
                  script: str = HOLD_WITH_MLPIPE) -> Holder:
    holder = Holder(script, path, seconds)
    holders.append(holder)
    return holder


class TestAcrossProcesses:
    def test_a_second_run_waits_then_fails_naming_the_holder(
            self, lock_path: Path, holders: list[Holder]) -> None:
        holder = hold_in_child(holders, lock_path)
        started = time.monotonic()
        with pytest.raises(RunLocked, match=rf"another mlpipe run holds .*mlpipe\.runlock "
                                            rf"\(pid {holder.pid} on ") as info, \
                runlock.hold(lock_path, wait_s=0.2):
            pass
        assert time.monotonic() - started >= 0.2
        assert info.value.holder == f"pid {holder.pid} on {socket.gethostname()}"
        assert info.value.lock_path == lock_path
        assert "waited 0.2s" in str(info.value) and "MLPIPE_LOCK_WAIT" in str(info.value)

    def test_the_lock_is_free_once_the_holder_is_killed(
            self, lock_path: Path, holders: list[Holder]) -> None:
        holder = hold_in_child(holders, lock_path)
        holder.kill()
        with runlock.hold(lock_path, wait_s=0.2):
            assert runlock.holder_file(lock_path).read_text().startswith(
                f"pid {os.getpid()} on ")

    def test_a_waiting_run_gets_the_lock_when_the_holder_finishes(
            self, lock_path: Path, holders: list[Holder]) -> None:
        hold_in_child(holders, lock_path, seconds=0.3)
        with runlock.hold(lock_path, wait_s=10):
            assert runlock.holder_file(lock_path).read_text().startswith(
                f"pid {os.getpid()} on ")

    def test_a_holder_that_wrote_nothing_is_said_to_be_silent(
            self, lock_path: Path, holders: list[Holder]) -> None:
        lock_path.parent.mkdir(parents=True)
        hold_in_child(holders, lock_path, script=HOLD_SILENTLY)
        with pytest.raises(RunLocked, match=r"\(its holder did not say who it is\)"), \
                runlock.hold(lock_path, wait_s=0):
            pass

    def test_a_holder_file_naming_an_ended_process_is_said_to_have_ended(
            self, lock_path: Path, holders: list[Holder]) -> None:
        lock_path.parent.mkdir(parents=True)
        hold_in_child(holders, lock_path, script=HOLD_SILENTLY)
        ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                               capture_output=True, text=True, check=True).stdout.strip()
        runlock.holder_file(lock_path).write_text(f"pid {ended} on {socket.gethostname()}")
        with pytest.raises(RunLocked, match=rf"\(pid {ended} on .*, which has ended\)"), \
                runlock.hold(lock_path, wait_s=0):
            pass


class TestInProcess:
    def test_sequential_holds_and_the_file_names_the_holder_only_while_held(
            self, lock_path: Path) -> None:
        for _ in range(2):
            with runlock.hold(lock_path, wait_s=0):
                assert runlock.holder_file(lock_path).read_text() == \
                    f"pid {os.getpid()} on {socket.gethostname()}"
            assert not runlock.holder_file(lock_path).exists()

    def test_released_when_the_body_raises(self, lock_path: Path) -> None:
        with pytest.raises(KeyError), runlock.hold(lock_path, wait_s=0):
            raise KeyError("boom")
        with runlock.hold(lock_path, wait_s=0):
            pass

    @pytest.mark.parametrize(("env", "expected"), [
        (None, runlock.DEFAULT_WAIT_S), ("1.5", 1.5), ("0", 0.0), ("soon", runlock.DEFAULT_WAIT_S),
    ])
    def test_wait_seconds_from_the_environment(self, monkeypatch: pytest.MonkeyPatch,
                                               env: str | None, expected: float) -> None:
        if env is None:
            monkeypatch.delenv("MLPIPE_LOCK_WAIT", raising=False)
        else:
            monkeypatch.setenv("MLPIPE_LOCK_WAIT", env)
        assert runlock.wait_seconds() == expected
