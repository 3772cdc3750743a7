"""The model registry: versions by content, aliases with history, verified model files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlpipe.errors import EXIT_USAGE
from mlpipe.models.registry import ModelVersion, Registry, RegistryError, parse_ref


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry(tmp_path / ".mlpipe")


def model_file(tmp_path: Path, content: bytes, name: str = "model.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def add(reg: Registry, tmp_path: Path, content: bytes, name: str = "iris",
        gates_passed: bool = True) -> ModelVersion:
    return reg.register(name, model_file(tmp_path, content), {"task": "classification"},
                        {"accuracy": 0.9}, {"git_commit": None}, gates_passed=gates_passed)


def test_versions_count_up_per_name_and_store_everything(reg: Registry, tmp_path: Path) -> None:
    first = add(reg, tmp_path, b"one")
    second = add(reg, tmp_path, b"two")
    other = add(reg, tmp_path, b"one", name="wine")
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.meta == {"task": "classification"} and first.metrics == {"accuracy": 0.9}
    assert first.lineage == {"git_commit": None} and first.gates_passed is True
    assert first.digest == other.digest != second.digest
    assert [(v.name, v.version) for v in reg.list()] == [("iris", 1), ("iris", 2), ("wine", 1)]
    assert (reg.state_dir / "registry.db").is_file()


def test_same_content_registers_once(reg: Registry, tmp_path: Path) -> None:
    first = add(reg, tmp_path, b"same")
    again = reg.register("iris", model_file(tmp_path, b"same", "copy.bin"), {}, {"x": 1.0}, {})
    assert again == first
    assert len(reg.list()) == 1


def test_get_by_latest_alias_and_version(reg: Registry, tmp_path: Path) -> None:
    add(reg, tmp_path, b"one")
    add(reg, tmp_path, b"two")
    reg.set_alias("iris", "champion", 1)
    assert reg.get("iris").version == 2
    assert reg.get("iris:1").version == 1
    assert reg.get("iris@champion").version == 1
    assert reg.aliases("iris") == {"champion": 1}


@pytest.mark.parametrize(("ref", "message"), [
    ("irs", "unknown model 'irs' (did you mean 'iris'?)"),
    ("iris:7", "unknown version 7 of model 'iris' (versions 1..1)"),
    ("iris@champion", "unknown alias 'champion' of model 'iris' (it has no aliases)"),
    ("iris:zero", "version must be a positive integer"),
    ("iris@", "empty alias"),
    ("no such", "use NAME, NAME@ALIAS or NAME:VERSION"),
])
def test_bad_references_are_registry_errors(reg: Registry, tmp_path: Path, ref: str,
                                            message: str) -> None:
    add(reg, tmp_path, b"one")
    with pytest.raises(RegistryError) as caught:
        reg.get(ref)
    assert message in str(caught.value)
    assert RegistryError.exit_code == EXIT_USAGE


def test_parse_ref() -> None:
    assert parse_ref("iris") == ("iris", None, None)
    assert parse_ref("iris@champion") == ("iris", "champion", None)
    assert parse_ref("iris:3") == ("iris", None, 3)


def test_empty_registry_reads_create_nothing(reg: Registry) -> None:
    assert reg.list() == [] and reg.aliases("iris") == {}
    assert not reg.state_dir.exists()


def test_model_path_is_verified(reg: Registry, tmp_path: Path) -> None:
    version = add(reg, tmp_path, b"weights")
    path = reg.model_path(version)
    assert path.read_bytes() == b"weights"
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(RegistryError, match="does not match its digest"):
        reg.model_path(version)
    path.unlink()
    with pytest.raises(RegistryError, match="is missing"):
        reg.model_path(version)


def test_registering_again_repairs_a_damaged_stored_model(reg: Registry, tmp_path: Path) -> None:
    version = add(reg, tmp_path, b"weights")
    stored = reg.model_path(version)
    stored.chmod(0o644)
    stored.write_bytes(b"tampered")
    assert add(reg, tmp_path, b"weights") == version
    assert reg.model_path(version).read_bytes() == b"weights"


def test_rollback_walks_back_through_the_alias_history(reg: Registry, tmp_path: Path) -> None:
    for content in (b"1", b"2", b"3"):
        add(reg, tmp_path, content)
    for version in (1, 2, 2, 3):
        reg.set_alias("iris", "champion", version)
    assert reg.rollback("iris", "champion").version == 2
    assert reg.rollback("iris", "champion").version == 1
    assert reg.get("iris@champion").version == 1
    with pytest.raises(RegistryError, match="no earlier version held it"):
        reg.rollback("iris", "champion")
    reg.set_alias("iris", "champion", 3)
    assert reg.rollback("iris", "champion").version == 1
    history = reg.alias_history("iris", "champion")
    assert [h["version"] for h in history] == [1, 2, 3, 3]
    assert [h["rolled_back"] for h in history] == [False, True, True, True]


def test_rollback_of_unknown_alias(reg: Registry, tmp_path: Path) -> None:
    add(reg, tmp_path, b"1")
    with pytest.raises(RegistryError, match="unknown alias 'staging'"):
        reg.rollback("iris", "staging")


def test_aliases_need_existing_versions_and_good_names(reg: Registry, tmp_path: Path) -> None:
    add(reg, tmp_path, b"1")
    with pytest.raises(RegistryError, match="unknown version 2"):
        reg.set_alias("iris", "champion", 2)
    with pytest.raises(RegistryError, match="unknown model 'wine'"):
        reg.set_alias("wine", "champion", 1)
    with pytest.raises(RegistryError, match="bad alias name"):
        reg.set_alias("iris", "has space", 1)
    assert reg.aliases("iris") == {}


def test_promote_refuses_failed_gates_unless_forced(reg: Registry, tmp_path: Path) -> None:
    add(reg, tmp_path, b"good")
    add(reg, tmp_path, b"bad", gates_passed=False)
    assert reg.promote("iris", 1, "champion") is None
    with pytest.raises(RegistryError, match="failed its evaluation gates"):
        reg.promote("iris", 2, "champion")
    assert reg.aliases("iris") == {"champion": 1}
    assert reg.promote("iris", 2, "champion", force=True) == 1
    assert reg.get("iris@champion").gates_passed is False


def test_a_failed_write_leaves_the_registry_unchanged(reg: Registry, tmp_path: Path) -> None:
    add(reg, tmp_path, b"1")
    with pytest.raises(RegistryError, match="cannot store"):
        reg.register("iris", model_file(tmp_path, b"2"), {"bad": object()}, {}, {})
    assert [v.version for v in reg.list()] == [1]


def test_a_process_killed_mid_write_leaves_the_registry_consistent(reg: Registry,
                                                                   tmp_path: Path) -> None:
    add(reg, tmp_path, b"1")
    script = (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "conn.execute(\"INSERT INTO aliases VALUES ('iris', 'half', 1)\")\n"
        "os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(reg.db_path)], check=False)
    assert proc.returncode == 9
    assert reg.aliases("iris") == {}
    assert add(reg, tmp_path, b"2").version == 2
