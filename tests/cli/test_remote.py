"""`mlpipe remote`, `push`, `pull` and `run --pull/--push` through the CLI: the config file,
and every way of getting the remote wrong answered in one line with a non-zero exit."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import Result
from conftest import Invoke, counted, runs_of, statuses, write_tree

PIPELINE = f"""
stages:
  make:
    kind: command
    cmd: {counted("make", "cp in.txt out.txt")}
    deps: [in.txt]
    outs: [out.txt]
"""


@pytest.fixture
def pipeline(project: Path) -> Path:
    write_tree(project, {"mlpipe.yaml": PIPELINE, "in.txt": "hello\n"})
    return project


def remotes_file(root: Path) -> dict:
    """The config file, parsed (it must be valid YAML)."""
    return yaml.safe_load((root / ".mlpipe" / "remotes.yaml").read_text())


def one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mlpipe: error: ")
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when this returns


def test_add_list_default_remove_round_trip(pipeline: Path, mlpipe: Invoke) -> None:
    added = mlpipe("remote", "add", "origin", "../shared")
    assert added.exit_code == 0 and "(default)" in added.stdout
    shared = str((pipeline / "../shared").resolve())
    assert remotes_file(pipeline) == {"default": "origin", "remotes": {"origin": {"url": shared}}}
    assert mlpipe("remote", "add", "s3", "s3://bucket/cache", "-o",
                  "endpoint_url=http://127.0.0.1:9000", "-o", "secret=hunter2").exit_code == 0
    assert remotes_file(pipeline)["remotes"]["s3"] == {
        "url": "s3://bucket/cache",
        "options": {"endpoint_url": "http://127.0.0.1:9000", "secret": "hunter2"}}
    listed = mlpipe("remote", "list")
    assert listed.stdout.splitlines() == [
        f"* origin  {shared}",
        '  s3  s3://bucket/cache  endpoint_url="http://127.0.0.1:9000" secret="***"']
    assert mlpipe("remote", "default", "s3").exit_code == 0
    assert remotes_file(pipeline)["default"] == "s3"
    as_json = json.loads(mlpipe("remote", "list", "--json").stdout)
    assert [(r["name"], r["default"]) for r in as_json["remotes"]] == [("origin", False),
                                                                       ("s3", True)]
    assert mlpipe("remote", "remove", "s3").exit_code == 0
    assert remotes_file(pipeline) == {"default": None, "remotes": {"origin": {"url": shared}}}
    assert mlpipe("remote", "remove", "origin").exit_code == 0
    assert remotes_file(pipeline) == {"default": None, "remotes": {}}
    assert "no named remotes" in mlpipe("remote", "list").stdout


@pytest.mark.parametrize("args, message", [
    (["remote", "add", "bad name", "/tmp/x"], "bad remote name 'bad name'"),
    (["remote", "add", "9lives", "/tmp/x"], "bad remote name '9lives'"),
    (["remote", "add", "ok", " "], "bad remote URL"),
    (["remote", "add", "ok", "nosuch://bucket/x"], "unknown protocol 'nosuch'"),
    (["remote", "add", "ok", "/tmp/x", "-o", "novalue"], "bad option 'novalue'"),
    (["remote", "remove", "nope"], "unknown remote 'nope'"),
    (["remote", "default", "nope"], "unknown remote 'nope'"),
    (["push", "--remote", "nope"], "unknown remote 'nope'"),
    (["pull", "--remote", "nope"], "unknown remote 'nope'"),
    (["push"], "no remote configured: pass --remote URL"),
    (["run", "--pull"], "no remote configured"),
    (["run", "--remote", "/tmp/x"], "--remote needs --pull or --push"),
])
def test_bad_remotes_are_one_line_and_exit_2(pipeline: Path, mlpipe: Invoke, args: list[str],
                                             message: str) -> None:
    result = mlpipe(*args)
    assert result.exit_code == 2
    assert message in one_error_line(result)
    assert not (pipeline / ".mlpipe" / "remotes.yaml").exists()
    assert runs_of(pipeline, "make") == 0


def test_a_name_is_added_once_and_the_file_is_kept(pipeline: Path, mlpipe: Invoke) -> None:
    mlpipe("remote", "add", "origin", "/srv/a")
    result = mlpipe("remote", "add", "origin", "/srv/b")
    assert result.exit_code == 2 and "remote 'origin' exists (/srv/a)" in one_error_line(result)
    assert remotes_file(pipeline)["remotes"] == {"origin": {"url": "/srv/a"}}


def test_s3_without_s3fs_says_which_extra_to_install(pipeline: Path, mlpipe: Invoke,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # `import s3fs` now fails
    expected = "mlpipe: error: remote 's3://b/p' needs s3fs: pip install 'mlpipe[s3]'"
    for args in (["remote", "add", "origin", "s3://b/p"], ["push", "--remote", "s3://b/p"],
                 ["run", "--pull", "--remote", "s3://b/p"]):
        result = mlpipe(*args)
        assert result.exit_code == 2
        assert one_error_line(result) == expected
    assert runs_of(pipeline, "make") == 0


@pytest.fixture
def unreachable(pipeline: Path, mlpipe: Invoke, monkeypatch: pytest.MonkeyPatch) -> str:
    """A default remote on an S3 endpoint where nothing listens (one attempt per request)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(pipeline / "no-aws-config"))
    url = "s3://bucket/cache"
    added = mlpipe("remote", "add", "down", url, "--default", "-o",
                   f"endpoint_url=http://127.0.0.1:{closed_port()}", "-o",
                   "config_kwargs.retries.max_attempts=1")
    assert added.exit_code == 0, added.output
    return url


