"""A model that a command stage's own script trained and pickled is registered (its
signature inferred from a data sample, or declared), then served over HTTP and monitored
like a `train` kind's model."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Invoke, statuses, write_tree

from mlpipe.models.registry import Registry

SCRIPT = """\
import pickle, sys
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
frame = load_iris(as_frame=True).frame
frame.columns = ["sl", "sw", "pl", "pw", "species"]
frame.to_csv("iris.csv", index=False)
model = LogisticRegression(C=float(sys.argv[1]), max_iter=500).fit(frame.drop(columns="species"),
                                                                    frame["species"])
pickle.dump(model, open("model.pkl", "wb"))
"""
PIPELINE = """\
stages:
  fit:
    kind: command
    cmd: {python} fit.py 0.7
    deps: [fit.py]
    outs: [model.pkl, iris.csv]
  register:
    kind: register
    name: iris
    model: model.pkl
{how}
    alias: champion
"""
ROW = {"sl": 5.1, "sw": 3.5, "pl": 1.4, "pw": 0.2}


def _project(root: Path, how: str) -> None:
    write_tree(root, {"fit.py": SCRIPT,
                      "mlpipe.yaml": PIPELINE.format(python=sys.executable, how=how)})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serving(root: Path, logs: Path) -> Iterator[str]:
    port = _free_port()
    out = (root.parent / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "mlpipe", "serve", "iris@champion", "--port",
                             str(port), "--log-predictions", str(logs)], cwd=root, stdout=out,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (root.parent / "serve.log").read_text()
            try:
                urllib.request.urlopen(url + "/health", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "mlpipe serve did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        out.close()


def _predict(url: str, rows: list[dict[str, float]]) -> Any:
    request = urllib.request.Request(url + "/predict", data=json.dumps(rows).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def test_a_pickled_model_is_registered_served_and_monitored(project: Path,
                                                            mlpipe: Invoke) -> None:
    _project(project, "    data: iris.csv\n    target: species")
    ran = mlpipe("run", "--json")
    assert ran.exit_code == 0, ran.output
    assert statuses(ran) == {"fit": "ran", "register": "ran"}
    version = Registry(project / ".mlpipe").get("iris@champion")
    assert version.meta["features"] == [{"name": n, "dtype": "float64"} for n in ROW]
    assert version.meta["task"] == "classification" and version.meta["classes"] == [0, 1, 2]
    assert version.meta["estimator"].endswith("LogisticRegression")
    assert version.meta["params"]["C"] == 0.7
    shown = mlpipe("models", "show", "iris@champion", "--json")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["meta"]["estimator"] == version.meta["estimator"]
    card = json.loads((project / "out/register/card.json").read_text())
    assert [f["name"] for f in card["features"]] == list(ROW)
    logs = project / "predictions"
    with _serving(project, logs) as url:
        answer = _predict(url, [ROW] * 5)
        assert answer["predictions"] == [0] * 5
        rows = [{"sl": 6.0 + i / 10, "sw": 3.0, "pl": 4.5, "pw": 1.5} for i in range(40)]
        assert len(_predict(url, rows)["predictions"]) == 40
    monitored = mlpipe("monitor", "iris@champion", "--logs", str(logs))
    assert monitored.exit_code in (0, 3), monitored.output
    assert "iris@champion (iris:1): 45 records in 2 requests" in monitored.stdout


def test_a_declared_signature_instead_of_data(project: Path, mlpipe: Invoke) -> None:
    features = ", ".join(f"{{name: {n}, dtype: float64}}" for n in ROW)
    _project(project, f"    signature: {{features: [{features}], target: species}}")
    ran = mlpipe("run")
    assert ran.exit_code == 0, ran.output
    meta = Registry(project / ".mlpipe").get("iris@champion").meta
    assert [f["name"] for f in meta["features"]] == list(ROW) and meta["target"] == "species"


@pytest.mark.parametrize(("how", "problem"), [
    ("", "give meta (a train stage's model_meta), or data:"),
    ("    data: iris.csv\n    meta: iris.csv", "meta is the model's signature already"),
])
def test_register_says_what_it_needs(project: Path, mlpipe: Invoke, how: str,
                                     problem: str) -> None:
    _project(project, how)
    result = mlpipe("run")
    assert result.exit_code == 2
    assert problem in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_object_without_predict_is_refused(project: Path, mlpipe: Invoke) -> None:
    _project(project, "    data: iris.csv\n    target: species")
    (project / "fit.py").write_text("import pickle\nopen('iris.csv', 'w').write('a\\n1\\n')\n"
                                    "pickle.dump({'not': 'a model'}, open('model.pkl', 'wb'))\n")
    result = mlpipe("run", "--json")
    assert result.exit_code == 1
    reason = json.loads(result.stdout)["stages"][1]["reason"]
    assert "model.pkl: holds a dict, which has no predict()" in reason


def test_models_register_on_the_command_line(project: Path, mlpipe: Invoke) -> None:
    _project(project, "    data: iris.csv\n    target: species")
    assert subprocess.run([sys.executable, "fit.py", "0.3"], cwd=project).returncode == 0
    done = mlpipe("models", "register", "flowers", "model.pkl", "--data", "iris.csv",
                  "--target", "species", "--alias", "champion")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("registered flowers:1 as champion (sklearn.")
    again = mlpipe("models", "register", "flowers", "model.pkl", "--data", "iris.csv",
                   "--target", "species")
    assert again.stdout.startswith("registered flowers:1 ")  # same bytes, same version
    card = mlpipe("models", "card", "flowers@champion")
    assert card.exit_code == 0 and "flowers:1" in card.stdout
    refused = mlpipe("models", "register", "flowers", "iris.csv", "--data", "iris.csv")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("mlpipe: error: iris.csv: not a joblib or pickle model")


def test_a_clone_pulls_the_registry_then_lists_and_serves_without_running(
        project: Path, mlpipe: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import git, git_commit, git_init

    git_init(project)
    (project / ".gitignore").write_text(".mlpipe/\nout/\nmodel.pkl\niris.csv\n")
    _project(project, "    data: iris.csv\n    target: species")
    text = (project / "mlpipe.yaml").read_text()
    (project / "mlpipe.yaml").write_text(f"remote: {tmp_path / 'remote'}\n{text}")
    assert mlpipe("run").exit_code == 0
    pushed = mlpipe("push")
    assert pushed.exit_code == 0, pushed.output
    git_commit(project, "pipeline")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    monkeypatch.chdir(clone)
    assert "no models registered" in mlpipe("models", "list").output
    pulled = mlpipe("pull")
    assert pulled.exit_code == 0, pulled.output
    listed = mlpipe("models", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)["models"]
    assert [(m["name"], m["latest"], m["aliases"]) for m in rows] == [
        ("iris", 1, {"champion": 1})]
    here = Registry(clone / ".mlpipe").get("iris@champion")
    assert here == Registry(project / ".mlpipe").get("iris@champion")
    assert "iris:1" in mlpipe("models", "card", "iris@champion").stdout
    logs = clone / "predictions"
    with _serving(clone, logs) as url:
        assert _predict(url, [ROW])["predictions"] == [0]
    monitored = mlpipe("monitor", "iris@champion", "--logs", str(logs))
    assert "iris@champion (iris:1): 1 records in 1 requests" in monitored.stdout
    assert not (clone / "model.pkl").exists()  # nothing ran
