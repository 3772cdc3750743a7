"""GitOps drift of deployments: what is deployed versus what the pipeline file declares.

The declared side is the pipeline file at git HEAD (the working-tree file outside a git
repository): each `deploy` stage with target `server`, its host and port, and the registry
version its model reference resolves to now. The deployed side is the records under
`.mlpipe/deployments/`. Each stage gets an action:

- `none`: the record matches (model name, version, digest, host and port);
- `create`: declared but never deployed;
- `update`: deployed, but something differs (`changes` lists old -> new);
- `remove`: recorded, but no longer declared as a server deployment;
- `unresolved`: the reference names nothing (unknown model/alias, missing entry file) or a
  version whose gates failed, so running the stage would fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlpipe.models.registry import Registry
from mlpipe.serving.deployments import DeploymentError, model_ref, read_records, resolve
from mlpipe.spec.model import PipelineSpec, StageSpec
from mlpipe.state.workspace import Workspace
from mlpipe.vcs import gitinfo

COMPARED = ("name", "version", "digest", "host", "port")


@dataclass(frozen=True)
class Declared:
    """The pipeline file the comparison reads, and where it came from."""

    spec: PipelineSpec
    commit: str | None


def declared_spec(pipeline_file: Path) -> Declared:
    """The pipeline as committed at HEAD, or as in the work tree outside git.

    Args:
        pipeline_file: The pipeline file.

    Returns:
        The parsed pipeline and the commit it was read at (None for the work tree).
    """
    from mlpipe.revisions.snapshot import spec_at
    from mlpipe.spec.parse import load

    pipeline_file = pipeline_file.absolute()
    commit = gitinfo.resolve_rev(pipeline_file.parent, "HEAD")
    if commit is None:
        return Declared(load(pipeline_file), None)
    return Declared(spec_at(pipeline_file, "HEAD"), commit)


def _desired(stage: StageSpec, root: Path, registry: Registry) -> dict[str, Any]:
    """What the stage would deploy now, or {"error": ...} when it cannot."""
    config = stage.config
    try:
        ref = model_ref(config, root)
        version = resolve(registry, ref)
    except DeploymentError as exc:
        return {"error": str(exc)}
    desired = {"ref": ref, "name": version.name, "version": version.version,
               "digest": version.digest, "host": config.get("host"), "port": config.get("port")}
    if not version.gates_passed:
        desired["error"] = f"model {version.ref} failed its evaluation gates"
    return desired


def _entry(stage: str, deployed: dict[str, Any] | None, desired: dict[str, Any] | None
           ) -> dict[str, Any]:
    changes: dict[str, list[Any]] = {}
    if desired is None:
        action = "remove"
    elif "error" in desired:
        action = "unresolved"
    elif deployed is None:
        action = "create"
    else:
        changes = {key: [deployed.get(key), desired.get(key)] for key in COMPARED
                   if deployed.get(key) != desired.get(key)}
        action = "update" if changes else "none"
    return {"stage": stage, "action": action, "deployed": deployed, "desired": desired,
            "changes": changes}


def deploy_status(pipeline_file: Path) -> dict[str, Any]:
    """Compare the deployment records with the declared server deployments.

    Args:
        pipeline_file: The pipeline file (its `.mlpipe/` holds registry and records).

    Returns:
        {"in_sync": bool, "commit": sha or None, "deployments": [{"stage", "action",
        "deployed", "desired", "changes"}]} sorted by stage.
    """
    workspace = Workspace.for_file(pipeline_file)
    declared = declared_spec(workspace.pipeline_file)
    registry = Registry(workspace.state_dir)
    wanted = {stage.name: _desired(stage, workspace.root, registry)
              for stage in declared.spec.stages
              if stage.kind == "deploy" and stage.config.get("target") == "server"}
    records = read_records(workspace.state_dir)
    entries = [_entry(name, records.get(name), wanted.get(name))
               for name in sorted({*wanted, *records})]
    return {"in_sync": all(e["action"] == "none" for e in entries),
            "commit": declared.commit, "deployments": entries}