def test_an_unreachable_remote_fails_push_and_pull(pipeline: Path, mlpipe: Invoke,
                                                   unreachable: str) -> None:
    assert mlpipe("run").exit_code == 0
    for command in ("push", "pull"):
        result = mlpipe(command)
        assert result.exit_code == 1
        line = one_error_line(result)
        assert line.startswith(f"mlpipe: error: remote '{unreachable}': cannot be reached (")
        assert "check the URL, the network and the credentials" in line


def test_an_unreachable_remote_is_a_warning_for_run_pull(pipeline: Path, mlpipe: Invoke,
                                                         unreachable: str) -> None:
    result = mlpipe("run", "--pull")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert f"remote '{unreachable}': cannot be reached" in warnings[0]
    assert warnings[0].endswith("running without it")
    assert runs_of(pipeline, "make") == 1 and (pipeline / "out.txt").read_text() == "hello\n"


def test_an_unreachable_remote_fails_run_push_after_the_run(pipeline: Path, mlpipe: Invoke,
                                                            unreachable: str) -> None:
    result = mlpipe("run", "--push", "--json")
    assert statuses(result) == {"make": "ran"}  # the run itself is reported and recorded
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(
        f"mlpipe: error: remote '{unreachable}': cannot be reached (")
    assert "pushed" not in result.stderr  # no summary of a transfer that never started
    assert json.loads(mlpipe("status", "--json").stdout)["stale"] is False


def test_push_and_pull_json_and_a_pipeline_file_remote(pipeline: Path, mlpipe: Invoke) -> None:
    text = (pipeline / "mlpipe.yaml").read_text()
    (pipeline / "mlpipe.yaml").write_text("remote: ../team-cache\n" + text)
    mlpipe("run")
    pushed = json.loads(mlpipe("push", "--json", "-j", "2").stdout)
    assert pushed["remote"] == str((pipeline / "../team-cache").resolve())
    assert (pushed["objects"], pushed["entries"], pushed["ok"]) == (1, 1, True)
    assert pushed["bytes"] == len("hello\n")
    assert (pipeline.parent / "team-cache" / "runs").is_dir()
    pulled = json.loads(mlpipe("pull", "--json").stdout)
    assert (pulled["objects"], pulled["present"], pulled["failures"]) == (0, 1, [])


def test_a_url_flag_beats_the_default(pipeline: Path, mlpipe: Invoke, tmp_path: Path) -> None:
    mlpipe("remote", "add", "origin", str(tmp_path / "default-remote"), "--default")
    mlpipe("run")
    result = mlpipe("push", "--remote", str(tmp_path / "other"))
    assert result.exit_code == 0 and f"to {tmp_path / 'other'} in" in result.stdout
    assert (tmp_path / "other" / "objects").is_dir()
    assert not (tmp_path / "default-remote").exists()


@pytest.mark.parametrize("code", [
    "import mlpipe",
    "import sys; sys.argv = ['mlpipe', '--help']\n"
    "from mlpipe.cli.app import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass",
    "import sys; sys.argv = ['mlpipe', 'run']\n"
    "from mlpipe.cli.app import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass",
])
def test_fsspec_is_not_imported_without_a_remote(pipeline: Path, code: str) -> None:
    probe = code + "\nimport sys\nprint(sorted(m for m in ('fsspec', 's3fs', 'botocore') " \
                   "if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=pipeline).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_fsspec_is_imported_by_remote_commands(pipeline: Path, tmp_path: Path) -> None:
    probe = ("import sys; sys.argv = ['mlpipe', 'push', '--remote', sys.argv[1]]\n"
             "from mlpipe.cli.app import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('fsspec' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "r")],
                         capture_output=True, text=True, check=True, cwd=pipeline).stdout
    assert out.strip().splitlines()[-1] == "True"  # the probe above can tell
