"""Weakly supervised segmentation: trained with image-level labels, evaluated on the pixel labels."""

from torch import Tensor

from visionbench.tasks.segmentation.task import SegmentationTask


class ImageLabelSegmentationTask(SegmentationTask):
    """:class:`SegmentationTask` whose loss sees only which classes occur in each image.

    The model returns ``{"out": B,C,H,W logits, "image_logits": B,C}`` (e.g.
    :class:`~visionbench.models.segmentation.cam.ClassActivationMapSegmenter`); the loss (e.g.
    :class:`~visionbench.losses.ImageLabelLoss`) is called as ``loss(image_logits, mask)`` and reads from the
    mask only the set of classes present. Evaluation is unchanged: ``out`` is scored against the pixel labels
    with the same metrics as a fully supervised model, so weak and full supervision share one leaderboard.
    Arguments as :class:`SegmentationTask`.
    """

    def _loss(self, output: Tensor | dict[str, Tensor], target: Tensor) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        if not isinstance(output, dict) or "image_logits" not in output or "out" not in output:
            raise KeyError(
                "ImageLabelSegmentationTask needs a model returning {'out': logits, 'image_logits': B,C}; got "
                f"{sorted(output) if isinstance(output, dict) else type(output).__name__}"
            )
        total, terms = self.loss(output["image_logits"], target)
        return total, terms, output["out"]
