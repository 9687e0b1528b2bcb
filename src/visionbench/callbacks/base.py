"""The base of the prediction-panel callbacks and the helpers they share: sending an image to the loggers and
predicting in eval mode."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_only

from visionbench.viz.segmentation import save_png


def log_image_to_loggers(trainer: pl.Trainer, key: str, image: np.ndarray) -> None:
    """Send an ``H,W,3`` uint8 image to every attached logger that can show images (TensorBoard, W&B)."""
    for logger in trainer.loggers:
        if hasattr(logger, "log_image"):  # WandbLogger
            logger.log_image(key=key, images=[image], step=trainer.global_step)
        elif hasattr(logger.experiment, "add_image"):  # TensorBoard SummaryWriter
            logger.experiment.add_image(key, image, global_step=trainer.global_step, dataformats="HWC")


@contextmanager
def eval_mode(module: pl.LightningModule) -> Iterator[None]:
    """``module`` in eval mode inside the block, back in its previous mode after it (also on error)."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class EvaluationImages(pl.Callback):
    """Base of the prediction-panel callbacks: after every validation epoch (``val_epoch_<NNN>``, or ``val``
    outside fitting) and after testing (``test``), ``_render`` predicts the first ``num_images`` samples of the
    split and saves a panel (:meth:`_save_panel`); on rank zero only; nothing with ``num_images`` 0.

    Args:
        dirpath: folder for the PNG files.
        num_images: how many samples (the first ones of the split) are shown.
    """

    def __init__(self, dirpath: str | Path, num_images: int = 4) -> None:
        self.dirpath = Path(dirpath)
        self.num_images = num_images

    def _render(self, trainer: pl.Trainer, pl_module: pl.LightningModule, dataset, name: str) -> None:
        raise NotImplementedError

    def _save_panel(self, trainer: pl.Trainer, panel: np.ndarray, name: str) -> None:
        """Write ``panel`` to ``<dirpath>/<name>.png`` and send it to the image loggers."""
        save_png(panel, self.dirpath / f"{name}.png")
        log_image_to_loggers(trainer, f"predictions/{name.split('_')[0]}", panel)

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        name = f"val_epoch_{trainer.current_epoch:03d}" if trainer.state.fn == "fit" else "val"
        self._render_split(trainer, pl_module, trainer.val_dataloaders.dataset, name)

    @rank_zero_only
    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._render_split(trainer, pl_module, trainer.test_dataloaders.dataset, "test")

    def _render_split(self, trainer: pl.Trainer, pl_module: pl.LightningModule, dataset, name: str) -> None:
        """:meth:`_render`, unless there is nothing to show (``num_images`` 0 or an empty split)."""
        if min(self.num_images, len(dataset)) > 0:
            self._render(trainer, pl_module, dataset, name)
