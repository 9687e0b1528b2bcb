"""``model.weights=<file>`` through the entry points: every model config declares the key and the config check takes
it; train.py starts from the weights (fine-tuning), evaluate.py scores a network with them and no checkpoint and
records the file and its sha256; a missing file, an unreadable file and a file of another model each fail with one
error naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.helpers import CONF, TINY_FLOW_DATA, TINY_RAFT, compose_config
from visionbench.models.published import file_sha256
from visionbench.runner.builders import build_model
from visionbench.runner.config_check import check_arguments
from visionbench.runner.errors import ConfigError
from visionbench.runner.evaluate import evaluate
from visionbench.runner.train import train

TINY_FLOW = ["task=flow", *TINY_FLOW_DATA, *TINY_RAFT]
"""RAFT-small at a quarter of its width on 32x32 synthetic pairs (train.py and evaluate.py compose the same model)."""
BUILT_BY_THE_RUNNER = sorted(
    f"{path.parent.name}/{path.stem}"
    for path in (CONF / "model").glob("*/*.yaml")
    if path.parent.name != "tracking" or path.stem == "appearance"
)
"""Every model config the runner builds (the trackers, built by the tracking evaluation, have no weights)."""

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def run_dir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny RAFT-small of :data:`TINY_FLOW` with its own weights (seed 7), saved as a safetensors file."""
    cfg = compose_config("train", TINY_FLOW, tmp_path_factory.mktemp("compose"))
    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("weights") / "raft_small_tiny.safetensors"
    save_file(build_model(cfg.model).state_dict(), path)
    return path


@pytest.mark.parametrize("model", BUILT_BY_THE_RUNNER)
def test_every_model_config_declares_weights(model: str, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"model={model}", "model.weights=/x/released.pth"], tmp_path)
    check_arguments(cfg)  # the runner's key passes the check of the model's signature


def test_config_check_types_model_weights(tmp_path: Path) -> None:
    cfg = compose_config("train", ["task=flow", "model.weights=3"], tmp_path)
    with pytest.raises(ConfigError, match=r"wrong type for 'model\.weights': expected str \| null, got 3"):
        check_arguments(cfg)


def test_train_starts_from_the_weights_and_evaluate_scores_them(
    tiny_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """train.py (without fitting) and evaluate.py (no checkpoint) score the same weights identically; without them
    train.py scores other (random) weights. evaluate.py names the file and its sha256 in source.json and its summary."""
    weights = f"model.weights={tiny_weights}"
    loaded = run_dir(tmp_path, "train_loaded")
    train(compose_config("train", [*TINY_FLOW, weights, "train=false", "test=false"], loaded))
    fresh = run_dir(tmp_path, "train_fresh")
    train(compose_config("train", [*TINY_FLOW, "train=false", "test=false"], fresh))
    scored = run_dir(tmp_path, "eval")
    evaluate(compose_config("evaluate", [*TINY_FLOW, "model=flow/raft_small", "model_size=small", weights], scored))

    epe = _json(loaded / "metrics.json")["val/EPE"]
    assert _json(scored / "metrics.json")["val/EPE"] == pytest.approx(epe, abs=1e-6)
    assert _json(fresh / "metrics.json")["val/EPE"] != pytest.approx(epe, abs=1e-3)
    assert f"weights: {tiny_weights}" in (loaded / "config.yaml").read_text()
    record = _json(scored / "source.json")["model_weights"]
    assert record == {"path": str(tiny_weights.resolve()), "sha256": file_sha256(tiny_weights)}
    assert record["sha256"].startswith("sha256:") and len(record["sha256"]) == 7 + 64
    printed = capsys.readouterr().out
    assert record["path"] in printed and record["sha256"] in printed


def test_fine_tuned_run_evaluates_from_its_checkpoint_alone(tiny_weights: Path, tmp_path: Path) -> None:
    """train.py fits from the weights; the run's checkpoint then holds every weight, so evaluating the run no longer
    reads the weights file (here moved away)."""
    weights = tmp_path / "moved_later.safetensors"
    weights.write_bytes(tiny_weights.read_bytes())
    run = run_dir(tmp_path, "run")
    train(compose_config("train", [*TINY_FLOW, f"model.weights={weights}", "test=false"], run))
    weights.unlink()
    scored = run_dir(tmp_path, "eval")
    evaluate(compose_config("evaluate", [f"run_dir={run}"], scored))
    assert _json(scored / "metrics.json")["val/EPE"] == pytest.approx(_json(run / "metrics.json")["val/EPE"], abs=1e-4)
    assert _json(scored / "source.json")["model_weights"] is None


def _evaluate_with(weights: Path, tmp_path: Path, model: str = "flow/raft_small") -> None:
    overrides = [*TINY_FLOW, f"model={model}", "model_size=small", f"model.weights={weights}"]
    if model != "flow/raft_small":
        overrides = [item for item in overrides if not item.startswith("model.") or item.startswith("model.weights")]
    evaluate(compose_config("evaluate", overrides, run_dir(tmp_path, "eval")))


def test_missing_weights_file_is_one_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^model\.weights: no such file: .*absent\.pth$"):
        _evaluate_with(tmp_path / "absent.pth", tmp_path)


def test_unreadable_weights_file_is_one_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(ConfigError, match=r"model\.weights: .*notes\.pth cannot be read by torch\.load"):
        _evaluate_with(path, tmp_path)


def test_weights_of_another_model_are_one_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "segmenter.pth"
    torch.save({"backbone.conv1.weight": torch.zeros(8, 3, 7, 7), "classifier.4.bias": torch.zeros(21)}, path)
    with pytest.raises(ConfigError, match=r"segmenter\.pth: the keys are neither RAFTSmall's own nor .*backbone"):
        _evaluate_with(path, tmp_path)


def test_method_without_weights_refuses_a_weights_file(tiny_weights: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"raft_small_tiny\.safetensors: DIS has no weights to load"):
        _evaluate_with(tiny_weights, tmp_path, model="flow/dis")
