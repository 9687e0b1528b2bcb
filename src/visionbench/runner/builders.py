"""Turn config nodes into objects (Hydra `_target_` is the registry; nothing here is keyed by strings)."""

import copy
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict
from torch import nn

from visionbench.models.published import MODEL_WEIGHTS_KEY, load_published_weights
from visionbench.runner.errors import ConfigError
from visionbench.tasks.contract import problem_contract


def build_task(cfg: DictConfig, datamodule: pl.LightningDataModule, **evaluation: Any) -> pl.LightningModule:
    """The task of ``cfg.task`` with its model, loss, optimiser and schedule, each given the facts its problem's
    contract takes from the datamodule (segmentation: class count and names; re-identification: identity count).
    ``loss``, ``optim`` and ``sched`` may be absent (evaluation-only configs). ``evaluation`` holds evaluation-only
    task arguments chosen by evaluate.py (:meth:`~visionbench.tasks.contract.ProblemContract.evaluation_arguments`).
    """
    facts = problem_contract(cfg).dataset_facts(datamodule)
    model = build_model(cfg.model, **facts.model)
    training = {
        "loss": instantiate(cfg.loss, **facts.loss) if cfg.get("loss") else None,
        "optimizer": instantiate(cfg.optim) if cfg.get("optim") else None,
        "scheduler": instantiate(cfg.sched) if cfg.get("sched") else None,
    }
    return instantiate(cfg.task, model=model, **training, **facts.task, **evaluation)


def split_weights(node: DictConfig) -> tuple[DictConfig, str | None]:
    """A model config without its runner key ``weights`` (a copy, interpolations still resolving against the
    run's config) and the published weights file it names (None when absent or null)."""
    stripped = copy.deepcopy(node)
    with open_dict(stripped):
        weights = stripped.pop(MODEL_WEIGHTS_KEY, None)
    return stripped, None if weights is None else str(weights)


def build_model(node: DictConfig, **kwargs: Any) -> Any:
    """The model of a ``model`` config node, built with ``kwargs`` (facts from the datamodule); when its top-level
    ``weights`` names a file (``model.weights=<file>``), the published weights in it are loaded into the network
    (:func:`~visionbench.models.published.load_published_weights`: the format recognised from the keys, converted,
    strictly checked). A missing or unfitting file raises :class:`~visionbench.runner.errors.ConfigError` naming it.
    """
    node, weights = split_weights(node)
    model = instantiate(node, **kwargs)
    if weights is None:
        return model
    if not isinstance(model, nn.Module) or not model.state_dict():
        raise ConfigError(f"model.weights={weights}: {type(model).__name__} has no weights to load")
    try:
        load_published_weights(model, weights)
    except (OSError, ValueError) as error:
        raise ConfigError(str(error)) from error
    return model


def build_each(group: Mapping | None) -> list:
    """Instantiate every entry of a group such as ``callbacks`` or ``logger`` (a mapping of name -> config); an
    entry set to null is left out (how ``callbacks/minimal.yaml`` removes entries of ``callbacks/default.yaml``)."""
    if not group:
        return []
    if not isinstance(group, Mapping):
        raise TypeError(f"expected a mapping of name -> object config, got {type(group).__name__}")
    objects = []
    for name, node in group.items():
        if node is None:
            continue
        if not isinstance(node, Mapping) or "_target_" not in node:
            raise ValueError(f"config entry '{name}' has no _target_; got {node!r}")
        objects.append(instantiate(node))
    return objects
