"""Write frame 1 | ground truth | prediction | error panels of flow methods after each evaluation."""

import pytorch_lightning as pl
import torch

from visionbench.callbacks.base import EvaluationImages, eval_mode
from visionbench.viz.flow import flow_panels


class FlowPredictionImages(EvaluationImages):
    """After every validation epoch and after testing, predict the first ``num_images`` samples and save one
    row per sample under column titles (:func:`~visionbench.viz.flow.flow_panels`): frame 1 | ground-truth flow |
    predicted flow (Middlebury colour wheel, one scale per row) | end-point-error map | key (the colour wheel with
    its magnitude and the error scale in pixels); small samples are enlarged to a readable size. Samples are
    predicted one at a time, so they may differ in size. Files:
    ``<dirpath>/val_epoch_<NNN>.png``, ``<dirpath>/val.png``, ``<dirpath>/test.png`` (never overwritten); the
    panel is also sent to TensorBoard / W&B.

    Args:
        dirpath: folder for the PNG files.
        num_images: how many samples (the first ones of the split) are shown.
    """

    def _render(self, trainer: pl.Trainer, pl_module: pl.LightningModule, dataset, name: str) -> None:
        samples, predictions = [], []
        with eval_mode(pl_module):
            for index in range(min(self.num_images, len(dataset))):
                sample = dataset[index]
                image1, image2 = (sample[key].unsqueeze(0).to(pl_module.device) for key in ("image1", "image2"))
                with torch.no_grad():
                    predictions.append(pl_module(image1, image2)[0].cpu())
                samples.append(sample)
        images, flows, valids = ([sample[key] for sample in samples] for key in ("image1", "flow", "valid"))
        self._save_panel(trainer, flow_panels(images, flows, predictions, valids), name)
