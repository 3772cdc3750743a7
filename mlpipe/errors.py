"""Every error mlpipe reports to a user, with its exit code.

Each class stores the facts of the failure as fields and builds a one-line message from them
that says what went wrong, where, and (when there is one) how to fix it. The CLI maps
`MlpipeError.exit_code` to the process exit code in one place (`mlpipe.cli.app.main`).
"""

from __future__ import annotations

import difflib
import errno
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

EXIT_OK = 0
EXIT_STAGE_FAILED = 1
EXIT_USAGE = 2
EXIT_STALE = 3
# `mlpipe monitor`: live inputs drifted, or live metrics dropped, past the threshold
EXIT_DRIFT = 3
EXIT_INTERRUPTED = 130


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the nearest choice, or '' when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped (`\\n`, `\\x1b`).

    Messages quote what the user wrote (keys, names, paths), which may hold such characters;
    escaped, a message stays one line and cannot drive the terminal.
    """
    return "".join(repr(char)[1:-1] if unicodedata.category(char) in ("Cc", "Zl", "Zp")
                   else char for char in text)


class MlpipeError(Exception):
    """Root of every error mlpipe reports without a traceback."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SpecError(MlpipeError):
    """The pipeline file is invalid: reported as `file:line:col: stage 'x': problem`."""

    exit_code = EXIT_USAGE

    def __init__(
        self,
        problem: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        col: int | None = None,
        stage: str | None = None,
        hint: str = "",
    ) -> None:
        self.problem = problem
        self.path = Path(path) if path is not None else None
        self.line = line
        self.col = col
        self.stage = stage
        self.hint = hint
        super().__init__(self._build())

    def _build(self) -> str:
        where = ""
        if self.path is not None:
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
                if self.col is not None:
                    where += f":{self.col}"
            where += ": "
        stage = f"stage '{self.stage}': " if self.stage else ""
        hint = f" {self.hint}" if self.hint else ""
        return one_line(f"{where}{stage}{self.problem}{hint}")


class CycleError(SpecError):
    """The stages depend on each other in a loop."""

    def __init__(self, cycle: Sequence[str], *, path: Path | None, line: int | None) -> None:
        self.cycle = tuple(cycle)
        loop = " -> ".join([*self.cycle, self.cycle[0]])
        super().__init__(f"dependency cycle: {loop}", path=path, line=line, stage=self.cycle[0])


class UsageError(MlpipeError):
    """A command was called with arguments that cannot work (unknown target, bad -S...)."""

    exit_code = EXIT_USAGE


class StageFailed(MlpipeError):
    """A stage's work failed; its dependents are skipped."""

    exit_code = EXIT_STAGE_FAILED

    def __init__(self, stage: str, reason: str, *, returncode: int | None = None,
                 stderr_tail: str = "") -> None:
        self.stage = stage
        self.reason = reason
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        super().__init__(f"stage '{stage}' failed: {reason}")


class CacheCorrupt(MlpipeError):
    """An entry of the cache does not hold what its name promises."""

    exit_code = EXIT_STAGE_FAILED

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"{path}: corrupt cache entry ({detail}); it was removed and will be rebuilt"
        )


class CacheWriteError(MlpipeError):
    """The cache cannot be written (disk full, read-only, no permission): nothing is recorded."""

    exit_code = EXIT_STAGE_FAILED

    def __init__(self, path: Path, error: OSError) -> None:
        self.path = path
        self.error = error
        reason = error.strerror or str(error) or type(error).__name__
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            fix = "free some disk space"
        elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            fix = "make the cache directory writable"
        else:
            fix = "check the cache directory"
        super().__init__(
            f"cannot write to the cache at {path} ({reason}); nothing was recorded: {fix}, "
            "then run again"
        )


class LockFileError(MlpipeError):
    """mlpipe.lock cannot be read."""

    exit_code = EXIT_USAGE

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"{path}: unreadable lock file ({detail}); fix it, or delete it to re-run every stage"
        )


class RunLocked(MlpipeError):
    """Another mlpipe process holds the run lock of this pipeline."""

    exit_code = EXIT_STAGE_FAILED

    def __init__(self, lock_path: Path, holder: str, waited_s: float) -> None:
        self.lock_path = lock_path
        self.holder = holder
        self.waited_s = waited_s
        super().__init__(
            f"another mlpipe run holds {lock_path} ({holder}); waited {waited_s:g}s. "
            "Wait for it to finish, or set MLPIPE_LOCK_WAIT to wait longer"
        )


