"""Command-line errors in one line (unknown key, wrong type, dataset layout), no traceback, exit status 1; the
run's log file holds the log lines, the progress lines and the traceback the console does not show."""

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import CONF, REPO, TINY, subprocess_env
from visionbench.data.errors import DatasetLayoutError
from visionbench.runner.cli import entry_point, invalid_command_line_message
from visionbench.runner.errors import ConfigError

SHAPES = "visionbench.data.segmentation.synthetic_shapes.SyntheticShapesDataModule"


def _run(script: str, *arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, script, *arguments]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=env or subprocess_env())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["model.depthh=4"], "unknown key 'model.depthh' (value 4); did you mean 'model.depth'?"),
        (["+model.depthh=4"], "unknown key 'model.depthh' (value 4); did you mean 'model.depth'?"),
        (["trainer.max_epoch=3"], "unknown key 'trainer.max_epoch' (value 3); did you mean 'trainer.max_epochs'?"),
        (["seeed=1"], "unknown key 'seeed' (value 1); did you mean 'seed'?"),
        (["task=flow", "model.iterz=2"], "unknown key 'model.iterz' (value 2); did you mean 'model.iters'?"),
        (["data.batch_size=abc"], f"wrong type for 'data.batch_size': expected int, got 'abc' ({SHAPES})"),
        (
            ["trainer.max_epochs=x"],
            "wrong type for 'trainer.max_epochs': expected int | null, got 'x' (pytorch_lightning.Trainer)",
        ),
        (["model.depth=4", "trainer.fast_dev_run=true", "debug=limit"], None),  # valid
        (["-m", "model.depthh=4,5"], None),  # sweeps are composed by Hydra's sweeper, job by job
        (["-sc", "install=bash"], None),  # not an override: Hydra's shell completion
        (["~model.depthh"], None),  # another composition error: Hydra's own message
    ],
)
def test_invalid_command_line_message(arguments: list[str], message: str | None) -> None:
    assert invalid_command_line_message(CONF, "train", arguments) == message


def test_entry_point_checks_the_config_and_turns_user_errors_into_one_line(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py"])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    calls = []
    main = entry_point(calls.append)
    with pytest.raises(SystemExit) as exit_info:
        main(OmegaConf.create({"data": {"_target_": SHAPES, "batch_size": "abc"}}))
    assert exit_info.value.code == 1 and calls == []
    assert (
        capsys.readouterr().err
        == f"train.py: error: wrong type for 'data.batch_size': expected int, got 'abc' ({SHAPES})\n"
    )

    def missing_dataset(cfg: object) -> None:
        raise DatasetLayoutError("root /x does not exist; expected:\n  <root>/images/...")

    with pytest.raises(SystemExit):
        entry_point(missing_dataset)(OmegaConf.create({}))
    assert capsys.readouterr().err == "train.py: error: root /x does not exist; expected:\n  <root>/images/...\n"
    with pytest.raises(ZeroDivisionError):  # any other error keeps its traceback
        entry_point(lambda cfg: 1 / 0)(OmegaConf.create({}))
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError):  # Hydra's switch for complete tracebacks
        main(OmegaConf.create({"data": {"_target_": SHAPES, "batch_size": "abc"}}))


@pytest.mark.parametrize(
    ("script", "arguments", "line"),
    [
        ("train.py", ["model.depthh=4"], "unknown key 'model.depthh' (value 4); did you mean 'model.depth'?"),
        (
            "evaluate.py",
            ["trainer.max_epochs=x"],
            "wrong type for 'trainer.max_epochs': expected int | null, got 'x' (pytorch_lightning.Trainer)",
        ),
    ],
)
def test_config_errors_print_one_line_and_start_no_run(
    script: str, arguments: list[str], line: str, tmp_path: Path
) -> None:
    result = _run(script, *arguments, f"paths.log_dir={tmp_path}")
    assert (result.returncode, result.stderr) == (1, f"{script}: error: {line}\n")
    assert result.stdout == "" and not any(tmp_path.iterdir())  # no run directory


def test_dataset_layout_error_prints_the_expected_tree_once_and_logs_the_traceback(tmp_path: Path) -> None:
    root = tmp_path / "ADEChallengeData2016"
    result = _run("train.py", "data=segmentation/ade20k", f"data.root={root}", f"paths.log_dir={tmp_path / 'out'}")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    (run_dir,) = (tmp_path / "out" / "train" / "runs").iterdir()
    lines = result.stderr.splitlines()
    assert lines[0] == f"[visionbench] run failed; its outputs and log are in {run_dir}"
    assert lines[1].startswith(f"train.py: error: ADE20K root {root} does not exist; expected the released")
    assert result.stderr.count("<root>/images/training/") == 1
    log = (run_dir / "train.log").read_text()
    assert "[visionbench.log_file][ERROR] - run failed\nTraceback" in log and "DatasetLayoutError" in log


def test_run_log_holds_lightning_and_progress_lines_and_debug_runs_go_to_outputs_debug(tmp_path: Path) -> None:
    result = _run("train.py", "debug=fdr", *TINY, f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "debug" / "runs").iterdir()
    log = (run_dir / "train.log").read_text()
    assert "[lightning_fabric.utilities.seed][INFO] - Seed set to 42" in log
    assert "Running in `fast_dev_run` mode" in log
    progress = "[visionbench.callbacks.progress_log][INFO] - train | epoch 1/1 | batch 1/1 | step 1/1 | loss "
    assert progress in log and progress in result.stdout  # stdout is a pipe here: no live bar, lines on the console
    assert "[visionbench.callbacks.progress_log][INFO] - test | batch 1/1 | " in log
