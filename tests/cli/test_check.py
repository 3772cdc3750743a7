"""`mlpipe check`: validation without running, for hooks and CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import Invoke, write_tree

GOOD = "stages:\n  a:\n    kind: command\n    cmd: echo hi > a.txt\n    outs: [a.txt]\n"
BAD = "stages:\n  a:\n    kind: comand\n    cmd: echo\n"


def test_check_reports_each_file(project: Path, mlpipe: Invoke) -> None:
    write_tree(project, {"mlpipe.yaml": GOOD, "other/bad.yaml": BAD})
    assert mlpipe("check").stdout == "mlpipe.yaml: ok (1 stages)\n"
    result = mlpipe("check", "mlpipe.yaml", "other/bad.yaml")
    assert result.exit_code == 2
    assert result.stdout == "mlpipe.yaml: ok (1 stages)\n"
    assert "other/bad.yaml:3:5: stage 'a': unknown kind 'comand'" in result.stderr
    assert not (project / "a.txt").exists()
    assert not (project / ".mlpipe").exists()


def test_check_imports_no_data_libraries(tmp_path: Path) -> None:
    write_tree(tmp_path, {"mlpipe.yaml": GOOD})
    code = ("import sys; sys.argv = ['mlpipe', 'check']\nfrom mlpipe.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
            "print(sorted(m for m in ('pandas', 'sklearn', 'joblib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines()[-1] == "[]"
