"""The segmentation problem's contract: class facts, mIoU (max), per-class scores and tables, and the evaluation
choices of evaluate.py (inference mode, post-processing)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.table import Table

from visionbench.tasks.contract import DatasetFacts, Headline, ProblemContract


def per_class_table(stage: str, scores: Mapping[str, Sequence[float]], class_names: Sequence[str]) -> Table:
    """Per-class IoU / Acc / Dice in percent ('-' for classes absent from prediction and ground truth)."""
    table = Table(title=f"{stage}: per-class scores (%)")
    table.add_column("class")
    for metric in scores:
        table.add_column(metric, justify="right")
    for index, name in enumerate(class_names):
        table.add_row(name, *(_percent(values[index]) for values in scores.values()))
    return table


def _percent(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.2f}"


class SegmentationContract(ProblemContract):
    """Semantic segmentation: the datamodule's classes go to the model (``num_classes``) and the task
    (``num_classes``, ``class_names``); ranked by mIoU; metrics.json also holds ``<split>/<metric>/<class>`` per-class
    IoU / Acc / Dice; evaluate.py may choose the inference mode and a post-processing."""

    name = "segmentation"
    headline = Headline("mIoU", "max")

    def dataset_facts(self, datamodule: pl.LightningDataModule) -> DatasetFacts:
        classes = {"num_classes": datamodule.num_classes, "class_names": list(datamodule.class_names)}
        return DatasetFacts(model={"num_classes": datamodule.num_classes}, task=classes)

    def evaluation_arguments(self, cfg: DictConfig, datamodule: pl.LightningDataModule) -> dict[str, Any]:
        """The loss is skipped (metrics.json holds scores only, and slide/TTA would pay an extra forward pass for
        it); ``inference`` (None: the task's whole image) and ``postprocess`` as chosen."""
        arguments: dict[str, Any] = {"evaluation_loss": False}
        if cfg.get("inference"):
            arguments["inference"] = instantiate(cfg.inference)
        if cfg.get("postprocess"):
            arguments.update(
                postprocess=instantiate(cfg.postprocess), image_mean=datamodule.mean, image_std=datamodule.std
            )
        return arguments

    def flat_metrics(self, results: Mapping[str, float], task: pl.LightningModule) -> dict[str, float]:
        flat = super().flat_metrics(results, task)
        for stage, metrics in task.per_class_scores.items():
            for metric, values in metrics.items():
                for name, value in zip(task.class_names, values, strict=True):
                    flat[f"{stage}/{metric}/{name}"] = float(value)
        return flat

    def tables(self, task: pl.LightningModule) -> list[Table]:
        return [per_class_table(stage, scores, task.class_names) for stage, scores in task.per_class_scores.items()]

    def evaluation_summary(self, task: pl.LightningModule) -> dict[str, str]:
        postprocess = task.postprocess
        return {"inference": repr(task.inference), "postprocess": "none" if postprocess is None else repr(postprocess)}
