"""Networks that misbehave inside a benchmark worker process (built there from their ``_target_``)."""

import os
import time

import torch
from torch import nn


class CrashingNet(nn.Module):
    """Ends its process in the forward pass at batch 2 (as a segmentation fault would)."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, num_classes, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[0] == 2:
            os._exit(3)
        return self.conv(images)


class HangingNet(CrashingNet):
    """Never returns from its first forward pass at batch 2 (a call that does not end)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[0] == 2:
            time.sleep(3600)
        return self.conv(images)
