"""DeepSORT's appearance descriptor: a small residual CNN that maps a person crop to a unit-length embedding.

The network follows the one deep_sort ships (Wojke and Bewley 2018, "Deep Cosine Metric Learning for Person
Re-identification", trained with the cosine-softmax loss of :mod:`visionbench.losses.cosine_softmax`): two 3x3
convolutions, a 3x3 max-pool with stride 2, six pre-activation residual blocks (width w, w, 2w with stride 2, 2w,
4w with stride 2, 4w; w = 32 in the paper), a dense layer, batch normalisation and L2 normalisation. Inputs are
128x64 (height x width) RGB crops in the paper; :class:`AppearanceNet` takes any size divisible by 8.

Crops are cut the same way for training (:mod:`visionbench.data.tracking.reid`) and for tracking
(:class:`AppearanceEncoder`) by :mod:`visionbench.data.tracking.crops`: each box is widened or narrowed about its
centre to the input's aspect ratio (its height is kept), clipped to the image, resized, and normalised with ImageNet
statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from visionbench.data.tracking.crops import crops_to_tensor, cut_crops

CHECKPOINT_KEY = "appearance_net"
"""Key of a reid-task checkpoint holding the network's constructor arguments (:meth:`AppearanceNet.config`)."""


def _conv_bn_elu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ELU()
    )


