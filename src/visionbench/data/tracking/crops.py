"""Person crops as DeepSORT's appearance network sees them, cut the same way for re-identification training and
for tracking: each box widened or narrowed about its centre to the input's aspect ratio (height kept, deep_sort's
rule), clipped to the frame, resized, then normalised with ImageNet statistics."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor

from visionbench.data.image import IMAGENET_MEAN, IMAGENET_STD


def crop_windows(boxes_xyxy: np.ndarray, input_size: Sequence[int]) -> np.ndarray:
    """The image windows :func:`cut_crops` reads: each ``x1, y1, x2, y2`` box widened or narrowed about its
    centre to the aspect ratio ``width / height`` of ``input_size = (height, width)``, height kept (deep_sort's
    rule). ``(N, 4)`` float64, not yet clipped to the image."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    aspect = float(input_size[1]) / float(input_size[0])
    centre_x = (boxes[:, 0] + boxes[:, 2]) / 2
    half_width = aspect * (boxes[:, 3] - boxes[:, 1]) / 2
    return np.stack([centre_x - half_width, boxes[:, 1], centre_x + half_width, boxes[:, 3]], axis=1)


def cut_crops(frame: np.ndarray, boxes_xyxy: np.ndarray, input_size: Sequence[int]) -> np.ndarray:
    """Cut ``(N, height, width, 3)`` uint8 crops of ``boxes_xyxy`` from an ``H,W,3`` uint8 frame.

    Each window (:func:`crop_windows`) is rounded to whole pixels, clipped to the frame and resized to
    ``input_size = (height, width)`` (area interpolation when shrinking, bilinear when enlarging). A window with
    nothing inside the frame gives a mid-grey crop.
    """
    height, width = int(input_size[0]), int(input_size[1])
    windows = crop_windows(boxes_xyxy, input_size)
    crops = np.full((len(windows), height, width, 3), 128, dtype=np.uint8)
    frame_height, frame_width = frame.shape[:2]
    for index, (x1, y1, x2, y2) in enumerate(np.round(windows)):
        left, right = int(np.clip(x1, 0, frame_width)), int(np.clip(x2, 0, frame_width))
        top, bottom = int(np.clip(y1, 0, frame_height)), int(np.clip(y2, 0, frame_height))
        if right <= left or bottom <= top:
            continue
        patch = frame[top:bottom, left:right]
        shrinking = patch.shape[0] > height or patch.shape[1] > width
        crops[index] = cv2.resize(
            patch, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        )
    return crops


def crops_to_tensor(crops: np.ndarray) -> Tensor:
    """``(N, H, W, 3)`` uint8 RGB crops -> ``N,3,H,W`` float32 normalised with ``IMAGENET_MEAN`` / ``IMAGENET_STD``."""
    tensor = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (tensor - mean) / std
