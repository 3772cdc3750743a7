"""Where a pipeline's files live: the pipeline file, its lock file, and `.mlpipe/`."""

from __future__ import annotations

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
    def run_lock(self) -> Path:
        return self.state_dir / f"{self.pipeline_file.stem}.runlock"

    @property
    def stages_lock(self) -> Path:
        """What the processes working on a run's stages hold shared (see runlock)."""
        return runlock.stages_file(self.run_lock)

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs" / self.pipeline_file.stem
