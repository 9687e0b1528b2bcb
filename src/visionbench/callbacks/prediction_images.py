"""Write input | ground truth | prediction panels after each evaluation and send them to image loggers."""

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only

from visionbench.viz.segmentation import prediction_panels, probability_panels, save_png


def log_image_to_loggers(trainer: pl.Trainer, key: str, image: np.ndarray) -> None:
    """Send an ``H,W,3`` uint8 image to every attached logger that can show images (TensorBoard, W&B)."""
    for logger in trainer.loggers:
        if hasattr(logger, "log_image"):  # WandbLogger
            logger.log_image(key=key, images=[image], step=trainer.global_step)
        elif hasattr(logger.experiment, "add_image"):  # TensorBoard SummaryWriter
            logger.experiment.add_image(key, image, global_step=trainer.global_step, dataformats="HWC")


class SegmentationPredictionImages(pl.Callback):
    """After every validation epoch and after testing, predict a fixed set of samples and save a panel.

    Predictions are those the task scores (after its evaluation ``postprocess``, e.g. a dense CRF, if any).
    Files: ``<dirpath>/val_epoch_<NNN>.png`` and ``<dirpath>/test.png`` (never overwritten). The datamodule
    must expose ``palette``, ``mean``, ``std`` and ``ignore_index``.

    Args:
        dirpath: folder for the PNG files.
        num_images: how many samples (the first ones of the split) are shown.
        probability_maps: also write ``<name>_probabilities.png``: per sample, the input and one grey-level map
            of the softmax probability of each class (white = 1).
    """

    def __init__(self, dirpath: str | Path, num_images: int = 4, probability_maps: bool = False) -> None:
        self.dirpath = Path(dirpath)
        self.num_images = num_images
        self.probability_maps = probability_maps

    def _render(self, trainer: pl.Trainer, pl_module: pl.LightningModule, dataset, name: str) -> None:
        count = min(self.num_images, len(dataset))
        samples = [dataset[i] for i in range(count)]
        images = torch.stack([sample["image"] for sample in samples]).to(pl_module.device)
        targets = torch.stack([sample["mask"] for sample in samples])
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            probabilities = pl_module.class_probabilities(pl_module(images), images).cpu()
        pl_module.train(was_training)
        datamodule = trainer.datamodule
        panel = prediction_panels(
            images,
            targets,
            probabilities.argmax(dim=1),
            datamodule.palette,
            datamodule.mean,
            datamodule.std,
            datamodule.ignore_index,
        )
        save_png(panel, self.dirpath / f"{name}.png")
        log_image_to_loggers(trainer, f"predictions/{name.split('_')[0]}", panel)
        if self.probability_maps:
            maps = probability_panels(images, probabilities, datamodule.mean, datamodule.std)
            save_png(maps, self.dirpath / f"{name}_probabilities.png")

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        name = f"val_epoch_{trainer.current_epoch:03d}" if trainer.state.fn == "fit" else "val"
        self._render(trainer, pl_module, trainer.val_dataloaders.dataset, name)

    @rank_zero_only
    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._render(trainer, pl_module, trainer.test_dataloaders.dataset, "test")
