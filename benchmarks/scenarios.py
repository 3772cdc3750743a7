"""The benchmark scenarios: each builds what it needs, times both tools alternately, and checks
that the work done was the expected work (which stages ran), so a fast wrong answer fails."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    HERE,
    BenchError,
    Samples,
    alternate,
    commit,
    copy_data,
    dvc_init,
    git_repo,
    remove,
    sh,
    timed,
)

PIPELINE = HERE / "pipeline"
OUTS = ("data/prepared", "reports", "models", "metrics.json")
MLPIPE = ("mlpipe",)
DVC = ("dvc",)


@dataclass
class Row:
    """One line of the results table."""

    scenario: str
    what: str
    mlpipe: Samples
    dvc: Samples | None = None
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.mlpipe.median / self.dvc.median if self.dvc else None

    def as_dict(self) -> dict[str, object]:
        return {"scenario": self.scenario, "what": self.what, "mlpipe": self.mlpipe.as_dict(),
                "dvc": self.dvc.as_dict() if self.dvc else None,
                "ratio": round(self.ratio, 3) if self.ratio else None, **self.notes}


def ran_mlpipe(output: str) -> list[str]:
    """Stages that executed, from `mlpipe run --json` output."""
    report = json.loads(output)
    return [s["name"] for s in report["stages"] if s["status"] == "ran"]


def ran_dvc(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def expect(ran: list[str], wanted: list[str], what: str) -> None:
    if sorted(ran) != sorted(wanted):
        raise BenchError(f"{what}: expected {wanted or 'no stage'} to run, got {ran or 'none'}")


class Four:
    """The 4-stage pipeline (prepare, validate, train, evaluate) for both tools."""

    def __init__(self, work: Path, data: Path) -> None:
        self.roots = {"mlpipe": work / "four-mlpipe", "dvc": work / "four-dvc"}
        for tool, root in self.roots.items():
            git_repo(root)
            shutil.copytree(PIPELINE / "src", root / "src")
            shutil.copy(PIPELINE / "params.yaml", root)
            shutil.copy(PIPELINE / f"{tool}.yaml", root)
            copy_data(data, root / "data/raw.csv")
            if tool == "dvc":
                dvc_init(root)
                sh(root, "dvc", "add", "-q", "data/raw.csv")
            else:
                (root / ".gitignore").write_text(
                    ".mlpipe/\ndata/raw.csv\n/data/prepared\n/reports\n/models\n")
            commit(root, "pipeline")

    def cold(self, tool: str) -> None:
        root = self.roots[tool]
        remove(root, *OUTS)
        if tool == "mlpipe":
            remove(root, "mlpipe.lock", ".mlpipe/cache")
        else:
            remove(root, "dvc.lock", ".dvc/cache/runs")
            keep = json_md5(root / "data/raw.csv.dvc")
            objects = root / ".dvc/cache/files/md5"
            for obj in objects.glob("*/*"):
                if obj.parent.name + obj.name.split(".")[0] != keep:
                    obj.unlink()

    def run(self, tool: str) -> tuple[float, list[str]]:
        root = self.roots[tool]
        if tool == "mlpipe":
            took, out, _ = timed(root, (*MLPIPE, "run", "--json"))
            return took, ran_mlpipe(out)
        took, out, err = timed(root, (*DVC, "repro"))
        return took, ran_dvc(out + err)

    def status(self, tool: str) -> float:
        return timed(self.roots[tool], (*MLPIPE, "status") if tool == "mlpipe"
                     else (*DVC, "status", "-q"), ok_codes=(0, 1))[0]

    def set_param(self, tool: str, value: float) -> None:
        path = self.roots[tool] / "params.yaml"
        text = re.sub(r"learning_rate: .*", f"learning_rate: {value}", path.read_text())
        path.write_text(text)


def json_md5(dvc_file: Path) -> str:
    match = re.search(r"md5: ([0-9a-f]{32})", dvc_file.read_text())
    if not match:
        raise BenchError(f"no md5 in {dvc_file}")
    return match.group(1)


def cold_run(four: Four, reps: int) -> list[Row]:
    """1: cold run of 4 stages, and the same scripts run directly, alternately."""
    direct_root = four.roots["mlpipe"]
    script = " && ".join(f"python src/{s}.py" for s in ("prepare", "validate", "train",
                                                          "evaluate"))

    def measure(tool: str) -> Callable[[], float]:
        def go() -> float:
            took, ran = four.run(tool)
            expect(ran, ["prepare", "validate", "train", "evaluate"], f"cold {tool}")
            return took
        return go

    samples = alternate({
        "mlpipe": (lambda: four.cold("mlpipe"), measure("mlpipe")),
        "dvc": (lambda: four.cold("dvc"), measure("dvc")),
        "direct": (lambda: remove(direct_root, *OUTS),
                   lambda: timed(direct_root, ("sh", "-c", script))[0]),
    }, reps)
    direct = samples["direct"].median
    over = {tool: samples[tool].median - direct for tool in ("mlpipe", "dvc")}
    four.cold("mlpipe")
    four.cold("dvc")
    for tool in ("mlpipe", "dvc"):
        four.run(tool)
        commit(four.roots[tool], "first run")
    return [Row("1", "cold run, 4 stages", samples["mlpipe"], samples["dvc"],
                {"direct_median_s": round(direct, 3), "overhead_mlpipe_s": round(over["mlpipe"], 3),
                 "overhead_dvc_s": round(over["dvc"], 3),
                 "overhead_ratio": round(over["mlpipe"] / over["dvc"], 3)
                 if over["dvc"] > 0 else None})]


def no_op(four: Four, reps: int) -> list[Row]:
    """2: no-op run and status."""
    def run(tool: str) -> Callable[[], float]:
        def go() -> float:
            took, ran = four.run(tool)
            expect(ran, [], f"no-op {tool}")
            return took
        return go

    def nothing() -> None:
        return None

    runs = alternate({"mlpipe": (nothing, run("mlpipe")), "dvc": (nothing, run("dvc"))}, reps)
    status = alternate({tool: (nothing, lambda t=tool: four.status(t)) for tool in four.roots},
                       reps)
    return [Row("2", "no-op run", runs["mlpipe"], runs["dvc"]),
            Row("2", "no-op status", status["mlpipe"], status["dvc"])]


def param_change(four: Four, reps: int) -> list[Row]:
    """3: one train param changed: only train and evaluate run."""
    values = iter(round(0.1 + 0.001 * i, 4) for i in range(1, 1000))

    def setup(tool: str) -> Callable[[], None]:
        def go() -> None:
            four.set_param(tool, next(values))
        return go

    def measure(tool: str) -> Callable[[], float]:
        def go() -> float:
            took, ran = four.run(tool)
            expect(ran, ["train", "evaluate"], f"param change {tool}")
            return took
        return go

    samples = alternate({tool: (setup(tool), measure(tool)) for tool in four.roots}, reps)
    for tool, root in four.roots.items():
        four.set_param(tool, 0.2)
        four.run(tool)
        commit(root, "learning_rate 0.2")
    return [Row("3", "train param changed", samples["mlpipe"], samples["dvc"])]


def checkout_restore(four: Four, reps: int) -> list[Row]:
    """5: `git checkout` of the previous params (and lock), then run: restored, not retrained."""
    files = {"mlpipe": ("params.yaml", "mlpipe.lock", "metrics.json"),
             "dvc": ("params.yaml", "dvc.lock", "metrics.json")}
    flip = {tool: iter(["HEAD~1", "HEAD"] * (reps + 2)) for tool in four.roots}

    def setup(tool: str) -> Callable[[], None]:
        return lambda: sh(four.roots[tool], "git", "checkout", "-q", next(flip[tool]), "--",
                          *files[tool]) and None

    def measure(tool: str) -> Callable[[], float]:
        def go() -> float:
            took, ran = four.run(tool)
            expect(ran, [], f"restore {tool}")
            return took
        return go

    samples = alternate({tool: (setup(tool), measure(tool)) for tool in four.roots}, reps)
    return [Row("5", "git checkout old params, run", samples["mlpipe"], samples["dvc"],
                {"retrained": 0})]


def touch_status(roots: dict[str, Path], data: str, label: str, reps: int) -> Row:
    """4: touch the data file (same content), then status."""
    def setup(tool: str) -> Callable[[], None]:
        return lambda: (roots[tool] / data).touch()

    def measure(tool: str) -> Callable[[], float]:
        cmd = (*MLPIPE, "status") if tool == "mlpipe" else (*DVC, "status", "-q")
        return lambda: timed(roots[tool], cmd, ok_codes=(0, 1))[0]

    samples = alternate({tool: (setup(tool), measure(tool)) for tool in roots}, reps)
    return Row("4", f"touch {label} data, then status", samples["mlpipe"], samples["dvc"])


def one_stage_repos(work: Path, data: Path, times: int) -> dict[str, Path]:
    """Repos whose only stage reads a big file (`data` repeated `times` times), run once."""
    roots = {"mlpipe": work / "big-mlpipe", "dvc": work / "big-dvc"}
    stage = {"cmd": "wc -c data/big.csv > count.txt", "deps": ["data/big.csv"],
             "outs": ["count.txt"]}
    for tool, root in roots.items():
        git_repo(root)
        copy_data(data, root / "data/big.csv", times)
        if tool == "dvc":
            dvc_init(root)
            sh(root, "dvc", "add", "-q", "data/big.csv")
            write_yaml(root / "dvc.yaml", {"stages": {"count": stage}})
            commit(root, "pipeline")
            sh(root, *DVC, "repro", "-q")
        else:
            (root / ".gitignore").write_text(".mlpipe/\ndata/big.csv\ncount.txt\n")
            write_yaml(root / "mlpipe.yaml", {"stages": {"count": {"kind": "command", **stage}}})
            commit(root, "pipeline")
            sh(root, *MLPIPE, "run")
    return roots


def write_yaml(path: Path, data: object) -> None:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))


def dag_repos(work: Path, n: int, topology: str, cmd: str) -> dict[str, Path]:
    """Repos with `n` trivial stages: a chain (s_i reads out/i-1) or a fan (all read seed.txt)."""
    roots = {"mlpipe": work / f"{topology}{n}-mlpipe", "dvc": work / f"{topology}{n}-dvc"}
    for tool, root in roots.items():
        git_repo(root)
        (root / "out").mkdir()
        (root / "seed.txt").write_text("seed\n")
        stages = {}
        for i in range(n):
            dep = "seed.txt" if topology == "fan" or i == 0 else f"out/{i - 1}"
            body = {"cmd": cmd.format(i=i), "deps": [dep], "outs": [f"out/{i}"]}
            stages[f"s{i}"] = {"kind": "command", **body} if tool == "mlpipe" else body
        if tool == "dvc":
            dvc_init(root)
        else:
            (root / ".gitignore").write_text(".mlpipe/\n/out\n")
        write_yaml(root / f"{tool}.yaml", {"stages": stages})
        commit(root, "pipeline")
    return roots


def clean_dag(root: Path, tool: str) -> None:
    for path in (root / "out").iterdir():
        path.unlink()
    remove(root, "mlpipe.lock", ".mlpipe/cache", "dvc.lock", ".dvc/cache")


def chain(work: Path, n: int, reps: int, with_dvc_cold: bool) -> list[Row]:
    """6: a chain of `n` trivial stages: cold run (and overhead per stage), no-op status."""
    roots = dag_repos(work, n, "chain", "echo {i} > out/{i}")
    direct = " && ".join(f"sh -c 'echo {i} > out/{i}'" for i in range(n))

    def cold(tool: str) -> tuple[Callable[[], None], Callable[[], float]]:
        cmd = (*MLPIPE, "run", "--json") if tool == "mlpipe" else (*DVC, "repro", "-q")
        return (lambda: clean_dag(roots[tool], tool),
                lambda: timed(roots[tool], cmd)[0])

    tools = ["mlpipe", "dvc"] if with_dvc_cold else ["mlpipe"]
    measures = {tool: cold(tool) for tool in tools}
    measures["direct"] = (lambda: clean_dag(roots["mlpipe"], "mlpipe"),
                          lambda: timed(roots["mlpipe"], ("sh", "-c", direct))[0])
    samples = alternate(measures, reps, warmup=False)
    for tool in ("mlpipe", "dvc"):
        clean_dag(roots[tool], tool)
        sh(roots[tool], *((*MLPIPE, "run") if tool == "mlpipe" else (*DVC, "repro", "-q")))
    base = samples["direct"].median
    notes: dict[str, object] = {
        "direct_median_s": round(base, 3),
        "overhead_per_stage_ms_mlpipe": round((samples["mlpipe"].median - base) / n * 1000, 2)}
    if with_dvc_cold:
        notes["overhead_per_stage_ms_dvc"] = round((samples["dvc"].median - base) / n * 1000, 2)
    status = alternate({tool: (lambda: None, lambda t=tool: timed(
        roots[t], (*MLPIPE, "status") if t == "mlpipe" else (*DVC, "status", "-q"),
        ok_codes=(0, 1))[0]) for tool in roots}, reps + 2)
    return [Row("6", f"{n}-stage chain, cold run", samples["mlpipe"], samples.get("dvc"), notes),
            Row("6", f"{n}-stage chain, no-op status", status["mlpipe"], status["dvc"])]


def fan(work: Path, reps: int) -> list[Row]:
    """7: 4 independent `sleep 2` stages: mlpipe -j 4 and -j 1; DVC runs one at a time."""
    roots = dag_repos(work, 4, "fan", "sleep 2 && echo {i} > out/{i}")

    def measure(tool: str, jobs: int) -> tuple[Callable[[], None], Callable[[], float]]:
        cmd = (*MLPIPE, "run", "-j", str(jobs)) if tool == "mlpipe" else (*DVC, "repro", "-q")
        return (lambda: clean_dag(roots[tool], tool), lambda: timed(roots[tool], cmd)[0])

    samples = alternate({"mlpipe -j 4": measure("mlpipe", 4), "dvc": measure("dvc", 1),
                         "mlpipe -j 1": measure("mlpipe", 1)}, reps, warmup=False)
    return [Row("7", "fan of 4 x sleep 2, -j 4", samples["mlpipe -j 4"], samples["dvc"]),
            Row("7", "fan of 4 x sleep 2, -j 1", samples["mlpipe -j 1"], samples["dvc"])]


def startup(four: Four, example: Path, reps: int) -> list[Row]:
    """8: `--help`, and `mlpipe check` on an example (DVC: `dvc stage list` on its pipeline)."""
    root = four.roots["mlpipe"]
    helps = alternate({
        "mlpipe": (lambda: None, lambda: timed(root, (*MLPIPE, "--help"))[0]),
        "dvc": (lambda: None, lambda: timed(four.roots["dvc"], (*DVC, "--help"))[0])}, reps)
    checks = alternate({
        "mlpipe": (lambda: None, lambda: timed(root, (*MLPIPE, "check", str(example)))[0]),
        "dvc": (lambda: None, lambda: timed(four.roots["dvc"], (*DVC, "stage", "list"))[0])},
        reps)
    return [Row("8", "--help", helps["mlpipe"], helps["dvc"]),
            Row("8", "check an example (dvc: stage list)", checks["mlpipe"], checks["dvc"])]
