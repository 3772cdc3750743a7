"""Terminal rendering: the live table on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from mlpipe.cli import render
from mlpipe.execute.events import Notice, RunStarted, StageFinished, StageStarted, Status

EVENTS = [
    RunStarted(("prep", "train")),
    StageStarted("prep", "running", "never ran"),
    StageFinished("prep", Status.RAN, "never ran", 1.5),
    StageStarted("train", "running", "dep x changed"),
    StageFinished("train", Status.FAILED, "command exited with code 2", 0.25, "bad value\nboom"),
    Notice("corrupt run-cache entry"),
]


def test_live_table_shows_each_stage_state_and_the_stderr_tail() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    live = render.LiveRenderer(console)
    for event in EVENTS:
        live(event)
    live.close()
    text = out.getvalue()
    final = text[text.rindex("prep"):]
    assert "prep   ran     1.5s  never ran" in final
    assert "train  failed  0.2s  command exited with code 2" in final
    assert "train (stderr):\n    | bad value\n    | boom" in final
    assert "warning: corrupt run-cache entry" in final


def test_plain_lines() -> None:
    out = io.StringIO()
    plain = render.PlainRenderer(Console(file=out, width=40, soft_wrap=True))
    for event in EVENTS:
        plain(event)
    assert out.getvalue().splitlines() == [
        "prep: running (never ran)",
        "prep: ran in 1.50s",
        "train: running (dep x changed)",
        "train: failed in 0.25s: command exited with code 2",
        "    | bad value",
        "    | boom",
        "warning: corrupt run-cache entry",
    ]


@pytest.mark.parametrize(("env", "plain"), [({}, False), ({"NO_COLOR": "1"}, True),
                                            ({"CI": "true"}, True)])
def test_plain_when_no_color_or_ci(env: dict[str, str], plain: bool,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("CI", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    console = Console(file=io.StringIO(), force_terminal=True)
    assert render.plain_wanted(console) is plain
