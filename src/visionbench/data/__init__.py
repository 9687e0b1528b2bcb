"""Datasets, LightningDataModules, readers, transforms and synthetic generators."""
