"""A composed config checked against the signatures of its targets: unknown keys and wrongly typed values are
reported in one line before anything is built; what cannot be decided is let through."""

import collections.abc
import os
from pathlib import Path
from typing import Any, Literal, Optional, TypeVar

import pytest
import torch
from omegaconf import OmegaConf

from tests.helpers import compose_config
from visionbench.runner.config_check import check_arguments, closest_key, unknown_key_message
from visionbench.runner.errors import ConfigError
from visionbench.runner.type_hints import describe, fits

SHAPES = "visionbench.data.segmentation.synthetic_shapes.SyntheticShapesDataModule"


def _error(cfg: dict) -> str:
    with pytest.raises(ConfigError) as info:
        check_arguments(OmegaConf.create(cfg))
    return str(info.value)


# ---------------------------------------------------------------------------------------------------- type hints
@pytest.mark.parametrize(
    ("value", "hint", "verdict"),
    [
        (3, int, True), ("abc", int, False), (True, int, False), (2.5, int, False),
        (3, float, True), (2.5, float, True), ("x", float, False), (False, float, False),
        (True, bool, True), (1, bool, False), ("a", str, True), (3, str, False),
        ("runs/x", Path, True), ("runs/x", os.PathLike, True), (3, Path, False),
        (None, Optional[int], True), (None, int, False), ("x", int | None, False), (4, int | None, True),  # noqa: UP045
        ("bf16-mixed", Literal["32-true", "bf16-mixed"], True), (33, Literal[32, 16], False),
        (1, Literal[True], False), ("warn", bool | Literal["warn"] | None, True),
        ([1, 2], list[int], True), ([1, "a"], list[int], False), ("ab", collections.abc.Sequence[str], False),
        ([1, 2], tuple[int, int], True), ([1, 2, 3], tuple[int, int], False), ([0.5, 1.0], tuple[float, ...], True),
        ({"a": 1.0}, dict[str, float], True), ({"a": "x"}, dict[str, float], False), ([1], dict, False),
        # undecidable: objects Hydra builds, classes, type variables, string annotations, unions with those
        ({"_target_": "torch.nn.ReLU"}, int, None), (3, torch.nn.Module, None), ("x", TypeVar("T"), None),
        (3, "int", None), (3, torch.Tensor | None, None), (0.1, float | torch.Tensor, True), ("x", Any, True),
    ],
)  # fmt: skip
def test_fits_decides_only_where_certain(value: Any, hint: Any, verdict: bool | None) -> None:
    assert fits(value, hint) is verdict


def test_describe_reads_like_config_values() -> None:
    assert describe(int | None) == "int | null"
    assert describe(list[int] | str) == "list[int] | str"
    assert describe(bool | Literal["warn"] | None) == "bool | one of 'warn' | null"
    assert describe(Literal[64, 32] | Literal["bf16"] | None) == "one of 64, 32, 'bf16' | null"
    assert describe(tuple[float, ...]) == "tuple[float, ...]"


# ---------------------------------------------------------------------------------------------------- messages
def test_unknown_key_message_names_key_value_and_closest_key() -> None:
    assert closest_key("depthh", ["depth", "base_channels"]) == "depth"
    assert closest_key("xyz", ["depth", "base_channels"]) is None
    message = unknown_key_message("model.depthh", 4, ["_target_", "depth", "base_channels"])
    assert message == "unknown key 'model.depthh' (value 4); did you mean 'model.depth'?"
    message = unknown_key_message("model.xyz", "a", ["_target_", "depth", "base_channels"])
    assert message == "unknown key 'model.xyz' (value 'a'); valid keys of 'model': base_channels, depth"
    assert unknown_key_message("seeed", 1, ["seed", "tags"]) == "unknown key 'seeed' (value 1); did you mean 'seed'?"
    assert (
        unknown_key_message("model.depth.x", 3, [])
        == "unknown key 'model.depth.x' (value 3); 'model.depth' takes no keys"
    )


# ---------------------------------------------------------------------------------------------------- configs
def test_key_the_target_does_not_take_is_reported_with_the_closest_parameter() -> None:
    message = _error({"data": {"_target_": SHAPES, "batch_sizee": 4}})
    assert message == "unknown key 'data.batch_sizee' (value 4); did you mean 'data.batch_size'?"


def test_wrong_type_is_reported_with_the_expected_type() -> None:
    message = _error({"data": {"_target_": SHAPES, "batch_size": "abc"}})
    assert message == f"wrong type for 'data.batch_size': expected int, got 'abc' ({SHAPES})"
    message = _error({"trainer": {"_target_": "pytorch_lightning.Trainer", "max_epochs": "x"}})
    assert message == "wrong type for 'trainer.max_epochs': expected int | null, got 'x' (pytorch_lightning.Trainer)"


def test_nested_targets_and_lists_of_targets_are_checked_with_their_paths() -> None:
    cfg = {"callbacks": {"all": [{"_target_": "pytorch_lightning.callbacks.ModelCheckpoint", "save_lastt": True}]}}
    message = _error(cfg)
    assert message == "unknown key 'callbacks.all.0.save_lastt' (value True); did you mean 'callbacks.all.0.save_last'?"


def test_what_cannot_be_decided_is_let_through() -> None:
    check_arguments(
        OmegaConf.create(
            {
                "partial_optimizer": {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 0.001},
                "knobs": {"_target_": "visionbench.data.tracking.synthetic_mot.SyntheticMOT", "any_knob": 1},
                "not_importable": {"_target_": "no.such.module.Thing", "x": 1},
                "unresolved": {"_target_": SHAPES, "batch_size": "${no_such_key}"},
                "missing": {"_target_": SHAPES, "batch_size": "???"},
                "plain": {"not_a_target": "abc"},
            }
        )
    )


def test_a_value_given_by_interpolation_is_checked_resolved() -> None:
    message = _error({"size": "abc", "data": {"_target_": SHAPES, "batch_size": "${size}"}})
    assert message.startswith("wrong type for 'data.batch_size': expected int, got 'abc'")


@pytest.mark.parametrize("task", ["segmentation", "flow", "reid", "tracking"])
def test_default_configs_of_every_task_pass(task: str, tmp_path: Path) -> None:
    check_arguments(compose_config("train" if task != "tracking" else "evaluate", [f"task={task}"], tmp_path))
