"""The segmentation problem's contract: class facts, mIoU (max), per-class scores and tables, and the evaluation
choices of evaluate.py (inference mode, post-processing)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.table import Table
from torch import Tensor, nn

from visionbench.data.image import IMAGENET_MEAN, IMAGENET_STD
from visionbench.metrics.segmentation import resampled_miou, segmentation_scores
from visionbench.tasks.contract import DatasetFacts, Headline, ProblemContract, check_counts, smooth_images


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
    leaderboard_metrics = ("aAcc", "mAcc", "mDice")
    protocol_defaults = {
        **ProblemContract.protocol_defaults,
        "evaluation.inference": {"_target_": "visionbench.inference.WholeImage"},  # the task's own (inference=whole)
    }
    metric_modules = ("visionbench.metrics.segmentation", "visionbench.metrics.samples")

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

    def example_inputs(
        self,
        model: nn.Module,
        batch: int,
        height: int,
        width: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> tuple[Tensor, ...]:
        """One ``batch,3,height,width`` image batch normalised with ImageNet's mean and std (the datamodules'
        default normalisation); a model taking several stacked inputs (``input_channels``, e.g. RGB + depth) gets
        its extra channels as further images in [0, 1]."""
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        images = (smooth_images(batch, height, width) - mean) / std
        extra = sum(getattr(model, "input_channels", [3])) - 3
        if extra > 0:
            images = torch.cat([images, smooth_images(batch, height, width).repeat(1, 3, 1, 1)[:, :extra]], dim=1)
        return (images.to(device=device, dtype=dtype),)

    def main_output(self, output: Tensor | Mapping[str, Any]) -> Tensor:
        """The main head's ``B,C,H,W`` logits (the ``out`` entry of a dict output)."""
        from visionbench.tasks.segmentation.task import split_model_output  # the task module imports this one

        return split_model_output(output)[0]

    def video_annotator(self, model: nn.Module, datamodule: pl.LightningDataModule, settings: Any) -> Any:
        """Class overlays with a legend and label masks, normalised as the datamodule does
        (:class:`~visionbench.video.segmentation.SegmentationAnnotator`)."""
        from visionbench.video.segmentation import SegmentationAnnotator  # video I/O is loaded by infer.py only

        settings.refuse_detections(self.name)
        inputs = self.example_inputs(model, settings.batch_size, *settings.input_size, device=settings.device)
        network = settings.prepare(model, inputs, self.main_output)
        facts = (datamodule.palette, datamodule.class_names, datamodule.mean, datamodule.std)
        return SegmentationAnnotator(network, *facts, settings)

    def flat_metrics(self, results: Mapping[str, float], task: pl.LightningModule) -> dict[str, float]:
        flat = super().flat_metrics(results, task)
        for stage, metrics in task.per_class_scores.items():
            for metric, values in metrics.items():
                for name, value in zip(task.class_names, values, strict=True):
                    flat[f"{stage}/{metric}/{name}"] = float(value)
        return flat

    def tables(self, task: pl.LightningModule) -> list[Table]:
        return [per_class_table(stage, scores, task.class_names) for stage, scores in task.per_class_scores.items()]

    def metrics_from_scores(
        self, scores: Mapping[str, np.ndarray], split: str, class_names: Sequence[str] | None = None
    ) -> dict[str, float]:
        """aAcc, mIoU, mAcc, mDice of the per-image areas (``intersection``, ``union``, ``pred_area``,
        ``label_area``: N x C) and, given the dataset's ``class_names`` (scores.npz holds per-sample arrays only),
        the per-class ``<split>/<IoU|Acc|Dice>/<class>`` entries (NaN where metrics.json holds null)."""
        values = segmentation_scores(scores)
        metrics = {f"{split}/{name}": float(value) for name, value in values.items() if np.ndim(value) == 0}
        for metric, per_class in values.items():
            if np.ndim(per_class) and class_names is not None:
                for name, value in zip(class_names, per_class, strict=True):
                    metrics[f"{split}/{metric}/{name}"] = float(value)
        return metrics

    def resampled_headline(self, scores: Mapping[str, np.ndarray], counts: np.ndarray) -> np.ndarray:
        """mIoU per resample, vectorised (:func:`~visionbench.metrics.segmentation.resampled_miou`)."""
        return resampled_miou(scores, check_counts(scores, counts))

    def evaluation_summary(self, task: pl.LightningModule) -> dict[str, str]:
        postprocess = task.postprocess
        return {"inference": repr(task.inference), "postprocess": "none" if postprocess is None else repr(postprocess)}
