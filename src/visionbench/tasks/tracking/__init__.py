"""Multi-object tracking: the tracking evaluation (no training) and the problem's contract."""

from visionbench.tasks.tracking.contract import TrackingContract
from visionbench.tasks.tracking.evaluation import TrackingEvaluation
from visionbench.tasks.tracking.results import TrackingResults

__all__ = ["TrackingContract", "TrackingEvaluation", "TrackingResults"]
