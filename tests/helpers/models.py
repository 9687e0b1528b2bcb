"""The model configs of each problem, for the per-family contract tests: every ``conf/model/<problem>/*.yaml`` is
found by a glob (a new YAML is tested without editing a list) and composed as a run composes it."""

import copy
from collections.abc import Sequence
from functools import cache

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from tests.helpers import CONF
from visionbench.runner.builders import split_weights


def model_config_names(problem: str) -> list[str]:
    """The names ``<name>`` of ``conf/model/<problem>/<name>.yaml``, sorted: every model ``model=<problem>/<name>``
    can select."""
    return sorted(path.stem for path in (CONF / "model" / problem).glob("*.yaml"))


@cache
def _compose_model(problem: str, name: str, overrides: tuple[str, ...]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={problem}/{name}", "model_size=small", *overrides])
    return split_weights(cfg.model)[0]


def compose_model(problem: str, name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The ``model`` node of ``conf/train.yaml`` composed with ``model=<problem>/<name>``, ``model_size=small`` (its
    override from ``conf/model_size_overrides/small``, if any) and ``overrides`` (``model.<key>=<value>``), without the
    runner's ``weights`` key (as :func:`~visionbench.runner.builders.build_model` instantiates it)."""
    return copy.deepcopy(_compose_model(problem, name, tuple(overrides)))


def main_output(output: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
    """A segmentation model's logits: the output itself, or its ``"out"`` entry when it also returns others."""
    return output["out"] if isinstance(output, dict) else output


def num_parameters(module: torch.nn.Module) -> int:
    """The number of parameter values of ``module``."""
    return sum(p.numel() for p in module.parameters())
