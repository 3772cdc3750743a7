"""Which registered model a deploy stage names, and the records of what is deployed.

A `server` deploy stage records its deployment in `<root>/.mlpipe/deployments/<stage>.json`;
`mlpipe serve --deployment STAGE` serves it and `mlpipe deploy status` compares the records
with what the pipeline file declares now.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlpipe.models.registry import ModelVersion, Registry, RegistryError
from mlpipe.serving.modelfile import ModelFileError, read_verified
from mlpipe.state.fsutil import atomic_write_text

DEPLOYMENTS_DIR = "deployments"


class DeploymentError(ValueError):
    """The model a deploy stage names cannot be found or read; the message says why."""


def entry_ref(entry_file: Path) -> str:
    """The exact reference (`name:version`) a register stage's entry file records.

    Args:
        entry_file: The JSON entry ({"name", "version", ...}).

    Returns:
        `name:version`.

    Raises:
        DeploymentError: The file is missing or does not hold a name and a version.
    """
    try:
        entry = json.loads(entry_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeploymentError(f"entry file {entry_file} does not exist") from None
    except (OSError, ValueError) as exc:
        raise DeploymentError(f"entry file {entry_file} is not valid JSON: {exc}") from None
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(
            entry.get("version"), int) or isinstance(entry.get("version"), bool):
        raise DeploymentError(f"entry file {entry_file} must hold a 'name' and an integer "
                              "'version' (is it register.entry?)")
    return f"{entry['name']}:{entry['version']}"


def model_ref(config: Mapping[str, Any], root: Path) -> str:
    """The registry reference a deploy stage's config names (`model`, else `entry`'s file).

    Args:
        config: The stage's config (`entry` is a path relative to `root`).
        root: The pipeline root.

    Returns:
        A reference such as `iris@champion` or `iris:2`.
    """
    if config.get("model"):
        return str(config["model"])
    return entry_ref(root / str(config["entry"]))


def resolve(registry: Registry, ref: str) -> ModelVersion:
    """The version `ref` names, with RegistryError turned into DeploymentError."""
    try:
        return registry.get(ref)
    except RegistryError as exc:
        raise DeploymentError(str(exc)) from None


def deployable(registry: Registry, ref: str) -> tuple[ModelVersion, bytes]:
    """The version `ref` names and its model file's bytes, verified, refusing failed gates.

    The bytes are read once and checked against the version's digest; callers load or copy
    these bytes, never the file again, so the file cannot change between check and use.

    Args:
        registry: The pipeline's registry.
        ref: `name`, `name@alias` or `name:version`.

    Returns:
        The version and the bytes of its model file.

    Raises:
        DeploymentError: Unknown reference, failed gates, or a missing/tampered model file
            (the message names the file, the recorded digest and the file's hash).
    """
    version = resolve(registry, ref)
    if not version.gates_passed:
        raise DeploymentError(f"model {version.ref} ({ref}) failed its evaluation gates; "
                              "refusing to deploy it")
    path = registry.store.path_of(version.digest)
    try:
        return version, read_verified(path, version.digest, f"the registry ({version.ref})")
    except ModelFileError as exc:
        raise DeploymentError(f"model {version.ref}: {exc}; registering the model file "
                              "again repairs the stored copy") from None


def model_info(version: ModelVersion) -> dict[str, Any]:
    """What /metadata reports about a version besides its signature.

    The lineage goes without the directory the model was trained in: the server's callers
    have no business knowing the file system it came from.
    """
    lineage = {k: v for k, v in version.lineage.items() if k != "root"}
    return {"name": version.name, "version": version.version, "digest": version.digest,
            "lineage": lineage, "metrics": version.metrics,
            "created_at": version.created_at}


def records_dir(state_dir: Path) -> Path:
    """Where deployment records live: `<state_dir>/deployments`."""
    return state_dir / DEPLOYMENTS_DIR


def write_record(state_dir: Path, stage: str, deployment: Mapping[str, Any]) -> Path:
    """Record a server deployment of `stage` (atomically), adding the stage and the time.

    Args:
        state_dir: The pipeline's `.mlpipe` directory.
        stage: The deploy stage's name.
        deployment: {"name", "version", "digest", "target", "host", "port"}.

    Returns:
        The record's path.
    """
    path = records_dir(state_dir) / f"{stage}.json"
    record = {**deployment, "stage": stage,
              "deployed_at": datetime.now(UTC).isoformat(timespec="seconds")}
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def read_records(state_dir: Path) -> dict[str, dict[str, Any]]:
    """Every deployment record: stage -> record (unreadable files are skipped)."""
    records = {}
    folder = records_dir(state_dir)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            records[path.stem] = record
    return records


def read_record(state_dir: Path, stage: str) -> dict[str, Any]:
    """The deployment record of one stage.

    Raises:
        DeploymentError: There is none (listing the stages that have one).
    """
    records = read_records(state_dir)
    if stage not in records:
        known = ", ".join(records) or "none"
        raise DeploymentError(f"no deployment recorded for stage '{stage}' (recorded: {known}); "
                              "run the pipeline's deploy stage first")
    return records[stage]
