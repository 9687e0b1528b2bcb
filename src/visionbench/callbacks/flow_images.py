"""Write frame 1 | ground truth | prediction | error panels of flow methods after each evaluation."""

from pathlib import Path

import pytorch_lightning as pl
import torch

from visionbench.callbacks.prediction_images import EvaluationImages, log_image_to_loggers, stack_rows
from visionbench.viz.flow import flow_panel
from visionbench.viz.segmentation import save_png


class FlowPredictionImages(EvaluationImages):
    """After every validation epoch and after testing, predict the first ``num_images`` samples and save one
    row per sample: frame 1 | ground-truth flow | predicted flow (Middlebury colour wheel, one scale per row) |
    end-point-error map. Samples are predicted one at a time, so they may differ in size. Files:
    ``<dirpath>/val_epoch_<NNN>.png``, ``<dirpath>/val.png``, ``<dirpath>/test.png`` (never overwritten); the
    panel is also sent to TensorBoard / W&B.

    Args:
        dirpath: folder for the PNG files.
        num_images: how many samples (the first ones of the split) are shown.
    """

    def __init__(self, dirpath: str | Path, num_images: int = 4) -> None:
        self.dirpath = Path(dirpath)
        self.num_images = num_images

    def _render(self, trainer: pl.Trainer, pl_module: pl.LightningModule, dataset, name: str) -> None:
        rows = []
        was_training = pl_module.training
        pl_module.eval()
        try:
            for index in range(min(self.num_images, len(dataset))):
                sample = dataset[index]
                image1, image2 = (sample[key].unsqueeze(0).to(pl_module.device) for key in ("image1", "image2"))
                with torch.no_grad():
                    prediction = pl_module(image1, image2)[0].cpu()
                rows.append(flow_panel(sample["image1"], sample["flow"], prediction, sample["valid"]))
        finally:
            pl_module.train(was_training)
        panel = stack_rows(rows)
        save_png(panel, self.dirpath / f"{name}.png")
        log_image_to_loggers(trainer, f"predictions/{name.split('_')[0]}", panel)
