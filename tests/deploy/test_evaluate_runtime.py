"""evaluate.py with ``runtime=onnxruntime`` on a tiny trained run: the same metrics as eager, the exported model in
the evaluate run directory, the runtime recorded; clear errors for a corrupt model file, an unknown runtime, and a
runtime for a problem that runs its own evaluation."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import REPO, TINY, compose_config, subprocess_env
from visionbench.deploy.onnx import OnnxModelError
from visionbench.runner.evaluate import evaluate
from visionbench.runner.train import train

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("train") / "run"
    run.mkdir()
    train(compose_config("train", TINY, run))
    return run


def evaluate_in(directory: Path, overrides: list[str]) -> Path:
    directory.mkdir()
    evaluate(compose_config("evaluate", ["num_prediction_images=1", *overrides], directory))
    return directory


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_onnxruntime_evaluation_equals_eager_and_records_the_runtime(trained_run: Path, tmp_path: Path) -> None:
    eager = evaluate_in(tmp_path / "eager", [f"run_dir={trained_run}", "runtime=eager"])
    deployed = evaluate_in(tmp_path / "onnxruntime", [f"run_dir={trained_run}", "runtime=onnxruntime"])
    eager_metrics, deployed_metrics = read_json(eager / "metrics.json"), read_json(deployed / "metrics.json")
    assert set(eager_metrics) == set(deployed_metrics)
    assert "val/mIoU" in eager_metrics
    for key, value in eager_metrics.items():
        assert abs(deployed_metrics[key] - value) <= TOLERANCE, key
    assert (deployed / "model.onnx").is_file()
    assert not (eager / "model.onnx").exists()
    runtime = read_json(deployed / "source.json")["runtime"]
    assert runtime["name"] == "onnxruntime"
    assert runtime["model_file"] == str(deployed / "model.onnx")
    assert read_json(eager / "source.json")["runtime"] == {"name": "eager"}
    config = OmegaConf.load(deployed / "config.yaml")
    assert config.evaluation.runtime._target_ == "visionbench.deploy.runtime.OnnxRuntime"
    parameters = read_json(eager / "env.json")["model_parameters"]
    assert parameters > 0
    assert read_json(deployed / "env.json")["model_parameters"] == parameters  # the model's, not the session's


def test_a_corrupt_onnx_file_stops_the_evaluation_naming_it(trained_run: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage")
    overrides = [f"run_dir={trained_run}", "runtime=onnxruntime", f"runtime.model_file={broken}"]
    with pytest.raises(OnnxModelError, match=f"^ONNX model {broken} cannot be loaded"):
        evaluate_in(tmp_path / "evaluation", overrides)


def test_a_runtime_for_a_problem_with_its_own_evaluation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="task=tracking runs its own evaluation; runtime=onnxruntime"):
        evaluate_in(tmp_path / "evaluation", ["task=tracking", "runtime=onnxruntime"])


def test_an_unknown_runtime_lists_the_runtimes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "evaluate.py"), "runtime=tensorrt"],
        cwd=tmp_path,
        env=subprocess_env() | {"PROJECT_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Could not find 'runtime/tensorrt'" in result.stderr
    for name in ("eager", "compile", "onnxruntime"):
        assert f"\t{name}\n" in result.stderr + "\n"
    assert not (tmp_path / "outputs").exists()
