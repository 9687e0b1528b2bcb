"""The optical-flow problem's contract: no dataset facts, ranked by EPE (min), flat metrics."""

from collections.abc import Mapping

import numpy as np

from visionbench.metrics.flow import flow_scores, resampled_epe
from visionbench.tasks.contract import Headline, ProblemContract, check_counts


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

    def resampled_headline(self, scores: Mapping[str, np.ndarray], counts: np.ndarray) -> np.ndarray:
        """Pixel-pooled EPE per resample, vectorised (:func:`~visionbench.metrics.flow.resampled_epe`)."""
        return resampled_epe(scores, check_counts(scores, counts))
