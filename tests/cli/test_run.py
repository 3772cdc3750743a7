"""`mlpipe run` through the CLI: what runs, what is cached, restored, skipped, and why."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import PY, Invoke, counted, runs_of, statuses, write_tree

CHAIN = f"""
params:
  scale: 2
  tag: a
stages:
  prepare:
    kind: command
    cmd: {counted("prepare", "cp raw.txt data.txt")}
    deps: [raw.txt]
    outs: [data.txt]
  scale:
    kind: command
    cmd: {counted("scale", PY + " scale.py ${params.scale}")}
    deps: [scale.py, data.txt]
    outs: [scaled.txt]
  report:
    kind: command
    cmd: {counted("report", "wc -c < scaled.txt > report.txt")}
    deps: [scaled.txt]
    outs: [report.txt]
"""
SCALE_PY = """
import sys
n = int(sys.argv[1])
open("scaled.txt", "w").write(open("data.txt").read() * n)
"""


def make_chain(root: Path) -> None:
    write_tree(root, {"mlpipe.yaml": CHAIN, "raw.txt": "hello\n", "scale.py": SCALE_PY})


def test_first_run_runs_everything_then_nothing(project: Path, mlpipe: Invoke) -> None:
    make_chain(project)
    first = mlpipe("run", "--json")
    assert first.exit_code == 0, first.output
    assert statuses(first) == {"prepare": "ran", "scale": "ran", "report": "ran"}
    assert (project / "scaled.txt").read_text() == "hello\nhello\n"
    second = mlpipe("run", "--json")
    assert statuses(second) == {"prepare": "cached", "scale": "cached", "report": "cached"}
    assert [runs_of(project, s) for s in ("prepare", "scale", "report")] == [1, 1, 1]


def test_json_output_shape(project: Path, mlpipe: Invoke) -> None:
    make_chain(project)
    body = json.loads(mlpipe("run", "--json").stdout)
    assert body["ok"] is True
    assert set(body["stages"][0]) == {"name", "status", "reason", "duration_s"}
    assert body["stages"][0]["reason"] == "never ran"
    assert [s["name"] for s in body["stages"]] == ["prepare", "scale", "report"]


def test_param_override_runs_the_user_and_after(project: Path, mlpipe: Invoke) -> None:
    make_chain(project)
    mlpipe("run")
    result = mlpipe("run", "--json", "-S", "scale=3")
    body = json.loads(result.stdout)
    assert statuses(result) == {"prepare": "cached", "scale": "ran", "report": "ran"}
    assert body["stages"][1]["reason"] == "param scale 2 -> 3"
    assert (project / "scaled.txt").read_text() == "hello\n" * 3


def test_back_to_seen_params_restores_without_running(project: Path, mlpipe: Invoke) -> None:
    make_chain(project)
    mlpipe("run")
    mlpipe("run", "-S", "scale=3")
    result = mlpipe("run", "--json")
    assert statuses(result) == {"prepare": "cached", "scale": "restored", "report": "restored"}
    assert runs_of(project, "scale") == 2
    assert (project / "scaled.txt").read_text() == "hello\n" * 2


def test_deleted_output_is_restored_from_store(project: Path, mlpipe: Invoke) -> None:
    make_chain(project)
    mlpipe("run")
    (project / "scaled.txt").unlink()
    result = mlpipe("run", "--json")
    assert statuses(result)["scale"] == "restored"
    assert json.loads(result.stdout)["stages"][1]["reason"].startswith("out scaled.txt missing")
    assert statuses(result)["report"] == "cached"
    assert runs_of(project, "scale") == 1


def test_early_cutoff_when_output_is_unchanged(project: Path, mlpipe: Invoke) -> None:
    make_chain(project)
    mlpipe("run")
    (project / "raw.txt").write_text("hello\n")  # rewrite, same bytes
    (project / "scale.py").write_text(SCALE_PY + "\n# a comment changes the code, not the output\n")
    result = mlpipe("run", "--json")
    assert statuses(result) == {"prepare": "cached", "scale": "ran", "report": "cached"}


def test_force_runs_everything(project: Path, mlpipe: Invoke) -> None:
    make_chain(project)
    mlpipe("run")
    result = mlpipe("run", "--force", "--json")
    assert set(statuses(result).values()) == {"ran"}


def test_dry_run_plans_and_runs_nothing(project: Path, mlpipe: Invoke) -> None:
    make_chain(project)
    result = mlpipe("run", "--dry-run", "--json")
    body = json.loads(result.stdout)
    assert [s["action"] for s in body["stages"]] == ["run", "run", "run"]
    assert body["stages"][1]["reasons"] == ["never ran"]
    assert not (project / "runs").exists()


def test_targets_pull_in_what_they_need_only(project: Path, mlpipe: Invoke) -> None:
    make_chain(project)
    result = mlpipe("run", "scale", "--json")
    assert statuses(result) == {"prepare": "ran", "scale": "ran"}


def test_targets_run_in_dependency_order_whatever_the_typed_order(project: Path,
                                                                   mlpipe: Invoke) -> None:
    make_chain(project)
    result = mlpipe("run", "report", "prepare", "--no-deps", "--json")
    assert [s["name"] for s in json.loads(result.stdout)["stages"]] == ["prepare", "report"]


def test_downstream_and_no_deps(project: Path, mlpipe: Invoke) -> None:
    make_chain(project)
    mlpipe("run")
    result = mlpipe("run", "scale", "--downstream", "--force", "--json")
    assert statuses(result) == {"scale": "ran", "report": "ran"}
    result = mlpipe("run", "scale", "--no-deps", "--force", "--json")
    assert statuses(result) == {"scale": "ran"}


FAILING = """
stages:
  ok1:
    kind: command
    cmd: echo ok > ok1.txt
    outs: [ok1.txt]
  broken:
    kind: command
    cmd: echo "something went wrong" >&2; exit 3
    outs: [broken.txt]
  after_broken:
    kind: command
    cmd: cp broken.txt after.txt
    deps: [broken.txt]
    outs: [after.txt]
  independent:
    kind: command
    cmd: echo ok > independent.txt
    outs: [independent.txt]
