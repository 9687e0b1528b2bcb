"""Write input | ground truth | prediction panels after each evaluation and send them to image loggers."""

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only

from visionbench.inference import resize
from visionbench.viz.segmentation import activation_map_panels, prediction_panels, probability_panels, save_png


def log_image_to_loggers(trainer: pl.Trainer, key: str, image: np.ndarray) -> None:
    """Send an ``H,W,3`` uint8 image to every attached logger that can show images (TensorBoard, W&B)."""
    for logger in trainer.loggers:
        if hasattr(logger, "log_image"):  # WandbLogger
            logger.log_image(key=key, images=[image], step=trainer.global_step)
        elif hasattr(logger.experiment, "add_image"):  # TensorBoard SummaryWriter
            logger.experiment.add_image(key, image, global_step=trainer.global_step, dataformats="HWC")


def stack_rows(rows: list[np.ndarray], gap: int = 2) -> np.ndarray:
    """Stack ``H_i,W_i,3`` uint8 panel rows top to bottom, ``gap`` white pixels apart, padded right with white."""
    width = max(row.shape[1] for row in rows)
    height = sum(row.shape[0] for row in rows) + gap * (len(rows) - 1)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    top = 0
    for row in rows:
        canvas[top : top + row.shape[0], : row.shape[1]] = row
        top += row.shape[0] + gap
    return canvas


class EvaluationImages(pl.Callback):
    """Base of the prediction-panel callbacks: after every validation epoch (``val_epoch_<NNN>``, or ``val``
    outside fitting) and after testing (``test``), ``_render`` predicts the first samples of the split and
    saves a panel; on rank zero only."""

    def _render(self, trainer: pl.Trainer, pl_module: pl.LightningModule, dataset, name: str) -> None:
        raise NotImplementedError

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        name = f"val_epoch_{trainer.current_epoch:03d}" if trainer.state.fn == "fit" else "val"
        self._render(trainer, pl_module, trainer.val_dataloaders.dataset, name)

    @rank_zero_only
    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._render(trainer, pl_module, trainer.test_dataloaders.dataset, "test")


class SegmentationPredictionImages(EvaluationImages):
    """After every validation epoch and after testing, predict a fixed set of samples and save a panel.

    Predictions are those the task scores (``class_probabilities``: its inference mode, then its evaluation
    ``postprocess``, e.g. a dense CRF, if any), at the ground truth's resolution; when a sample's image has
    another size than its mask (e.g. ADE20K's test pipeline), the input is shown bilinearly resized to the
    mask's size. Samples are predicted one at a time, so they may differ in size (narrower rows are padded
    with white). Files: ``<dirpath>/val_epoch_<NNN>.png`` and ``<dirpath>/test.png`` (never overwritten).
    The datamodule must expose ``palette``, ``mean``, ``std`` and ``ignore_index``.

    Args:
        dirpath: folder for the PNG files.
        num_images: how many samples (the first ones of the split) are shown.
        probability_maps: also write ``<name>_probabilities.png``: per sample, the input and one grey-level map
            of the softmax probability of each class (white = 1); and, for a model with
            ``class_activation_maps(images) -> (maps, image_logits)`` (class activation maps, Zhou et al. 2016),
            ``<name>_cam.png``: the input and each class's map as a heat map over it.
    """

    def __init__(self, dirpath: str | Path, num_images: int = 4, probability_maps: bool = False) -> None:
        self.dirpath = Path(dirpath)
        self.num_images = num_images
        self.probability_maps = probability_maps

    def _render(self, trainer: pl.Trainer, pl_module: pl.LightningModule, dataset, name: str) -> None:
        count = min(self.num_images, len(dataset))
        datamodule = trainer.datamodule
        panels, maps, activations = [], [], []
        model = pl_module.model if hasattr(pl_module, "model") else pl_module
        with_activations = self.probability_maps and hasattr(model, "class_activation_maps")
        was_training = pl_module.training
        pl_module.eval()
        try:
            for index in range(count):
                sample = dataset[index]
                image = sample["image"].unsqueeze(0).to(pl_module.device)
                target = sample["mask"].unsqueeze(0)
                with torch.no_grad():
                    probabilities = pl_module.class_probabilities(image, output_size=target.shape[-2:]).cpu()
                shown = resize(image.float(), target.shape[-2:]).cpu()  # the input at the scored resolution
                panels.append(
                    prediction_panels(
                        shown,
                        target,
                        probabilities.argmax(dim=1),
                        datamodule.palette,
                        datamodule.mean,
                        datamodule.std,
                        datamodule.ignore_index,
                    )
                )
                if self.probability_maps:
                    maps.append(probability_panels(shown, probabilities, datamodule.mean, datamodule.std))
                if with_activations:
                    with torch.no_grad():
                        class_maps = resize(model.class_activation_maps(image)[0], target.shape[-2:]).cpu()
                    activations.append(activation_map_panels(shown, class_maps, datamodule.mean, datamodule.std))
        finally:
            pl_module.train(was_training)
        panel = stack_rows(panels)
        save_png(panel, self.dirpath / f"{name}.png")
        log_image_to_loggers(trainer, f"predictions/{name.split('_')[0]}", panel)
        if self.probability_maps:
            save_png(stack_rows(maps), self.dirpath / f"{name}_probabilities.png")
        if with_activations:
            save_png(stack_rows(activations), self.dirpath / f"{name}_cam.png")
