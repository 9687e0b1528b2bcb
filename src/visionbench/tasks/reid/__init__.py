"""Person re-identification: the task training DeepSORT's appearance network and the problem's contract."""

from visionbench.tasks.reid.contract import ReidContract
from visionbench.tasks.reid.task import ReidTask

__all__ = ["ReidContract", "ReidTask"]
