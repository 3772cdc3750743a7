"""What a triggered retrain means for the exit code of `mlpipe monitor --trigger`."""

from __future__ import annotations

import pytest

from mlpipe.monitor.retrain import outcome


@pytest.mark.parametrize(("stages", "after", "code", "text"), [
    ([("train", "ran"), ("register", "ran")], "loans:3", 0,
     "retrained (2 ran): loans@champion is now loans:3 (was loans:2)"),
    ([("train", "cached"), ("register", "ran")], "loans:2", 3,
     "the pipeline ran (1 cached, 1 ran) but loans@champion is still loans:2: the alarm stands"),
    ([("train", "ran"), ("evaluate", "failed"), ("register", "skipped")], "loans:2", 1,
     "retrain failed (evaluate; 1 failed, 1 ran, 1 skipped): loans@champion is still loans:2"),
    ([("train", "ran")], None, 3, "is still loans:2"),
])
def test_exit_code_follows_the_run_and_the_reference(stages: list, after: str | None,
                                                     code: int, text: str) -> None:
    result = outcome(stages, "loans:2", after)
    assert result.exit_code == code
    assert text in result.summary("loans@champion")
    assert result.to_json()["exit_code"] == code
    assert result.to_json()["replaced"] is (code == 0)
