"""Optical-flow task: any flow method (network or classical) + loss + EPE / px / Fl metrics."""

from pathlib import Path
from typing import ClassVar

import pytorch_lightning as pl
from torch import Tensor, nn

from visionbench.callbacks import FlowPredictionImages
from visionbench.losses import ScheduledLoss
from visionbench.metrics import FlowMetrics
from visionbench.optim.configure import OptimizerFactory, SchedulerFactory, optimizer_and_schedule
from visionbench.tasks.contract import SUMMARY_SIZE, ProblemContract
from visionbench.tasks.epoch_metrics import EpochMetricsMixin
from visionbench.tasks.flow.contract import FlowContract


def final_flow(output: Tensor | dict[str, Tensor]) -> Tensor:
    """The ``B,2,H,W`` flow of a method's output: the tensor itself or the ``"flow"`` entry of a dict."""
    if isinstance(output, Tensor):
        return output
    if "flow" not in output:
        raise KeyError(f"a flow method returning a dict must have a 'flow' entry, got {sorted(output)}")
    return output["flow"]


class FlowTask(EpochMetricsMixin, pl.LightningModule):
    """Trains and evaluates any method with the flow interface ``(image1, image2) -> B,2,H,W`` flow.

    Batches are dicts ``{"image1", "image2": float B,3,H,W in [0, 1], "flow": float B,2,H,W (pixels),
    "valid": bool B,H,W}`` plus an optional ``"occlusion"`` (bool B,H,W, True = occluded). Networks return in
    training mode ``{"flow", "predictions"}`` for their loss (multi-scale or per-iteration flows); classical
    methods return the flow tensor and have nothing to train (evaluate them with evaluate.py).

    Validation and test predictions are made in float32 also under mixed precision (:class:`EpochMetricsMixin`).
    Logs ``train/loss`` (and each term) per step, and per evaluation epoch ``{val,test}/{EPE,px1,px3,px5,Fl}``
    pixel-pooled (every valid pixel of the split weighs the same, as KITTI's and RAFT's Sintel numbers),
    ``..._per_image`` (each image weighs the same, as ptlflow's default), and ``_noc`` / ``_occ`` variants on
    non-occluded / occluded pixels when the data has occlusion masks. px* and Fl are fractions in [0, 1].

    Args:
        model: the flow method.
        loss: a :class:`~visionbench.losses.ScheduledLoss` whose terms take ``(output, flow, valid)``; None for
            evaluation only.
        optimizer: ``params -> Optimizer`` (Hydra partial); None for evaluation only.
        scheduler: ``(optimizer, total_steps) -> LRScheduler`` stepped per optimiser step, or None.
    """

    contract: ClassVar[ProblemContract] = FlowContract()

    progress_bar_metrics = ("EPE",)

    def __init__(
        self,
        model: nn.Module,
        loss: ScheduledLoss | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.example_input_array = self.contract.example_inputs(model, 1, *SUMMARY_SIZE)  # summary FLOPs
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.val_metrics = FlowMetrics()
        self.test_metrics = FlowMetrics()

    def forward(self, image1: Tensor, image2: Tensor) -> Tensor:
        """Final flow ``B,2,H,W`` in pixels."""
        return final_flow(self.model(image1, image2))

    def on_train_epoch_start(self) -> None:
        self.loss.set_epoch(self.current_epoch)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        output = self.model(batch["image1"], batch["image2"])
        if not isinstance(output, dict):
            output = {"flow": output, "predictions": [output]}
        total, terms = self.loss(output, batch["flow"], batch["valid"])
        batch_size = batch["image1"].shape[0]
        self.log("train/loss", total, on_step=True, on_epoch=True, prog_bar=True, batch_size=batch_size)
        for name, value in terms.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=batch_size)
        return total

    def evaluation_step(self, stage: str, metrics: FlowMetrics, batch: dict[str, Tensor]) -> None:
        prediction = self(batch["image1"], batch["image2"])
        metrics.update(prediction, batch["flow"], batch["valid"], batch.get("occlusion"), batch.get("index"))

    def configure_optimizers(self) -> dict:
        parameters = [p for p in self.parameters() if p.requires_grad]
        if not parameters or self.optimizer_factory is None or self.loss is None:
            raise ValueError(
                f"{type(self.model).__name__} has no trainable parameters (or no loss/optimiser was given): a "
                "classical method is evaluated without training: python evaluate.py task=flow model=flow/<method>"
            )
        return optimizer_and_schedule(self, parameters, self.optimizer_factory, self.scheduler_factory)

    def evaluation_images(self, dirpath: str | Path, num_images: int) -> pl.Callback:
        """The callback evaluate.py uses to save this task's prediction panels."""
        return FlowPredictionImages(dirpath, num_images=num_images)
