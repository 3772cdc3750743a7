"""Registering a model file by hand: `mlpipe models register NAME MODEL`.

    from mlpipe.api import models
    version = models.register_file("mlpipe.yaml", "iris", Path("model.pkl"), data=Path("x.csv"))
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlpipe.state.workspace import Workspace

if TYPE_CHECKING:
    from mlpipe.models.registry import ModelVersion


def register_file(path: Path | str | None, name: str, model: Path, data: Path | None = None,
                  target: str | None = None, meta: Path | None = None,
                  alias: str | None = None) -> ModelVersion:
    """Register `model` (joblib or pickle) as the next version of `name`, with its card.

    Args:
        path: The pipeline file (its `.mlpipe/` holds the registry).
        name: The model's name.
        model: The model file.
        data: A sample of its input, to infer the signature (`target` left out).
        target: The column of `data` the model predicts.
        meta: A model-meta JSON file instead of inferring one.
        alias: An alias to point at the version (e.g. champion).

    Raises:
        RegistryError: A bad name, a file that is not a model, or no signature to be had.
    """
    from mlpipe import __version__
    from mlpipe.ml import modelmeta
    from mlpipe.ml.dataio import DataError, read_json
    from mlpipe.models import card as cardlib
    from mlpipe.models.cardstore import CardStore
    from mlpipe.models.registry import Registry, RegistryError, check_name
    from mlpipe.state.hashing import hash_file
    from mlpipe.vcs import gitinfo

    check_name("model", name)
    if alias is not None:
        check_name("alias", alias)
    ws = Workspace.for_file(path)
    if meta is not None:
        try:
            facts = read_json(meta)
        except DataError as exc:
            raise RegistryError(str(exc)) from None
        if not isinstance(facts, dict):
            raise RegistryError(f"{meta}: model meta must be a JSON object")
    else:
        facts = modelmeta.infer(model, data, target)
    inputs = {field: {"path": str(p), "hash": hash_file(p)}
              for field, p in (("model", model), ("data", data), ("meta", meta)) if p}
    lineage = {"git_commit": gitinfo.head_commit(ws.root), "git_dirty": gitinfo.is_dirty(ws.root),
               "root": str(ws.root), "stage": None, "inputs": inputs, "params": {}}
    registry = Registry(ws.state_dir)
    version = registry.register(name, model, facts, {}, lineage)
    CardStore(ws.state_dir).put(version, cardlib.build(
        version, cardlib.CardFacts(mlpipe_version=__version__)))
    if alias is not None:
        registry.set_alias(name, alias, version.version)
    return version
