"""The problem contract: every task config names a class that declares one, its headline agrees with the task's
checkpoint monitor, and the runner reads it instead of naming problems."""

import math
import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import CONF, REPO, compose_config
from visionbench.tasks.contract import DatasetFacts, Headline, ProblemContract, problem_contract

TASKS = sorted(path.stem for path in (CONF / "task").glob("*.yaml"))


def test_every_problem_of_the_config_tree_is_found() -> None:
    assert {"segmentation", "image_label_segmentation", "flow", "reid", "tracking"} <= set(TASKS)


@pytest.mark.parametrize("task", TASKS)
def test_each_task_declares_a_contract_whose_headline_the_checkpoint_monitors(task: str, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"task={task}"], tmp_path)
    contract = problem_contract(cfg)
    assert isinstance(contract, ProblemContract) and contract.name in task
    if contract.trains:  # the checkpoint kept and the value returned to sweepers are the headline score
        assert cfg.monitor.metric == contract.headline.key("val")
        assert cfg.monitor.mode == contract.headline.direction
        assert cfg.optimized_metric == contract.headline.key("val")


def test_headline_direction() -> None:
    miou, epe = Headline("mIoU", "max"), Headline("EPE", "min")
    assert miou.key("test") == "test/mIoU"
    assert miou.is_better(0.6, 0.5) and not miou.is_better(0.4, 0.5)
    assert epe.is_better(1.0, 2.0) and not epe.is_better(3.0, 2.0)
    assert miou.is_better(0.1, math.nan) and not miou.is_better(math.nan, 0.1)


def test_a_config_without_a_task_or_a_class_without_contract_is_refused() -> None:
    with pytest.raises(ValueError, match="no task._target_"):
        problem_contract(OmegaConf.create({"model": {}}))
    with pytest.raises(TypeError, match="collections.OrderedDict declares no problem contract"):
        problem_contract(OmegaConf.create({"task": {"_target_": "collections.OrderedDict"}}))


def test_defaults_describe_a_lightning_problem_without_facts() -> None:
    contract = ProblemContract()
    assert contract.trains and not contract.runs_own_evaluation
    assert contract.dataset_facts(object()) == DatasetFacts()
    scores = contract.flat_metrics({"val/EPE": 1.5, "val/loss": 2.0, "train/loss": 3.0, "test/px1": 0.5}, None)
    assert scores == {"val/EPE": 1.5, "test/px1": 0.5}
    with pytest.raises(ValueError, match="postprocess= apply to segmentation"):
        contract.evaluation_arguments(OmegaConf.create({"postprocess": {"_target_": "x"}}), None)
    with pytest.raises(NotImplementedError):
        contract.evaluate(OmegaConf.create({}), Path("."))


def test_the_runner_names_no_problem_and_probes_no_object() -> None:
    """The runner reads the contract: no problem-picking branch, no attribute probing (issue 12)."""
    runner = REPO / "src" / "visionbench" / "runner"
    code = {path.name: path.read_text() for path in runner.glob("*.py") if path.name != "check_dataset.py"}
    for name, text in code.items():
        assert not re.search(r"\bhasattr\(|is_tracking|HEADLINE_METRICS|num_classes|num_identities", text), name
        assert not re.search(r"^\s*(if|elif)\b.*\b(segmentation|flow|tracking|reid)\b", text, re.M), name
