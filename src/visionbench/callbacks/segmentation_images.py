"""Write input | ground truth | prediction panels of segmentation models after each evaluation."""

from pathlib import Path

import pytorch_lightning as pl
import torch

from visionbench.callbacks.base import EvaluationImages, eval_mode, stack_rows
from visionbench.inference import resize
from visionbench.viz.segmentation import activation_map_panels, prediction_panels, probability_panels, save_png


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
        super().__init__(dirpath, num_images)
        self.probability_maps = probability_maps

    def _render(self, trainer: pl.Trainer, pl_module: pl.LightningModule, dataset, name: str) -> None:
        count = min(self.num_images, len(dataset))
        datamodule = trainer.datamodule
        panels, maps, activations = [], [], []
        model = pl_module.model if hasattr(pl_module, "model") else pl_module
        with_activations = self.probability_maps and hasattr(model, "class_activation_maps")
        with eval_mode(pl_module):
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
        self._save_panel(trainer, panels, name)
        if self.probability_maps:
            save_png(stack_rows(maps), self.dirpath / f"{name}_probabilities.png")
        if with_activations:
            save_png(stack_rows(activations), self.dirpath / f"{name}_cam.png")
