"""Turn config nodes into objects (Hydra `_target_` is the registry; nothing here is keyed by strings)."""

from collections.abc import Callable, Mapping

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig


def build_task(
    cfg: DictConfig,
    datamodule: pl.LightningDataModule,
    postprocess: Callable | None = None,
    inference: Callable | None = None,
    evaluation_loss: bool | None = None,
) -> pl.LightningModule:
    """Model, loss, optimiser and schedule from ``cfg``; class count and names from the datamodule.

    Evaluation-only objects (evaluate.py builds them from its own config, not the run's):
    ``postprocess`` (e.g. a dense CRF) is handed to the task with the datamodule's ``mean`` and ``std``, which
    it needs to restore the RGB images; ``inference`` (a mode of :mod:`visionbench.inference`) replaces the
    task's default whole-image inference; ``evaluation_loss`` (when not None) sets whether the task logs
    ``{val,test}/loss``.
    """
    model = instantiate(cfg.model, num_classes=datamodule.num_classes)
    loss = instantiate(cfg.loss)
    optimizer = instantiate(cfg.optim)
    scheduler = instantiate(cfg.sched) if cfg.get("sched") else None
    evaluation = {}
    if postprocess is not None:
        evaluation = {"postprocess": postprocess, "image_mean": datamodule.mean, "image_std": datamodule.std}
    if inference is not None:
        evaluation["inference"] = inference
    if evaluation_loss is not None:
        evaluation["evaluation_loss"] = evaluation_loss
    return instantiate(
        cfg.task,
        model=model,
        loss=loss,
        optimizer=optimizer,
        scheduler=scheduler,
        num_classes=datamodule.num_classes,
        class_names=list(datamodule.class_names),
        **evaluation,
    )


def build_each(group: Mapping | None) -> list:
    """Instantiate every entry of a group such as ``callbacks`` or ``logger`` (a mapping of name -> config)."""
    if not group:
        return []
    if not isinstance(group, Mapping):
        raise TypeError(f"expected a mapping of name -> object config, got {type(group).__name__}")
    objects = []
    for name, node in group.items():
        if not isinstance(node, Mapping) or "_target_" not in node:
            raise ValueError(f"config entry '{name}' has no _target_; got {node!r}")
        objects.append(instantiate(node))
    return objects
