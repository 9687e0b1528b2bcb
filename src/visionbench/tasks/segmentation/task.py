"""Semantic segmentation task: model + scheduled loss + mmseg-style metrics."""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytorch_lightning as pl
import torch.nn.functional as F
from torch import Tensor, nn

from visionbench.callbacks import SegmentationPredictionImages
from visionbench.inference import InferenceMode, WholeImage, resize
from visionbench.losses import ScheduledLoss
from visionbench.metrics import SegmentationMetrics
from visionbench.metrics.samples import Scores
from visionbench.optim.configure import OptimizerFactory, SchedulerFactory, optimizer_and_schedule
from visionbench.tasks.contract import SUMMARY_SIZE, ProblemContract
from visionbench.tasks.epoch_metrics import EpochMetricsMixin
from visionbench.tasks.segmentation.contract import SegmentationContract
from visionbench.viz.segmentation import denormalize

PostProcess = Callable[[Tensor, np.ndarray], Tensor]

PER_CLASS_METRICS = ("IoU", "Acc", "Dice")


def split_model_output(output: Tensor | dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
    """Return ``(main_logits, aux_logits_by_name)`` from a model's tensor or ``{"out", "aux"...}`` output."""
    if isinstance(output, Tensor):
        return output, {}
    if "out" not in output:
        raise KeyError(f"a segmentation model returning a dict must have an 'out' entry, got {sorted(output)}")
    return output["out"], {name: value for name, value in output.items() if name != "out"}


class SegmentationTask(EpochMetricsMixin, pl.LightningModule):
    """Trains and evaluates any model with the segmentation interface ``B,3,H,W -> B,C,H,W`` logits.

    Batches are dicts ``{"image": float B,3,h,w, "mask": int64 B,H,W}`` (``ignore_index`` marks unlabelled
    pixels). In training the image and mask sizes match; in evaluation the mask may be larger or smaller than
    the image (ADE20K's test pipeline resizes the image and keeps the mask at its original resolution), and
    predictions are scored at the mask's resolution. Logs ``train/loss`` (and each loss term),
    ``{val,test}/{loss,aAcc,mIoU,mAcc,mDice}`` per epoch; per-class IoU/Acc/Dice of the latest evaluation are
    kept in ``per_class_scores[stage]``.

    Evaluation scores :meth:`class_probabilities`: the ``inference`` mode (whole image, sliding window or
    multi-scale + flip, see :mod:`visionbench.inference`) turns the main-head logits into class probabilities
    at the mask's size, then the optional ``postprocess`` (e.g. a dense CRF) refines them. ``{val,test}/loss``
    is always the training loss of the *whole-image* logits (main and auxiliary heads) resized to the mask:
    with whole-image inference it comes from the same forward pass; with the other modes it costs one extra
    whole-image forward pass per batch, unless ``evaluation_loss=False`` (then no ``{val,test}/loss`` is
    logged, e.g. when a whole image does not fit in memory and sliding windows are the reason to use them).

    Args:
        model: segmentation network; may return ``{"out": logits, "aux": logits, ...}`` for auxiliary heads.
        loss: a :class:`~visionbench.losses.ScheduledLoss`; the task calls ``set_epoch`` at every epoch start.
        optimizer: ``params -> Optimizer`` (a Hydra partial).
        scheduler: ``(optimizer, total_steps) -> LRScheduler`` stepped per optimiser step, or None.
        num_classes: number of classes (from the datamodule).
        class_names: class names for per-class reporting (defaults to ``class_<i>``).
        ignore_index: label ignored by losses and metrics.
        aux_weight: weight of each auxiliary-head loss (0.4 as in PSPNet/mmsegmentation).
        postprocess: optional evaluation-time refinement ``(probabilities B,C,H,W, images uint8 B,H,W,3 RGB) ->
            probabilities B,C,H,W`` (e.g. :class:`~visionbench.postprocess.DenseCRF`), applied in val/test steps
            to the output of ``inference`` (at the mask's resolution) before the metric update, with the
            de-normalised RGB images bilinearly resized to that resolution when it differs from the images'.
        image_mean, image_std: the datamodule's normalisation ([0, 1] scale), needed with ``postprocess`` to
            restore the RGB images.
        inference: evaluation inference mode ``(forward, images, output_size) -> probabilities``
            (:class:`~visionbench.inference.WholeImage` by default; ``SlidingWindow``, ``MultiScaleFlip``).
            Training is not affected.
        evaluation_loss: log ``{val,test}/loss`` (see above).
    """

    contract: ClassVar[ProblemContract] = SegmentationContract()

    progress_bar_metrics = ("mIoU",)

    def __init__(
        self,
        model: nn.Module,
        loss: ScheduledLoss,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None,
        num_classes: int,
        class_names: Sequence[str] | None = None,
        ignore_index: int = 255,
        aux_weight: float = 0.4,
        postprocess: PostProcess | None = None,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
        inference: InferenceMode | None = None,
        evaluation_loss: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.example_input_array = self.contract.example_inputs(model, 1, *SUMMARY_SIZE)  # summary FLOPs
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(num_classes)]
        if len(self.class_names) != num_classes:
            raise ValueError(f"got {len(self.class_names)} class names for num_classes={num_classes}")
        self.aux_weight = aux_weight
        if postprocess is not None and (image_mean is None or image_std is None):
            raise ValueError("a postprocess needs image_mean and image_std to restore the RGB images")
        self.postprocess = postprocess
        self.image_mean = None if image_mean is None else tuple(float(m) for m in image_mean)
        self.image_std = None if image_std is None else tuple(float(s) for s in image_std)
        self.inference = WholeImage() if inference is None else inference
        self.evaluation_loss = evaluation_loss
        self.val_metrics = SegmentationMetrics(num_classes=num_classes, ignore_index=ignore_index)
        self.test_metrics = SegmentationMetrics(num_classes=num_classes, ignore_index=ignore_index)
        self.per_class_scores: dict[str, dict[str, list[float]]] = {}

    def forward(self, images: Tensor) -> Tensor:
        """Main-head logits ``B,C,H,W``."""
        return split_model_output(self.model(images))[0]

    def _loss(self, output: Tensor | dict[str, Tensor], target: Tensor) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        logits, aux_outputs = split_model_output(output)
        if logits.shape[-2:] != target.shape[-2:]:  # evaluation masks at another resolution than the images
            logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
        total, terms = self.loss(logits, target)
        for name, aux_logits in aux_outputs.items():
            if aux_logits.shape[-2:] != target.shape[-2:]:
                aux_logits = F.interpolate(aux_logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
            aux_total, _ = self.loss(aux_logits, target)
            terms[f"{name}_loss"] = aux_total.detach()
            total = total + self.aux_weight * aux_total
        return total, terms, logits

    def on_train_epoch_start(self) -> None:
        self.loss.set_epoch(self.current_epoch)
        for name, weight in self.loss.weights.items():
            self.log(f"train/weight_{name}", weight, on_step=False, on_epoch=True)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        total, terms, _ = self._loss(self.model(batch["image"]), batch["mask"])
        batch_size = batch["image"].shape[0]
        self.log("train/loss", total, on_step=True, on_epoch=True, prog_bar=True, batch_size=batch_size)
        for name, value in terms.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=batch_size)
        return total

    def _infer(
        self, images: Tensor, output_size: Sequence[int] | None = None
    ) -> tuple[Tensor, Tensor | dict[str, Tensor] | None]:
        """``(probabilities, whole_output)``: the scored probabilities (see :meth:`class_probabilities`) and the
        model's raw output on ``images`` itself if the inference mode computed it (whole-image inference does;
        sliding windows and rescaled inputs do not), else None."""
        size = tuple(images.shape[-2:]) if output_size is None else (int(output_size[0]), int(output_size[1]))
        whole: list[Tensor | dict[str, Tensor]] = []

        def forward(inputs: Tensor) -> Tensor:
            output = self.model(inputs)
            if inputs is images:  # the unmodified batch: keep its output for the loss
                whole.append(output)
            return split_model_output(output)[0]

        probabilities = self.inference(forward, images, size)
        if self.postprocess is not None:
            rgb = resize(images.float(), size)  # affine de-normalisation commutes with the bilinear resize
            rgb = np.stack([denormalize(image, self.image_mean, self.image_std) for image in rgb])
            probabilities = self.postprocess(probabilities, rgb)
        return probabilities, (whole[0] if whole else None)

    def class_probabilities(self, images: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        """Class probabilities ``B,C,H,W`` that evaluation scores, at ``output_size`` (the masks' ``H,W``;
        default: the images' size): the ``inference`` mode's output, refined by ``postprocess`` (with the
        de-normalised RGB images at that size) when the task has one. Metrics and the prediction-image callback
        both use this."""
        return self._infer(images, output_size)[0]

    def evaluation_step(self, stage: str, metrics: SegmentationMetrics, batch: dict[str, Tensor]) -> None:
        images, masks = batch["image"], batch["mask"]
        probabilities, output = self._infer(images, masks.shape[-2:])
        metrics.update(probabilities, masks, batch.get("index"))  # arg-max over classes
        if self.evaluation_loss:
            total, _, _ = self._loss(self.model(images) if output is None else output, masks)
            self.log(f"{stage}/loss", total, on_step=False, on_epoch=True, batch_size=images.shape[0], sync_dist=True)

    def record_epoch_scores(self, stage: str, scores: Scores) -> None:
        self.per_class_scores[stage] = {name: np.asarray(scores[name]).tolist() for name in PER_CLASS_METRICS}

    def configure_optimizers(self) -> dict:
        return optimizer_and_schedule(self, self.parameters(), self.optimizer_factory, self.scheduler_factory)

    def evaluation_images(self, dirpath: str | Path, num_images: int) -> pl.Callback:
        """The callback evaluate.py uses to save this task's panels (predictions and per-class maps)."""
        return SegmentationPredictionImages(dirpath, num_images=num_images, probability_maps=True)
