"""Turn config nodes into objects (Hydra `_target_` is the registry; nothing here is keyed by strings)."""

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig


def build_task(cfg: DictConfig, datamodule: pl.LightningDataModule, **evaluation: Any) -> pl.LightningModule:
    """The task of ``cfg.task`` with its model, loss, optimiser and schedule; dataset facts from the datamodule.

    Segmentation datamodules (those with ``num_classes``) hand the class count to the model and the class
    count and names to the task; re-identification datamodules (those with ``num_identities``) hand the identity
    count to the loss, which holds the per-identity weights; flow datamodules have no such facts. ``loss``,
    ``optim`` and ``sched`` may be absent (evaluation-only configs). ``evaluation`` holds evaluation-only task
    arguments chosen by evaluate.py (segmentation: ``inference``, ``postprocess`` with ``image_mean``/``image_std``,
    ``evaluation_loss``).
    """
    classes = {}
    if hasattr(datamodule, "num_classes"):
        classes = {"num_classes": datamodule.num_classes, "class_names": list(datamodule.class_names)}
    model_facts = {"num_classes": classes["num_classes"]} if classes else {}
    model = instantiate(cfg.model, **model_facts)
    loss_facts = {"num_identities": datamodule.num_identities} if hasattr(datamodule, "num_identities") else {}
    training = {
        "loss": instantiate(cfg.loss, **loss_facts) if cfg.get("loss") else None,
        "optimizer": instantiate(cfg.optim) if cfg.get("optim") else None,
        "scheduler": instantiate(cfg.sched) if cfg.get("sched") else None,
    }
    return instantiate(cfg.task, model=model, **training, **classes, **evaluation)


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