"""


def test_failure_stops_the_run_and_shows_stderr(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": FAILING})
    result = mlpipe("run")
    assert result.exit_code == 1
    assert "broken: failed" in result.stdout
    assert "command exited with code 3" in result.stdout
    assert "something went wrong" in result.stdout
    assert not (project / "independent.txt").exists()


def test_failure_json_reports_skips(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": FAILING})
    result = mlpipe("run", "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["ok"] is False
    assert statuses(result) == {"ok1": "ran", "broken": "failed", "after_broken": "skipped",
                                "independent": "skipped"}


def test_keep_going_runs_what_does_not_depend_on_the_failure(project: Path,
                                                             mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": FAILING})
    result = mlpipe("run", "--keep-going", "--json")
    assert result.exit_code == 1
    assert statuses(result) == {"ok1": "ran", "broken": "failed", "after_broken": "skipped",
                                "independent": "ran"}
    after = next(s for s in json.loads(result.stdout)["stages"] if s["name"] == "after_broken")
    assert after["reason"] == "upstream 'broken' did not complete"


def test_failed_stage_records_nothing(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": FAILING})
    mlpipe("run", "--keep-going")
    lock = (project / "mlpipe.lock").read_text()
    assert "ok1:" in lock and "independent:" in lock
    assert "broken:" not in lock.replace("after_broken", "")
    status = json.loads(mlpipe("status", "--json").stdout)
    broken = next(s for s in status["stages"] if s["name"] == "broken")
    assert broken["reasons"] == ["never ran"]


def test_undeclared_output_fails_the_stage(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": """
        stages:
          lazy:
            kind: command
            cmd: "true"
            outs: [never.txt]
        """})
    result = mlpipe("run")
    assert result.exit_code == 1
    assert "declared output never.txt was not written" in result.stdout
    assert not (project / "mlpipe.lock").exists()


def test_dep_changed_while_running_is_not_recorded(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"in.txt": "v1\n", "mlpipe.yaml": """
        stages:
          sneaky:
            kind: command
            cmd: cp in.txt out.txt && echo v2 >> in.txt
            deps: [in.txt]
            outs: [out.txt]
        """})
    result = mlpipe("run")
    assert result.exit_code == 0
    assert "result not recorded: dep in.txt changed while the stage ran" in result.stdout
    assert not (project / "mlpipe.lock").exists()


def test_frozen_stage_never_reruns(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"raw.txt": "1\n", "mlpipe.yaml": f"""
        stages:
          ice:
            kind: command
            cmd: {counted("ice", "cp raw.txt ice.txt")}
            deps: [raw.txt]
            outs: [ice.txt]
        """})
    mlpipe("run")
    text = (project / "mlpipe.yaml").read_text().replace("outs: [ice.txt]",
                                                         "outs: [ice.txt]\n    frozen: true")
    (project / "mlpipe.yaml").write_text(text)
    (project / "raw.txt").write_text("2\n")
    result = mlpipe("run", "--json")
    assert statuses(result) == {"ice": "cached"}
    assert runs_of(project, "ice") == 1


def test_always_run_runs_each_time_and_feeds_early_cutoff(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": f"""
        stages:
          clock:
            kind: command
            cmd: {counted("clock", "echo same > clock.txt")}
            outs: [clock.txt]
            always_run: true
          use:
            kind: command
            cmd: {counted("use", "cp clock.txt use.txt")}
            deps: [clock.txt]
            outs: [use.txt]
        """})
    mlpipe("run")
    result = mlpipe("run", "--json")
    assert statuses(result) == {"clock": "ran", "use": "cached"}
    assert runs_of(project, "clock") == 2 and runs_of(project, "use") == 1


SLEEPER = ("import time; s = time.time(); time.sleep(1); "
           "open('{name}.txt', 'w').write(f'{{s}} {{time.time()}}')")


def test_jobs_run_independent_stages_at_the_same_time(project: Path, mlpipe: Invoke) -> None:
    stage = """
  {name}:
    kind: command
    cmd: {py} -c "{code}"
    outs: [{name}.txt]
