"""Semantic segmentation data: ADE20K, the folder dataset, synthetic shapes, the dataset check, transforms."""
