"""infer.py end to end (in process, the real config tree): from clips of synthetic frames, the annotated video is
written, decodes with PyAV with the input's frame count, rate and timestamps, next to the problem's per-frame files;
bad inputs stop with one message naming the file and the frame, leaving no output that looks complete."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from tests.helpers import REPO, TINY, compose_config, subprocess_env
from tests.video.clips import RATE, decoded, mot_clip, shape_frames, shifted_frames, write_clip
from visionbench.data.errors import DatasetFormatError
from visionbench.data.flow.io import read_flo
from visionbench.data.tracking.mot_io import read_mot_table
from visionbench.models.segmentation import UNet
from visionbench.models.tracking import SORT
from visionbench.models.tracking.run import track_sequence
from visionbench.runner.errors import ConfigError
from visionbench.runner.train import train
from visionbench.video.run import infer

TINY_UNET = ["model.depth=2", "model.base_channels=4"]
STAGES = ["decode", "preprocess", "model", "postprocess", "draw", "encode"]


@pytest.fixture(scope="module")
def unet_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny U-Net for the 7 synthetic-shapes classes, saved as a published-weights file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "unet.pt"
    torch.save(UNet(num_classes=7, depth=2, base_channels=4).state_dict(), path)
    return path


def _segmentation(weights: Path) -> list[str]:
    return ["task=segmentation", "model=segmentation/unet", *TINY_UNET, f"model.weights={weights}",
            "data=segmentation/synthetic_shapes"]  # fmt: skip


def _infer(tmp_path: Path, overrides: list[str]) -> Path:
    out = tmp_path / "run"
    out.mkdir(parents=True)
    infer(compose_config("infer", overrides, out))
    return out


def _status(run: Path) -> dict:
    return json.loads((run / "status.json").read_text())


def test_segmentation_video(tmp_path: Path, unet_weights: Path) -> None:
    clip = write_clip(tmp_path / "shapes.mp4", shape_frames(8, 64))
    run = _infer(tmp_path, [*_segmentation(unet_weights), f"input={clip}", "batch_size=3"])
    assert decoded(run / "overlay.mp4") == decoded(clip)  # frame count, rate and timestamps
    masks = sorted((run / "masks").iterdir())
    assert [path.name for path in masks] == [f"frame_{i:06d}.png" for i in range(8)]
    labels = cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (64, 64) and labels.dtype == np.uint8 and labels.max() < 7
    report = json.loads((run / "throughput.json").read_text())
    assert [stage["name"] for stage in report["stages"]] == STAGES
    assert all(stage["frames"] == 8 for stage in report["stages"])
    assert report["end_to_end"]["frames"] == 8 and report["end_to_end"]["frames_per_second"] > 0
    assert report["runtime"]["name"] == "eager" and report["outputs"] == ["masks", "overlay.mp4"]
    assert _status(run)["status"] == "done"
    assert not list(run.glob(".*.partial"))


def test_segmentation_images_resized_bf16(tmp_path: Path, unet_weights: Path) -> None:
    """Images of two sizes with resize=: each overlay and mask keeps its image's size; bf16 autocast runs."""
    folder = tmp_path / "images"
    folder.mkdir()
    for index, image in enumerate(shape_frames(3, 48)):
        image = cv2.resize(image, (48 + 16 * index, 40)) if index else image
        cv2.imwrite(str(folder / f"img{index + 1}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    run = _infer(tmp_path, [*_segmentation(unet_weights), f"input={folder}", "resize=[32,32]", "precision=bf16"])
    for index, width in enumerate([48, 64, 80]):
        overlay = cv2.imread(str(run / "overlay" / f"img{index + 1}.png"))
        mask = cv2.imread(str(run / "masks" / f"img{index + 1}.png"), cv2.IMREAD_UNCHANGED)
        assert overlay.shape[:2] == mask.shape == ((48, 48) if index == 0 else (40, width))


@pytest.mark.parametrize("resize", [[], ["resize=[48,48]"]])
def test_flow_video_and_flo_files(tmp_path: Path, resize: list[str]) -> None:
    """N - 1 .flo files at the frames' size; with resize=, the flow is computed at 48x48 and its vectors scaled back."""
    clip = write_clip(tmp_path / "moving.mkv", shifted_frames(8, 64, shift=(2, 1)))
    run = _infer(tmp_path, ["task=flow", "model=flow/dis", f"input={clip}", "batch_size=3", *resize])
    count, rate, _ = decoded(run / "flow.mp4")
    assert (count, rate) == (8, RATE)
    flos = sorted((run / "flo").iterdir())
    assert [path.name for path in flos] == [f"frame_{i:06d}.flo" for i in range(7)]  # frames - 1
    flow, valid = read_flo(flos[3])
    assert flow.shape == (64, 64, 2) and valid.all()
    inner = flow[8:-8, 8:-8].reshape(-1, 2)
    assert np.median(inner, axis=0) == pytest.approx([2.0, 1.0], abs=0.25)


def test_tracking_video_and_results(tmp_path: Path) -> None:
    clip, detections = mot_clip(tmp_path)
    run = _infer(tmp_path, ["task=tracking", f"input={clip}", f"detections={detections}"])
    assert decoded(run / "tracks.mp4") == decoded(clip)
    results = read_mot_table(run / "tracks.txt", "result")
    assert len(results) > 0 and results.frames.max() <= 8
    expected = track_sequence(SORT(), read_mot_table(detections, "det"), 8)  # what evaluate.py writes
    assert np.array_equal(results.ids, expected[1][np.lexsort((expected[1], expected[0]))])


def test_detections_beyond_the_video(tmp_path: Path) -> None:
    clip, detections = mot_clip(tmp_path, count=8)
    late = tmp_path / "det.txt"
    late.write_text(detections.read_text() + "9,-1,10.0,10.0,20.0,40.0,0.9,-1,-1,-1\n")
    line = len(late.read_text().splitlines())
    with pytest.raises(DatasetFormatError, match=rf"{late}:{line}: frame 9 is beyond the 8 frames of video {clip}"):
        _infer(tmp_path, ["task=tracking", f"input={clip}", f"detections={late}"])
    run = tmp_path / "run"
    assert _status(run)["status"] == "failed"
    assert sorted(path.name for path in run.iterdir()) == ["status.json"]


def test_error_mid_video_leaves_no_outputs(tmp_path: Path, unet_weights: Path) -> None:
    """An image of another size (no resize) at frame 3: the error names it, and nothing of the outputs remains."""
    folder = tmp_path / "images"
    folder.mkdir()
    for index, image in enumerate(shape_frames(4, 32)):
        image = cv2.resize(image, (40, 32)) if index == 2 else image
        cv2.imwrite(str(folder / f"{index:02d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    with pytest.raises(DatasetFormatError, match=rf"image {folder / '02.png'} \(frame 3 "):
        _infer(tmp_path, [*_segmentation(unet_weights), f"input={folder}", "batch_size=1"])
    run = tmp_path / "run"
    assert sorted(path.name for path in run.iterdir()) == ["status.json"]
    assert "frame 3" in _status(run)["reason"]


def test_choices_refused_in_one_line(tmp_path: Path, unet_weights: Path) -> None:
    clip = write_clip(tmp_path / "shapes.mp4", shape_frames(2, 32))
    with pytest.raises(ConfigError, match="detections= applies to tracking"):
        _infer(tmp_path, [*_segmentation(unet_weights), f"input={clip}", f"detections={clip}"])
    with pytest.raises(ConfigError, match="task=tracking needs detections="):
        _infer(tmp_path / "b", ["task=tracking", f"input={clip}"])
    with pytest.raises(ConfigError, match="precision=fp8"):
        _infer(tmp_path / "c", [*_segmentation(unet_weights), f"input={clip}", "precision=fp8"])


@pytest.mark.slow
def test_from_a_training_run(tmp_path: Path) -> None:
    """run_dir=<training run>: the run's model and best checkpoint, its dataset's classes in config.yaml."""
    train_dir = tmp_path / "train"
    train_dir.mkdir()
    train(compose_config("train", [*TINY, "test=false"], train_dir))
    clip = write_clip(tmp_path / "shapes.mp4", shape_frames(4, 32))
    run = _infer(tmp_path, [f"run_dir={train_dir}", f"input={clip}"])
    assert decoded(run / "overlay.mp4")[0] == 4 and len(list((run / "masks").iterdir())) == 4
    config = OmegaConf.load(run / "config.yaml")
    assert config.inference.run_dir == str(train_dir.resolve()) and config.inference.checkpoint.endswith(".ckpt")
    assert config.model._target_.endswith("UNet")


@pytest.mark.slow
def test_onnxruntime_gives_the_eager_masks(tmp_path: Path, unet_weights: Path) -> None:
    """runtime=onnxruntime (exported once with dynamic sizes, here run at batch 3 then 2): the same label masks as
    eager, the exported model kept in the run directory."""
    clip = write_clip(tmp_path / "shapes.mp4", shape_frames(5, 32))
    runs = {}
    for runtime in ("eager", "onnxruntime"):
        overrides = [*_segmentation(unet_weights), f"input={clip}", "batch_size=3", f"runtime={runtime}"]
        runs[runtime] = _infer(tmp_path / runtime, overrides)
    assert (runs["onnxruntime"] / "model.onnx").is_file()
    for name in (f"frame_{i:06d}.png" for i in range(5)):
        eager, onnx = (cv2.imread(str(run / "masks" / name), cv2.IMREAD_UNCHANGED) for run in runs.values())
        assert (eager == onnx).mean() > 0.999  # arg-max ties aside, the same labels


@pytest.mark.slow
def test_command_line_error_is_one_line(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "cut.mkv", shape_frames(8, 32))
    clip.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    result = subprocess.run(
        [sys.executable, str(REPO / "infer.py"), "task=flow", "model=flow/dis", f"input={clip}"],
        cwd=tmp_path, env={**subprocess_env(), "PROJECT_ROOT": str(tmp_path)}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith(f"infer.py: error: video {clip} is truncated or corrupt") and "frame" in message
