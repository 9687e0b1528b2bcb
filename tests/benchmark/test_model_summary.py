"""Lightning's model summary reports FLOPs: the tasks carry an example input from their problem's contract."""

import pytest
from pytorch_lightning.utilities.model_summary import ModelSummary

from tests.helpers import TINY_RAFT, TINY_UNET
from tests.helpers.models import compose_model
from visionbench.runner.builders import build_model
from visionbench.tasks import FlowTask, SegmentationTask
from visionbench.tasks.contract import SUMMARY_SIZE


@pytest.mark.parametrize(
    ("task_class", "problem", "name", "overrides", "facts"),
    [
        (SegmentationTask, "segmentation", "unet", TINY_UNET, {"num_classes": 3}),
        (FlowTask, "flow", "raft_small", TINY_RAFT, {}),
    ],
)
def test_model_summary_counts_the_flops_of_the_example_input(task_class, problem, name, overrides, facts) -> None:
    model = build_model(compose_model(problem, name, overrides), **facts)
    task = task_class(model=model, loss=None, optimizer=None, scheduler=None, **facts)
    assert all(tuple(x.shape[-2:]) == SUMMARY_SIZE for x in task.example_input_array)
    summary = ModelSummary(task, max_depth=1)
    assert summary.total_flops > 0
    assert task.training  # the summary's eval-mode forward leaves the task as it found it
