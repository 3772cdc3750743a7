"""Import hygiene: `import mlpipe` and `mlpipe --help` stay light."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("pandas", "sklearn", "joblib", "scipy", "matplotlib", "sqlalchemy", "pyarrow",
         "starlette", "uvicorn")


@pytest.mark.parametrize("code", [
    "import mlpipe",
    "import sys; sys.argv = ['mlpipe', '--help']\n"
    "from mlpipe.cli.app import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass",
])
def test_no_heavy_imports(code: str) -> None:
    probe = code + f"\nimport sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_help_lists_the_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "mlpipe", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in ("run", "status", "dag", "init"):
        assert command in out


def test_public_api() -> None:
    import mlpipe

    assert callable(mlpipe.run) and callable(mlpipe.status) and callable(mlpipe.load)
    with pytest.raises(AttributeError):
        _ = mlpipe.nothing_here
