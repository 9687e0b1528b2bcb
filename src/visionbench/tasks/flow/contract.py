"""The optical-flow problem's contract: no dataset facts, ranked by EPE (min), flat metrics."""

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from visionbench.metrics.flow import flow_scores, resampled_epe
from visionbench.tasks.contract import Headline, ProblemContract, check_counts, smooth_images


class FlowContract(ProblemContract):
    """Optical flow, learned or classical methods alike: ranked by the pixel-pooled end-point error (lower is
    better); the metrics are the flat ``{val,test}/{EPE,px1,px3,px5,Fl}...`` scores the task logs."""

    name = "flow"
    headline = Headline("EPE", "min")
    evaluation_protocol = (*ProblemContract.evaluation_protocol, "model.eval_iters")
    leaderboard_metrics = ("px1", "px3", "px5", "Fl")
    metric_modules = ("visionbench.metrics.flow", "visionbench.metrics.samples")

    def metric_unit(self, metric: str) -> str:
        """End-point errors are in pixels; px1/3/5 and Fl are fractions of the valid pixels."""
        return "px" if metric.startswith("EPE") else "fraction"

    def metrics_from_scores(self, scores: Mapping[str, np.ndarray], split: str) -> dict[str, float]:
        """EPE, px1/3/5, Fl, pooled and per image (and per occlusion region), of the per-pair fields."""
        return {f"{split}/{name}": value for name, value in flow_scores(scores).items()}

    def example_inputs(
        self,
        model: nn.Module,
        batch: int,
        height: int,
        width: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> tuple[Tensor, ...]:
        """``(image1, image2)``, each ``batch,3,height,width`` in [0, 1] (the flow datamodules' range): smooth
        random images and the same images shifted by (2, 1) pixels (x, y)."""
        image1 = smooth_images(batch, height, width)
        image2 = torch.roll(image1, shifts=(1, 2), dims=(2, 3))
        return tuple(image.to(device=device, dtype=dtype) for image in (image1, image2))

    def main_output(self, output: Tensor | Mapping[str, Any]) -> Tensor:
        """The final ``B,2,H,W`` flow (the output itself or the ``flow`` entry of a dict)."""
        from visionbench.tasks.flow.task import final_flow  # the task module imports this one

        return final_flow(output)

    def video_annotator(self, model: nn.Module, datamodule: Any, settings: Any) -> Any:
        """Colour-wheel frames and ``.flo`` files of the flow between consecutive frames
        (:class:`~visionbench.video.flow.FlowAnnotator`)."""
        from visionbench.video.flow import FlowAnnotator  # video I/O is loaded by infer.py only

        settings.refuse_detections(self.name)
        inputs = self.example_inputs(model, settings.batch_size, *settings.input_size, device=settings.device)
        return FlowAnnotator(settings.prepare(model, inputs, self.main_output), settings)

    def resampled_headline(self, scores: Mapping[str, np.ndarray], counts: np.ndarray) -> np.ndarray:
        """Pixel-pooled EPE per resample, vectorised (:func:`~visionbench.metrics.flow.resampled_epe`)."""
        return resampled_epe(scores, check_counts(scores, counts))
