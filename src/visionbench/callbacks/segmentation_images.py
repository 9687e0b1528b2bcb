"""Write input | ground truth | prediction panels of segmentation models after each evaluation."""

from pathlib import Path

import pytorch_lightning as pl
import torch

from visionbench.callbacks.base import EvaluationImages, eval_mode
from visionbench.inference import resize
from visionbench.viz.segmentation import activation_map_panels, prediction_panels, probability_panels, save_png


class SegmentationPredictionImages(EvaluationImages):
    """After every validation epoch and after testing, predict a fixed set of samples and save a panel.

    Predictions are those the task scores (``class_probabilities``: its inference mode, then its evaluation
    ``postprocess``, e.g. a dense CRF, if any), at the ground truth's resolution; when a sample's image has
    another size than its mask (e.g. ADE20K's test pipeline), the input is shown bilinearly resized to the
    mask's size. Samples are predicted one at a time, so they may differ in size (narrower rows are padded
    with white). Panels have column titles and a legend of the classes shown (the datamodule's ``class_names`` if
    it has them); samples smaller than 192 px are enlarged (:func:`~visionbench.viz.segmentation.prediction_panels`).
    Files: ``<dirpath>/val_epoch_<NNN>.png`` and ``<dirpath>/test.png`` (never overwritten).
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
        shown, targets, probabilities, activations = [], [], [], []
        model = pl_module.model if hasattr(pl_module, "model") else pl_module
        with_activations = self.probability_maps and hasattr(model, "class_activation_maps")
        with eval_mode(pl_module):
            for index in range(count):
                sample = dataset[index]
                image = sample["image"].unsqueeze(0).to(pl_module.device)
                size = sample["mask"].shape[-2:]
                with torch.no_grad():
                    probabilities.append(pl_module.class_probabilities(image, output_size=size)[0].cpu())
                    if with_activations:
                        activations.append(resize(model.class_activation_maps(image)[0], size)[0].cpu())
                shown.append(resize(image.float(), size)[0].cpu())  # the input at the scored resolution
                targets.append(sample["mask"])
        mean, std = datamodule.mean, datamodule.std
        class_names = getattr(datamodule, "class_names", None)
        predictions = [p.argmax(dim=0) for p in probabilities]
        panel = prediction_panels(shown, targets, predictions, datamodule.palette, mean, std, datamodule.ignore_index,
                                  class_names=class_names)  # fmt: skip
        self._save_panel(trainer, panel, name)
        if self.probability_maps:
            maps = probability_panels(shown, probabilities, mean, std, class_names=class_names)
            save_png(maps, self.dirpath / f"{name}_probabilities.png")
        if with_activations:
            cams = activation_map_panels(shown, activations, mean, std, class_names=class_names)
            save_png(cams, self.dirpath / f"{name}_cam.png")
