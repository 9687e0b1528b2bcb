"""Post-processing of a model's class probabilities at evaluation time (e.g. a dense CRF)."""

from visionbench.postprocess.dense_crf import DenseCRF

__all__ = ["DenseCRF"]