"""
    write_tree(project, {"mlpipe.yaml": "stages:" + "".join(
        stage.format(name=n, py=PY, code=SLEEPER.format(name=n)) for n in ("a", "b"))})
    result = mlpipe("run", "-j", "2", "--json")
    assert statuses(result) == {"a": "ran", "b": "ran"}
    (a0, a1), (b0, b1) = ([float(v) for v in (project / f"{n}.txt").read_text().split()]
                          for n in ("a", "b"))
    assert a0 < b1 and b0 < a1, "the two stages' run intervals do not overlap"


def test_directory_outputs_are_stored_and_restored(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": """
        params:
          n: 2
        stages:
          shards:
            kind: command
            cmd: >-
              mkdir shards/sub &&
              for i in $(seq ${params.n}); do echo $i > shards/sub/$i; done
            outs: [shards/sub]
          total:
            kind: command
            cmd: cat shards/sub/* > total.txt
            deps: [shards/sub]
            outs: [total.txt]
        """})
    first = mlpipe("run", "--json")
    assert statuses(first) == {"shards": "ran", "total": "ran"}
    mlpipe("run", "-S", "n=3")
    assert (project / "total.txt").read_text() == "1\n2\n3\n"
    result = mlpipe("run", "--json")
    assert statuses(result) == {"shards": "restored", "total": "restored"}
    assert sorted(p.name for p in (project / "shards/sub").iterdir()) == ["1", "2"]
    assert (project / "total.txt").read_text() == "1\n2\n"


def test_result_from_a_missing_dep_is_not_recorded(project: Path, mlpipe: Invoke) -> None:
    make_chain(project)
    text = (project / "mlpipe.yaml").read_text().replace(
        "wc -c < scaled.txt > report.txt", "(cat scaled.txt || echo none) > report.txt")
    (project / "mlpipe.yaml").write_text(text)
    result = mlpipe("run", "report", "--no-deps")
    assert result.exit_code == 0
    assert "result not recorded: dep scaled.txt was missing when the stage started" \
        in result.stdout
    assert not (project / "mlpipe.lock").exists()
