"""Where a pipeline's files live: the pipeline file, its lock file, and `.mlpipe/`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from mlpipe.state import runlock

DEFAULT_FILE = "mlpipe.yaml"
STATE_DIR = ".mlpipe"


@dataclass(frozen=True)
class Workspace:
    """Resolved paths for one pipeline file.

    Attributes:
        pipeline_file: Absolute path of the pipeline file.
        shared_state: A `.mlpipe/` elsewhere to use instead of the one beside the pipeline
            (a temporary worktree of the same repository shares its cache this way).
    """

    pipeline_file: Path
    shared_state: Path | None = None

    @classmethod
    def for_file(cls, path: Path | str | None, shared_state: Path | None = None) -> Workspace:
        """The workspace of `path`; the default file name is looked for upwards from the
        current directory (see `find_upwards`)."""
        if path is None or Path(path) == Path(DEFAULT_FILE):
            found = find_upwards(Path.cwd(), DEFAULT_FILE)
            if found is not None:
                return cls(found, shared_state)
        return cls(Path(path or DEFAULT_FILE).absolute(), shared_state)

    @property
    def root(self) -> Path:
        return self.pipeline_file.parent

    @property
    def lock_file(self) -> Path:
        """`mlpipe.yaml` -> `mlpipe.lock`, beside the pipeline file."""
        return self.pipeline_file.with_suffix(".lock")

    @property
    def state_dir(self) -> Path:
        return self.shared_state or self.root / STATE_DIR

    @property
    def objects_dir(self) -> Path:
        return self.state_dir / "cache" / "objects"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "cache" / "runs"

    @property
    def lock_memo(self) -> Path:
        """The parsed lock file, kept under the hash of its bytes (see lockfile.read)."""
        return self.state_dir / f"{self.pipeline_file.stem}.lock.json"

    @property
    def state_db(self) -> Path:
        return self.state_dir / "state.db"

    @property
    def history_db(self) -> Path:
        return self.state_dir / "runs.db"

    @property
    def _own_name(self) -> str:
        """The pipeline file's stem; with a shared `.mlpipe/`, also a digest of its path, so
        that worktrees sharing one (experiments run side by side) keep their own run lock
        and logs."""
        stem = self.pipeline_file.stem
        if self.shared_state is None:
            return stem
        return f"{stem}-{hashlib.sha256(str(self.pipeline_file).encode()).hexdigest()[:12]}"

    @property
    def run_lock(self) -> Path:
        return self.state_dir / f"{self._own_name}.runlock"

    @property
    def stages_lock(self) -> Path:
        """What the processes working on a run's stages hold shared (see runlock)."""
        return runlock.stages_file(self.run_lock)

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs" / self._own_name


def find_upwards(start: Path, name: str) -> Path | None:
    """`name` in `start` or the nearest directory above it, as git finds `.git`; the search
    stops at the top of the git work tree holding `start` (a directory with `.git`)."""
    start = start.absolute()
    for directory in (start, *start.parents):
        candidate = directory / name
        if candidate.is_file():
            return candidate
        if (directory / ".git").exists():
            return None
    return None
