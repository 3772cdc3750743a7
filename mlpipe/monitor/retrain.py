"""What `mlpipe monitor --trigger` made of the pipeline run it started, and its exit code.

After drift or degradation, `--trigger` runs the pipeline; its evaluation gate decides whether
the retrained model takes over the reference (e.g. `iris@champion`). The exit code says which
way it went:

- 0: the run succeeded and the reference now names another version (the model was replaced);
- 3: the run succeeded but the reference names the same version (nothing new to train on, or
  the register stage did not move it): the alarm stands;
- 1: the run failed, e.g. the evaluation gate stopped the retrained model; the reference
  keeps its version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlpipe.errors import EXIT_DRIFT, EXIT_OK, EXIT_STAGE_FAILED


@dataclass(frozen=True)
class RetrainOutcome:
    """The triggered run and the version the reference names before and after it.

    Attributes:
        ok: Whether every stage succeeded.
        failed: The stages that failed.
        statuses: How many stages ended in each status (ran, cached, restored, failed...).
        before: The version the reference named before the run (`name:version`).
        after: The version it names after (None when it no longer resolves).
    """

    ok: bool
    failed: tuple[str, ...]
    statuses: dict[str, int]
    before: str
    after: str | None

    @property
    def replaced(self) -> bool:
        return self.after is not None and self.after != self.before

    @property
    def exit_code(self) -> int:
        if not self.ok:
            return EXIT_STAGE_FAILED
        return EXIT_OK if self.replaced else EXIT_DRIFT

    def summary(self, ref: str) -> str:
        """One line: what ran and what the reference names now."""
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.statuses.items()))
        if not self.ok:
            return (f"retrain failed ({', '.join(self.failed)}; {counts}): {ref} is still "
                    f"{self.before}")
        if self.replaced:
            return f"retrained ({counts}): {ref} is now {self.after} (was {self.before})"
        return (f"the pipeline ran ({counts}) but {ref} is still {self.before}: the alarm "
                "stands (new training data is needed)")

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "failed": list(self.failed), "statuses": self.statuses,
                "before": self.before, "after": self.after, "replaced": self.replaced,
                "exit_code": self.exit_code}


def outcome(stages: Iterable[tuple[str, str]], before: str, after: str | None
            ) -> RetrainOutcome:
    """The outcome of a run from its stages' (name, status) pairs.

    Args:
        stages: Each stage's name and status value (`ran`, `cached`, `failed`, ...).
        before: The version the reference named before the run.
        after: The version it names after the run (None when it no longer resolves).
    """
    pairs = list(stages)
    failed = tuple(name for name, status in pairs if status == "failed")
    ok = not any(status in ("failed", "skipped") for _, status in pairs)
    return RetrainOutcome(ok, failed, dict(Counter(status for _, status in pairs)), before,
                          after)
