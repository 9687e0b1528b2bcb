"""Optical flow: the task (any learned or classical method) and the problem's contract."""

from visionbench.tasks.flow.contract import FlowContract
from visionbench.tasks.flow.task import FlowTask, final_flow

__all__ = ["FlowContract", "FlowTask", "final_flow"]
