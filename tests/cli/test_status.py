"""`mlpipe status`: which stages would run, and the reasons in a user's words."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from conftest import Invoke, write_tree

from mlpipe.state import lockfile

PIPELINE = """
params:
  featurize:
    window: 3
stages:
  featurize:
    kind: command
    cmd: cp raw.csv features.csv && echo ${params.featurize.window} >> features.csv
    deps: [raw.csv]
    outs: [features.csv]
  train:
    kind: command
    cmd: cp features.csv model.txt
    deps: [features.csv]
    outs: [model.txt]
"""


def reasons(mlpipe: Invoke) -> dict[str, list[str]]:
    body = json.loads(mlpipe("status", "--json").stdout)
    return {s["name"]: s["reasons"] for s in body["stages"]}


def setup(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": PIPELINE, "raw.csv": "a\n"})
    assert mlpipe("run").exit_code == 0


def test_never_ran(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": PIPELINE, "raw.csv": "a\n"})
    assert reasons(mlpipe) == {"featurize": ["never ran"], "train": ["never ran"]}


def test_up_to_date_and_text_output(project: Path, mlpipe: Invoke) -> None:
    setup(project, mlpipe)
    assert reasons(mlpipe) == {"featurize": [], "train": []}
    result = mlpipe("status")
    assert result.exit_code == 0
    assert "Everything is up to date." in result.stdout


def test_dep_changed(project: Path, mlpipe: Invoke) -> None:
    setup(project, mlpipe)
    (project / "raw.csv").write_text("b\n")
    assert reasons(mlpipe) == {"featurize": ["dep raw.csv changed"],
                               "train": ["upstream 'featurize' will run"]}


def test_param_changed(project: Path, mlpipe: Invoke) -> None:
    setup(project, mlpipe)
    text = (project / "mlpipe.yaml").read_text().replace("window: 3", "window: 5")
    (project / "mlpipe.yaml").write_text(text)
    assert reasons(mlpipe)["featurize"] == ["param featurize.window 3 -> 5"]
    result = mlpipe("status")
    assert "featurize: will run" in result.stdout
    assert "param featurize.window 3 -> 5" in result.stdout


def test_command_changed(project: Path, mlpipe: Invoke) -> None:
    setup(project, mlpipe)
    text = (project / "mlpipe.yaml").read_text().replace("cp features.csv model.txt",
                                                         "cat features.csv > model.txt")
    (project / "mlpipe.yaml").write_text(text)
    assert reasons(mlpipe)["train"] == ["command changed"]


def test_out_missing_is_restorable(project: Path, mlpipe: Invoke) -> None:
    setup(project, mlpipe)
    (project / "model.txt").unlink()
    body = json.loads(mlpipe("status", "--json").stdout)
    train = body["stages"][1]
    assert train["action"] == "restore"
    assert train["reasons"] == ["out model.txt missing", "restore from cache"]


def test_fail_if_stale_exit_codes(project: Path, mlpipe: Invoke) -> None:
    setup(project, mlpipe)
    assert mlpipe("status", "--fail-if-stale").exit_code == 0
    (project / "raw.csv").write_text("c\n")
    assert mlpipe("status").exit_code == 0
    assert mlpipe("status", "--fail-if-stale").exit_code == 3


def test_status_with_override(project: Path, mlpipe: Invoke) -> None:
    setup(project, mlpipe)
    body = json.loads(mlpipe("status", "--json", "-S", "featurize.window=4").stdout)
    assert body["stale"] is True
    assert body["stages"][0]["reasons"] == ["param featurize.window 3 -> 4"]


def test_a_lock_file_changed_on_disk_is_read_afresh_not_from_its_parsed_copy(
        project: Path, mlpipe: Invoke) -> None:
    setup(project, mlpipe)
    assert reasons(mlpipe) == {"featurize": [], "train": []}
    assert (project / ".mlpipe" / "mlpipe.lock.json").is_file()  # the parsed copy
    lock = project / "mlpipe.lock"
    entries = lockfile.read(lock)
    old = entries["featurize"]  # as a merge or a checkout of another commit might leave it
    entries["featurize"] = replace(old, key="0" * 32, deps={"raw.csv": "f" * 32})
    lockfile.write(lock, entries)
    assert reasons(mlpipe) == {"featurize": ["dep raw.csv changed",
                                             "seen before: restore from cache"], "train": []}
