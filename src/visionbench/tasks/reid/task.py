"""Person re-identification task: DeepSORT's appearance network trained by identity classification and scored by
query / gallery retrieval."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytorch_lightning as pl
from torch import Tensor, nn

from visionbench.metrics.reid import ReidMetrics
from visionbench.models.tracking.appearance import CHECKPOINT_KEY
from visionbench.optim.configure import OptimizerFactory, SchedulerFactory, optimizer_and_schedule
from visionbench.tasks.contract import SUMMARY_SIZE, ProblemContract
from visionbench.tasks.epoch_metrics import EpochMetricsMixin
from visionbench.tasks.reid.contract import ReidContract


class ReidTask(EpochMetricsMixin, pl.LightningModule):
    """Trains an embedding network (:class:`~visionbench.models.tracking.appearance.AppearanceNet`) with an
    identity-classification loss on its embeddings (:class:`~visionbench.losses.CosineSoftmaxLoss`, Wojke and
    Bewley 2018) and evaluates it by re-identification.

    Batches are dicts ``{"image": float B,3,H,W normalised crops, "label": int64 B identity}`` plus, for
    validation / test, ``"is_query": bool B`` (:class:`~visionbench.data.tracking.reid.ReidCropsDataModule`). Logs
    ``train/loss`` and ``train/accuracy`` (identity classification), and per evaluation epoch
    ``{val,test}/{rank1,rank5,rank10,mAP,num_queries}`` (:mod:`visionbench.metrics.reid`: cosine distance, CMC and
    mAP over the split's queries against its gallery). Checkpoints also store the network's constructor arguments
    under :data:`~visionbench.models.tracking.appearance.CHECKPOINT_KEY`, so that
    :meth:`~visionbench.models.tracking.appearance.AppearanceEncoder.from_checkpoint` can rebuild it for DeepSORT.

    Args:
        model: the embedding network ``B,3,H,W -> B,D`` (unit-norm embeddings).
        loss: ``(embeddings B,D, labels B) -> scalar``, holding the per-identity weights; with a ``logits`` method
            training accuracy is logged too. None for evaluation only.
        optimizer: ``params -> Optimizer`` (Hydra partial); None for evaluation only.
        scheduler: ``(optimizer, total_steps) -> LRScheduler`` stepped per optimiser step, or None.
        ranks: the ``k`` of the CMC rank-k scores logged.
    """

    contract: ClassVar[ProblemContract] = ReidContract()

    progress_bar_metrics = ("rank1", "mAP")

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ranks: Sequence[int] = (1, 5, 10),
    ) -> None:
        super().__init__()
        self.model = model
        self.example_input_array = self.contract.example_inputs(model, 1, *SUMMARY_SIZE)  # summary FLOPs
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.val_metrics = ReidMetrics(ranks)
        self.test_metrics = ReidMetrics(ranks)

    def forward(self, images: Tensor) -> Tensor:
        """``B,D`` embeddings of ``B,3,H,W`` normalised crops."""
        return self.model(images)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        if self.loss is None:
            raise ValueError("ReidTask needs a loss to train")
        embeddings = self.model(batch["image"])
        loss = self.loss(embeddings, batch["label"])
        batch_size = batch["image"].shape[0]
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=batch_size)
        if hasattr(self.loss, "logits"):
            accuracy = (self.loss.logits(embeddings.detach()).argmax(dim=1) == batch["label"]).float().mean()
            self.log("train/accuracy", accuracy, on_step=False, on_epoch=True, batch_size=batch_size)
        if hasattr(self.loss, "scale"):
            self.log("train/scale", self.loss.scale.detach(), on_step=False, on_epoch=True, batch_size=batch_size)
        return loss

    def evaluation_step(self, stage: str, metrics: ReidMetrics, batch: dict[str, Tensor]) -> None:
        metrics.update(self(batch["image"]), batch["label"], batch["is_query"], batch.get("index"))

    def configure_optimizers(self) -> dict:
        if self.optimizer_factory is None or self.loss is None:
            raise ValueError("training ReidTask needs a loss and an optimiser (evaluation only otherwise)")
        parameters = [p for p in self.parameters() if p.requires_grad]  # the network's and the loss's
        return optimizer_and_schedule(self, parameters, self.optimizer_factory, self.scheduler_factory)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if hasattr(self.model, "config"):
            checkpoint[CHECKPOINT_KEY] = self.model.config()

    def evaluation_images(self, dirpath: str | Path, num_images: int) -> pl.Callback:
        """The callback evaluate.py adds: re-identification writes no prediction panels."""
        return pl.Callback()
