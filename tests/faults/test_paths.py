"""Outputs stay inside the pipeline's root: `..`, absolute paths and symlinks out are refused.

At load time an output that leaves the root (`..`, an absolute or `~` path, a symlink to
elsewhere on any part of its path) is a one-line error naming file:line and stage. At run
time, a link an earlier stage made is caught before mlpipe clears or restores through it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Invoke, statuses, write_tree

from mlpipe.errors import SpecError
from mlpipe.spec.parse import load


def one_stage(field: str, path: str) -> str:
    return (f"stages:\n  write:\n    kind: command\n    cmd: echo\n"
            f"    {field}: [{json.dumps(path)}]\n")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the project, holding a file that must survive every test."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "x.txt").write_text("precious")
    return folder


def assert_one_line_error(result_stderr: str, pattern: str) -> None:
    import re

    lines = result_stderr.splitlines()
    assert len(lines) == 1, result_stderr
    assert re.match(r"mlpipe: error: .*mlpipe\.yaml:5:5: stage 'write': " + pattern, lines[0])


class TestRefusedAtLoad:
    @pytest.mark.parametrize(("field", "path", "pattern"), [
        ("outs", "../x.txt", r"output path '\.\./x\.txt' is outside the pipeline's root"),
        ("outs", "a/../../x.txt", r"output path 'a/\.\./\.\./x\.txt' is outside"),
        ("metrics", "../m.json", r"output path '\.\./m\.json' is outside"),
        ("outs", "/etc/x.txt", r"output path '/etc/x\.txt' must be relative to the pipeline's"),
        ("outs", "~/x.txt", r"output path '~/x\.txt' must be relative"),
    ])
    def test_leaving_by_path(self, project: Path, mlpipe: Invoke, field: str, path: str,
                             pattern: str) -> None:
        write_tree(project, {"mlpipe.yaml": one_stage(field, path)})
        result = mlpipe("check")
        assert result.exit_code == 2
        assert_one_line_error(result.stderr, pattern)

    def test_absolute_path_inside_the_root_is_refused_too(self, project: Path) -> None:
        write_tree(project, {"mlpipe.yaml": one_stage("outs", str(project / "x.txt"))})
        with pytest.raises(SpecError, match=r"must be relative to the pipeline's root"):
            load(project / "mlpipe.yaml")

    @pytest.mark.parametrize(("field", "path", "link"), [
        ("outs", "link/x.txt", "link"),
        ("outs", "sub/link/deeper/x.txt", "sub/link"),
        ("outs", "file-link.txt", "file-link.txt"),
        ("metrics", "link/m.json", "link"),
    ])
    def test_leaving_through_a_symlink(self, project: Path, mlpipe: Invoke, outside: Path,
                                       field: str, path: str, link: str) -> None:
        (project / "sub").mkdir()
        (project / "link").symlink_to(outside, target_is_directory=True)
        (project / "sub" / "link").symlink_to(outside, target_is_directory=True)
        (project / "file-link.txt").symlink_to(outside / "x.txt")
        write_tree(project, {"mlpipe.yaml": one_stage(field, path)})
        result = mlpipe("check")
        assert result.exit_code == 2
        assert_one_line_error(result.stderr, f"output '{path}' leads out of the pipeline's "
                                             f"root: {link} is a symlink to {outside}")

    def test_a_chain_of_links_that_ends_outside(self, project: Path, outside: Path) -> None:
        (project / "far").symlink_to(outside)
        (project / "near").symlink_to(project / "far")
        write_tree(project, {"mlpipe.yaml": one_stage("outs", "near/x.txt")})
        with pytest.raises(SpecError, match=r"near is a symlink to .*outside$"):
            load(project / "mlpipe.yaml")

    def test_named_outputs_through_a_linked_out_directory(self, project: Path,
                                                          outside: Path) -> None:
        (project / "out").symlink_to(outside)
        write_tree(project, {"mlpipe.yaml": "stages:\n  make:\n    kind: fake_produce\n"
                                            "    text: hi\n"})
        with pytest.raises(SpecError, match=r"mlpipe\.yaml:3:5: stage 'make': output "
                                            r"'out/make/data\.txt' leads out .*: out is a"):
            load(project / "mlpipe.yaml")

    def test_links_that_stay_inside_are_fine(self, project: Path) -> None:
        (project / "real").mkdir()
        (project / "link").symlink_to(project / "real")
        write_tree(project, {"mlpipe.yaml": one_stage("outs", "link/x.txt")})
        assert load(project / "mlpipe.yaml").stage("write").outs == ("link/x.txt",)

    @pytest.mark.parametrize("name", ["../up", "a/b", "..", ".", "a\\b", "tab\there"])
    def test_stage_names_cannot_be_paths(self, project: Path, mlpipe: Invoke,
                                         name: str) -> None:
        stage = json.dumps(name)
        write_tree(project, {"mlpipe.yaml": f"stages:\n  {stage}:\n    kind: command\n"
                                            "    cmd: echo\n"})
        result = mlpipe("check")
        assert result.exit_code == 2
        assert len(result.stderr.splitlines()) == 1
        assert "mlpipe.yaml:2:3: stage " in result.stderr
        assert "a stage name must not be empty, '.' or '..', nor hold '/'" in result.stderr


LINKED_LATER = """
stages:
  linker:
    kind: command
    always_run: true
    cmd: if [ -f make-link ]; then ln -s {outside} d; else mkdir -p d; fi; echo a > a.txt
    outs: [a.txt]
  writer:
    kind: command
    needs: [linker]
    cmd: echo new > d/x.txt
    outs: [d/x.txt]
"""


@pytest.mark.parametrize("force", [False, True], ids=["restore", "run"])
def test_a_link_made_during_the_run_is_not_written_through(
        project: Path, mlpipe: Invoke, outside: Path, force: bool) -> None:
    write_tree(project, {"mlpipe.yaml": LINKED_LATER.format(outside=outside)})
    assert statuses(mlpipe("run", "--json")) == {"linker": "ran", "writer": "ran"}
    (project / "d" / "x.txt").unlink()
    (project / "d").rmdir()
    (project / "make-link").touch()
    result = mlpipe("run", "--json", *(["--force"] if force else []))
    assert statuses(result) == {"linker": "ran", "writer": "failed"}
    assert "output 'd/x.txt' leads out of the pipeline's root: d is a symlink" in result.stdout
    assert (outside / "x.txt").read_text() == "precious"


def test_deps_linked_out_of_the_root_are_only_read(project: Path, mlpipe: Invoke,
                                                   outside: Path) -> None:
    (project / "data.txt").symlink_to(outside / "x.txt")
    write_tree(project, {"mlpipe.yaml": "stages:\n  read:\n    kind: command\n"
                                        "    cmd: cp data.txt copy.txt\n    deps: [data.txt]\n"
                                        "    outs: [copy.txt]\n"})
    before = (outside / "x.txt").stat().st_mtime_ns
    assert statuses(mlpipe("run", "--json")) == {"read": "ran"}
    (project / "copy.txt").unlink()
    assert statuses(mlpipe("run", "--json")) == {"read": "restored"}
    assert statuses(mlpipe("run", "--json", "--force")) == {"read": "ran"}
    assert (project / "copy.txt").read_text() == "precious"
    assert (outside / "x.txt").read_text() == "precious"
    assert (outside / "x.txt").stat().st_mtime_ns == before
