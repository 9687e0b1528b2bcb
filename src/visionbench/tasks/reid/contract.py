"""The re-identification problem's contract: the identity count goes to the loss; ranked by mAP (max)."""

from collections.abc import Mapping

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from visionbench.data.image import IMAGENET_MEAN, IMAGENET_STD
from visionbench.metrics.reid import reid_scores
from visionbench.tasks.contract import DatasetFacts, Headline, ProblemContract, smooth_images


class ReidContract(ProblemContract):
    """Person re-identification (DeepSORT's appearance model): the training identities' count goes to the loss,
    which holds one weight per identity, so evaluation (on other identities) builds no loss; ranked by mAP."""

    name = "reid"
    headline = Headline("mAP", "max")
    leaderboard_metrics = ("rank1", "rank5", "rank10")
    metric_modules = ("visionbench.metrics.reid", "visionbench.metrics.samples")
    evaluation_keeps_loss = False

    def dataset_facts(self, datamodule: pl.LightningDataModule) -> DatasetFacts:
        return DatasetFacts(loss={"num_identities": datamodule.num_identities})

    def example_inputs(
        self,
        model: nn.Module,
        batch: int,
        height: int,
        width: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> tuple[Tensor, ...]:
        """One ``batch,3,h,w`` batch of crops normalised with ImageNet's mean and std; ``h, w`` is the network's
        ``input_size`` when it declares one (its dense layer fixes the crop size), else ``height, width``."""
        crop_height, crop_width = getattr(model, "input_size", (height, width))
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        crops = (smooth_images(batch, crop_height, crop_width) - mean) / std
        return (crops.to(device=device, dtype=dtype),)

    def metrics_from_scores(self, scores: Mapping[str, np.ndarray], split: str) -> dict[str, float]:
        """rank-k, mAP and num_queries of the per-query fields (``ap``, ``rank{k}``) of the scored queries."""
        return {f"{split}/{name}": value for name, value in reid_scores(scores).items()}