class ResidualBlock(nn.Module):
    """Pre-activation residual block: ``x + conv(dropout(elu(bn(conv(elu(bn(x)))))))``.

    The shortcut is a 1x1 convolution with the block's stride where the shape changes, the identity otherwise.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        stride: stride of the first convolution (and of the projection shortcut).
        preactivate: apply batch norm + ELU to the input of the residual branch; False for a block that follows
            a layer which already ends in them (deep_sort's first block after the stem).
        dropout: dropout probability between the two convolutions.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, preactivate: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.preactivation = nn.Sequential(nn.BatchNorm2d(in_channels), nn.ELU()) if preactivate else nn.Identity()
        self.branch = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ELU(),
            nn.Dropout(dropout),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        )
        reshapes = stride != 1 or in_channels != out_channels
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False) if reshapes else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.branch(self.preactivation(x))


class AppearanceNet(nn.Module):
    """The DeepSORT appearance CNN (Wojke and Bewley 2018): crops in, L2-normalised embeddings out.

    ``forward(crops)`` takes ``B,3,H,W`` float crops normalised with ImageNet statistics
    (:func:`~visionbench.data.tracking.crops.crops_to_tensor`) and returns ``B,embedding_dim`` embeddings of unit L2
    norm. With the defaults this is the paper's 2.8M-parameter network on 128x64 crops.

    Args:
        width: channels of the stem and the first residual stage (the later stages have 2x and 4x); paper 32.
        embedding_dim: length of the output embedding; paper 128.
        input_size: ``(height, width)`` of the crops, each divisible by 8 (the dense layer's input depends on
            it); paper ``(128, 64)``.
        dropout: dropout probability inside the residual blocks and before the dense layer (deep_sort keeps 60%
            of the activations, i.e. 0.4).
    """

    def __init__(
        self,
        width: int = 32,
        embedding_dim: int = 128,
        input_size: Sequence[int] = (128, 64),
        dropout: float = 0.4,
    ) -> None:
        super().__init__()
        height, crop_width = (int(value) for value in input_size)
        if height <= 0 or crop_width <= 0 or height % 8 or crop_width % 8:
            raise ValueError(f"input_size must be two positive multiples of 8 (height, width), got {input_size}")
        if int(width) <= 0 or int(embedding_dim) <= 0:
            raise ValueError(f"width and embedding_dim must be positive, got {width}, {embedding_dim}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.width = int(width)
        self.embedding_dim = int(embedding_dim)
        self.input_size = (height, crop_width)
        self.dropout = float(dropout)
        w = self.width
        self.stem = nn.Sequential(
            _conv_bn_elu(3, w), _conv_bn_elu(w, w), nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        )
        self.stages = nn.Sequential(
            ResidualBlock(w, w, preactivate=False, dropout=dropout),
            ResidualBlock(w, w, dropout=dropout),
            ResidualBlock(w, 2 * w, stride=2, dropout=dropout),
            ResidualBlock(2 * w, 2 * w, dropout=dropout),
            ResidualBlock(2 * w, 4 * w, stride=2, dropout=dropout),
            ResidualBlock(4 * w, 4 * w, dropout=dropout),
        )
        features = 4 * w * (height // 8) * (crop_width // 8)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(features, self.embedding_dim, bias=False),
            nn.BatchNorm1d(self.embedding_dim),
            nn.ELU(),
            nn.BatchNorm1d(self.embedding_dim),
        )

    def config(self) -> dict[str, Any]:
        """The constructor arguments (plain values), e.g. to store beside the weights in a checkpoint."""
        return {
            "width": self.width,
            "embedding_dim": self.embedding_dim,
            "input_size": list(self.input_size),
            "dropout": self.dropout,
        }

    def forward(self, crops: Tensor) -> Tensor:
        if crops.ndim != 4 or crops.shape[1] != 3 or tuple(crops.shape[2:]) != self.input_size:
            raise ValueError(f"expected crops B,3,{self.input_size[0]},{self.input_size[1]}, got {tuple(crops.shape)}")
        return F.normalize(self.head(self.stages(self.stem(crops))), dim=1)


class AppearanceEncoder:
    """Appearance features for a tracker: ``encoder(frame, boxes_xyxy) -> (N, D)`` float32 unit-norm embeddings.

    ``frame`` is an ``H,W,3`` uint8 RGB image and ``boxes_xyxy`` an ``(N, 4)`` array of ``x1, y1, x2, y2`` pixel
    boxes; crops are cut with ``cut_crops`` (widened to the network's aspect ratio, clipped to the frame),
    normalised like training and passed through the network in eval mode without gradients, ``batch_size`` at a
    time. No boxes give a ``(0, D)`` array.

    Args:
        network: a trained :class:`AppearanceNet` (put in eval mode and moved to ``device``).
        batch_size: crops per forward pass.
        device: torch device of the network.
    """

    def __init__(self, network: AppearanceNet, batch_size: int = 64, device: str | torch.device = "cpu") -> None:
        if int(batch_size) <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.batch_size = int(batch_size)

    @property
    def embedding_dim(self) -> int:
        return self.network.embedding_dim

    @property
    def input_size(self) -> tuple[int, int]:
        return self.network.input_size

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, batch_size: int = 64, device: str | torch.device = "cpu", **network_args: Any
    ) -> AppearanceEncoder:
        """The encoder of a reid-task Lightning checkpoint (``train.py task=reid``), or of the best checkpoint of
        such a run when ``path`` is its run directory.

        The network is rebuilt from the constructor arguments the task stores in the checkpoint
        (:data:`CHECKPOINT_KEY`); ``network_args`` override them (needed only for checkpoints without them). The
        weights are the ``model.*`` entries of its ``state_dict`` (a bare network ``state_dict`` works too).
        """
        from visionbench.utils.checkpoints import load_state_dict_checked, read_checkpoint, resolve_checkpoint

        if Path(path).is_dir():  # a training run directory: its best checkpoint
            path, _ = resolve_checkpoint(str(path), None)
        checkpoint = read_checkpoint(path)
        arguments = {**checkpoint.get(CHECKPOINT_KEY, {}), **network_args}
        state = checkpoint.get("state_dict", checkpoint)
        if any(key.startswith("model.") for key in state):
            state = {key[len("model.") :]: value for key, value in state.items() if key.startswith("model.")}
        network = AppearanceNet(**arguments)
        load_state_dict_checked(network, state, str(path))
        return cls(network, batch_size=batch_size, device=device)

    @torch.no_grad()
    def __call__(self, frame: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be an H,W,3 uint8 RGB image, got {frame.shape} {frame.dtype}")
        boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        features = np.zeros((len(boxes), self.embedding_dim), dtype=np.float32)
        if self.network.training:
            self.network.eval()
        for start in range(0, len(boxes), self.batch_size):
            crops = cut_crops(frame, boxes[start : start + self.batch_size], self.input_size)
            embeddings = self.network(crops_to_tensor(crops).to(self.device))
            features[start : start + len(crops)] = embeddings.float().cpu().numpy()
        return features