class StageProcessesLeft(MlpipeError):
    """Processes an earlier run started for its stages are still alive."""

    exit_code = EXIT_STAGE_FAILED

    def __init__(self, path: Path, waited_s: float) -> None:
        self.path = path
        self.waited_s = waited_s
        super().__init__(
            f"processes started by an earlier mlpipe run still work on this pipeline's outputs "
            f"(they hold {path}); waited {waited_s:g}s. Stop them (`fuser {path}` names them) "
            "and run again"
        )


class RemoteConfigError(UsageError):
    """A remote cannot be chosen or opened: none set, unknown name, bad URL, missing library."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(one_line(problem))


class RemoteError(MlpipeError):
    """A remote cannot be reached, or a transfer to or from it failed."""

    exit_code = EXIT_STAGE_FAILED

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(one_line(f"remote '{url}': {detail}"))


class ExecutorConfigError(UsageError):
    """The executor asked for cannot be used as asked: its library is missing, or options clash."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(one_line(problem))


class ClusterUnavailable(MlpipeError):
    """A dask scheduler cannot be reached in time or has no workers, or a local cluster does not
    start (`address` None)."""

    exit_code = EXIT_STAGE_FAILED

    def __init__(self, address: str | None, detail: str) -> None:
        self.address = address
        self.detail = detail
        if address is None:
            message = f"cannot start a local dask cluster: {detail}"
        else:
            message = (f"cannot use the dask scheduler at {address}: {detail}; check the "
                       "address and that the scheduler is running, or leave out --scheduler to "
                       "start a local cluster")
        super().__init__(one_line(message))


class OutputWriteError(MlpipeError):
    """A file the user asked for (e.g. a report) cannot be written where they asked."""

    exit_code = EXIT_USAGE

    def __init__(self, path: Path, error: OSError, option: str) -> None:
        self.path = path
        self.error = error
        reason = error.strerror or str(error) or type(error).__name__
        super().__init__(one_line(f"cannot write {path} ({reason}); choose another path "
                                  f"with {option}"))


class LockConflictError(LockFileError):
    """mlpipe.lock still holds git conflict markers (a LockFileError, so handlers of
    unreadable lock files handle it too)."""

    def __init__(self, path: Path, line: int) -> None:
        self.path = path
        self.line = line
        self.detail = f"git conflict markers at line {line}"
        MlpipeError.__init__(self,
            f"{path}:{line}: the lock file holds git conflict markers from a merge; take one "
            f"side (git checkout --theirs -- {path.name}) and run `mlpipe run` to re-record "
            "what changed, and run `mlpipe hooks install` so git merges lock files stage by "
            "stage from now on"
        )


class OutputConflictError(MlpipeError):
    """Two pipeline files in one directory write the same path."""

    exit_code = EXIT_USAGE

    def __init__(self, path: str, first: Path, second: Path, stages: tuple[str, str]) -> None:
        self.path = path
        self.files = (first, second)
        super().__init__(
            f"{second}: stage '{stages[1]}' writes {path}, which stage '{stages[0]}' of "
            f"{first} also writes; pipeline files in one directory share it, so give one of "
            "them another output path"
        )


class RegistryError(MlpipeError):
    """An unknown model, version or alias, a bad reference, or a tampered model file."""

    exit_code = EXIT_USAGE


class RegistryUnreadable(MlpipeError):
    """The model registry cannot be read, so gc cannot tell which models must stay."""

    exit_code = EXIT_USAGE

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: cannot read the model registry ({detail}); gc removed "
                         "nothing. Repair or move the registry, then run gc again")


class DatabaseUnusable(MlpipeError):
    """One of mlpipe's SQLite databases (registry, run history) is damaged or cannot be used."""

    exit_code = EXIT_USAGE

    def __init__(self, path: Path, what: str, detail: str, fix: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(one_line(f"{path}: the {what} cannot be read ({detail}); {fix}"))


def is_damage(error: Exception) -> bool:
    """Whether an sqlite3 error says the database file itself is damaged (not busy, not full)."""
    text = str(error).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


class ServeError(MlpipeError):
    """`mlpipe serve` could not start serving (the address is in use, not permitted...)."""

    exit_code = EXIT_STAGE_FAILED

    def __init__(self, reason: str) -> None:
        super().__init__(one_line(f"{reason}; choose another --port or stop what uses it"
                                  if "in use" in reason else reason))


class DataError(MlpipeError):
    """Versioned data cannot be put in place: its content is not in the cache, or the path
    on disk holds an edit nobody recorded."""

    exit_code = EXIT_STAGE_FAILED

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(one_line(f"{path}: {problem}"))
