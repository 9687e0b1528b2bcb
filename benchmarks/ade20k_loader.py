"""ADE20K training-loader throughput: the albumentations pipeline vs the same ops written with plain OpenCV/numpy.

Both variants run inside the same :class:`~visionbench.data.segmentation.ade20k.ADE20KDataset` (same JPEG/PNG decoding,
same checks, same tensor conversion) and the same DataLoader settings; only the transform differs:

- ours: :func:`visionbench.data.segmentation.transforms.segmentation_train_pipeline` (albumentations Compose with the
  custom RandomRescale / CatMaxRatioCrop / PhotoMetricDistortion and the built-in flip, Normalize,
  PadIfNeeded);
- OpenCV: :class:`OpenCVTrainPipeline` below, the same ops with the same parameters as direct cv2/numpy calls
  (cv2.resize, slicing + np.bincount, cv2.flip, cv2.LUT/cvtColor, numpy normalisation, cv2.copyMakeBorder).

The images of ``--root``'s validation split are cycled to ``--samples`` samples. For each worker count, the
two variants alternate for ``--rounds`` rounds; each round builds a DataLoader with persistent workers, runs
one untimed warm-up epoch (worker start-up, caches) and one timed epoch. Before timing, both variants are
run on one random stream and must give the same masks and images (so the reference really does the same
work). Rates are the median over rounds, in
images per second; ``ratio = ours / OpenCV``.

    python benchmarks/ade20k_loader.py [--root tests/fixtures/ade20k/ADEChallengeData2016] [--samples 60]
                                       [--workers 0 1 2] [--batch-size 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from visionbench.data.loaders import seed_worker_pipeline
from visionbench.data.segmentation.ade20k import ADE20KDataset
from visionbench.data.segmentation.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    rescale_size,
    reseed_pipeline,
    segmentation_train_pipeline,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO / "tests" / "fixtures" / "ade20k" / "ADEChallengeData2016"


class OpenCVTrainPipeline:
    """mmsegmentation's ADE20K training pipeline as plain OpenCV/numpy calls (reference for the benchmark).

    Same ops and parameters as :func:`segmentation_train_pipeline` with its defaults: keep-ratio rescale to
    ``(2048, 512) x U(0.5, 2)`` (bilinear / nearest), 512x512 crop with cat_max_ratio 0.75 (10 checks), flip
    0.5, photometric distortion (brightness 32, contrast and saturation 0.5-1.5, hue 18, each p=0.5),
    ImageNet normalisation, bottom/right padding (image 0, mask 255).
    """

    def __init__(self, crop_size=(512, 512), scale=(2048, 512), ratio_range=(0.5, 2.0), cat_max_ratio=0.75,
                 ignore_index=255, seed: int = 0) -> None:  # fmt: skip
        self.crop_size = crop_size
        self.scale = scale
        self.ratio_range = ratio_range
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index
        self.mean = np.array(IMAGENET_MEAN, np.float32) * 255
        self.inv_std = 1.0 / (np.array(IMAGENET_STD, np.float32) * 255)
        self.rng = random.Random(seed)

    def set_random_state(self, random_generator: np.random.Generator, py_random: random.Random) -> None:
        self.rng = py_random

    def _window(self, height: int, width: int) -> tuple[int, int, int, int]:
        top = self.rng.randint(0, max(height - self.crop_size[0], 0))
        left = self.rng.randint(0, max(width - self.crop_size[1], 0))
        return top, top + self.crop_size[0], left, left + self.crop_size[1]

    def _balanced(self, mask: np.ndarray) -> bool:
        counts = np.bincount(mask.ravel(), minlength=256)
        counts[self.ignore_index] = 0
        counts = counts[counts > 0]
        return counts.size > 1 and counts.max() / counts.sum() < self.cat_max_ratio

    @staticmethod
    def _lut(alpha: float, beta: float) -> np.ndarray:
        return np.clip(np.arange(256, dtype=np.float32) * np.float32(alpha) + np.float32(beta), 0, 255).astype(np.uint8)

    def _hsv_op(self, image: np.ndarray, channel: int, table: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        hsv[:, :, channel] = table[hsv[:, :, channel]]
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
        rng = self.rng
        rng.random()  # albumentations' Compose draws its p-coin first: same random sequence as ours
        # keep-ratio random rescale
        ratio = self.ratio_range[0] + (self.ratio_range[1] - self.ratio_range[0]) * rng.random()
        size = rescale_size(image.shape[1], image.shape[0], (int(self.scale[0] * ratio), int(self.scale[1] * ratio)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        # crop with cat_max_ratio
        window = self._window(*mask.shape)
        for _ in range(10):
            if self._balanced(mask[window[0] : window[1], window[2] : window[3]]):
                break
            window = self._window(*mask.shape)
        image = image[window[0] : window[1], window[2] : window[3]]
        mask = mask[window[0] : window[1], window[2] : window[3]]
        # flip
        if rng.random() < 0.5:
            image, mask = cv2.flip(image, 1), cv2.flip(mask, 1)
        # photometric distortion
        if rng.random() < 0.5:
            image = cv2.LUT(image, self._lut(1.0, rng.uniform(-32, 32)))
        contrast_first = rng.random() < 0.5
        contrast = rng.uniform(0.5, 1.5) if rng.random() < 0.5 else None
        if contrast_first and contrast is not None:
            image = cv2.LUT(image, self._lut(contrast, 0.0))
        if rng.random() < 0.5:
            image = self._hsv_op(image, 1, self._lut(rng.uniform(0.5, 1.5), 0.0))
        if rng.random() < 0.5:
            image = self._hsv_op(image, 0, ((np.arange(256) + rng.randint(-18, 17)) % 180).astype(np.uint8))
        if not contrast_first and contrast is not None:
            image = cv2.LUT(image, self._lut(contrast, 0.0))
        # normalise, then pad bottom/right
        image = (image.astype(np.float32) - self.mean) * self.inv_std
        pad_h = max(self.crop_size[0] - image.shape[0], 0)
        pad_w = max(self.crop_size[1] - image.shape[1], 0)
        if pad_h or pad_w:
            image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            mask = cv2.copyMakeBorder(mask, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=self.ignore_index)
        return {"image": image, "mask": mask}


class Cycled(Dataset):
    """``samples`` items cycling over ``dataset`` (``.dataset`` lets the worker seeding find the pipeline)."""

    def __init__(self, dataset: ADE20KDataset, samples: int) -> None:
        self.dataset = dataset
        self.samples = samples

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, index: int):
        return self.dataset[index % len(self.dataset)]


def check_same_outputs(root: Path, split: str, seed: int, samples: int = 12) -> float:
    """Both variants on one seed give the same masks and images (up to float rounding of the normalisation);
    returns the largest image difference."""
    ours = segmentation_train_pipeline(seed=seed)
    opencv = OpenCVTrainPipeline(seed=seed)
    reseed_pipeline(ours, seed)
    reseed_pipeline(opencv, seed)
    dataset = ADE20KDataset(root, split)
    worst = 0.0
    for index in range(samples):
        image, mask = dataset.load(index % len(dataset))
        a, b = ours(image=image, mask=mask), opencv(image=image, mask=mask)
        if not np.array_equal(a["mask"], b["mask"]) or a["image"].shape != b["image"].shape:
            raise AssertionError(f"the OpenCV reference diverges from the pipeline at sample {index}")
        worst = max(worst, float(np.abs(a["image"] - b["image"]).max()))
    if worst > 1e-4:
        raise AssertionError(f"the OpenCV reference's images differ by {worst}")
    return worst


def images_per_second(dataset: Dataset, workers: int, batch_size: int, seed: int) -> float:
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        worker_init_fn=seed_worker_pipeline,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=workers > 0,
    )
    for _ in loader:  # warm-up epoch: worker start-up, file caches
        pass
    start = time.perf_counter()
    count = sum(batch["image"].shape[0] for batch in loader)
    elapsed = time.perf_counter() - start
    del loader
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="ADEChallengeData2016 folder")
    parser.add_argument("--split", default="validation", help="split to read (the fixture has validation only)")
    parser.add_argument("--samples", type=int, default=60, help="samples per epoch (images are cycled)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="DataLoader worker counts")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per worker count (median)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    worst = check_same_outputs(args.root, args.split, args.seed)
    variants = {
        "ours": ADE20KDataset(args.root, args.split, transform=segmentation_train_pipeline(seed=args.seed)),
        "opencv": ADE20KDataset(args.root, args.split, transform=OpenCVTrainPipeline(seed=args.seed)),
    }
    print(
        f"ADE20K train pipeline, {len(variants['ours'])} images of {args.root} cycled to {args.samples} samples, "
        f"batch {args.batch_size}, median of {args.rounds} rounds; torch {torch.__version__}, "
        f"OpenCV {cv2.__version__}, {torch.get_num_threads()} torch threads; both variants give the same "
        f"outputs for one seed (max image difference {worst:.1e})"
    )
    print(f"{'workers':>7} | {'ours img/s':>10} | {'OpenCV img/s':>12} | {'ours/OpenCV':>11}")
    print(f"{'-' * 7}-+-{'-' * 10}-+-{'-' * 12}-+-{'-' * 11}")
    for workers in args.workers:
        rates: dict[str, list[float]] = {name: [] for name in variants}
        for round_index in range(args.rounds):
            order = list(variants) if round_index % 2 == 0 else list(reversed(variants))
            for name in order:
                dataset = Cycled(variants[name], args.samples)
                rates[name].append(images_per_second(dataset, workers, args.batch_size, args.seed + round_index))
        ours, opencv = statistics.median(rates["ours"]), statistics.median(rates["opencv"])
        print(f"{workers:>7} | {ours:>10.1f} | {opencv:>12.1f} | {ours / opencv:>11.3f}", flush=True)


if __name__ == "__main__":
    main()
