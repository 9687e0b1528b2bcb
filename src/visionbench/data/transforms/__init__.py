"""Transforms and augmentation pipelines (albumentations-based) shared by the dataset readers."""

from visionbench.data.transforms.segmentation import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CatMaxRatioCrop,
    KeepRatioResize,
    PhotoMetricDistortion,
    RandomRescale,
    rescale_size,
    reseed_pipeline,
    segmentation_test_pipeline,
    segmentation_train_pipeline,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CatMaxRatioCrop",
    "KeepRatioResize",
    "PhotoMetricDistortion",
    "RandomRescale",
    "rescale_size",
    "reseed_pipeline",
    "segmentation_test_pipeline",
    "segmentation_train_pipeline",
]
