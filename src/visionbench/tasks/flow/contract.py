"""The optical-flow problem's contract: no dataset facts, ranked by EPE (min), flat metrics."""

from visionbench.tasks.contract import Headline, ProblemContract


class FlowContract(ProblemContract):
    """Optical flow, learned or classical methods alike: ranked by the pixel-pooled end-point error (lower is
    better); the metrics are the flat ``{val,test}/{EPE,px1,px3,px5,Fl}...`` scores the task logs."""

    name = "flow"
    headline = Headline("EPE", "min")
