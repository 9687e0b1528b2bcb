"""Video throughput of U-Net (the default training config's model, untrained) on this machine: frames per second of
the model alone and of infer.py's whole pipeline (decode -> preprocess -> model -> postprocess -> draw -> encode),
at batch 1 and batch 8, measured in the same process.

For each frame size a clip of synthetic-shapes frames is written with PyAV. In each round, for each batch size:
the model alone over the clip's frames (preprocessed beforehand; one timed pass through the eager runtime under
``torch.inference_mode`` in a worker thread, as the pipeline calls it), then the pipeline over the clip (infer.py's
own code: :func:`visionbench.video.run.annotate`, writing the overlay video and masks to a temporary folder). Reported
per batch size: the best round (after one untimed warm-up round) of each rate, the estimate least disturbed by
other work on a shared machine (as ``timeit`` advises), and the median round; then the ratios
batch 8 / batch 1 (target >= 1.5) and end to end / model alone (target >= 0.8), and the pipeline's per-stage rates
of its last round.

    python benchmarks/video_throughput.py [--sizes 48] [--frames 256] [--rounds 5] [--threads N]
                                          [--device cpu] [hydra overrides of conf/train.yaml ...]
    python benchmarks/video_throughput.py --sizes 256 --frames 32     # larger frames: fewer needed

A clip needs enough batches that filling and draining the six stages is a small part of its time (32 frames at batch 8
are 4 batches: the pipeline then looks slower than it is).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from rich.console import Console
from rich.table import Table

import visionbench.runner  # noqa: F401  (registers the run-directory resolver)
from visionbench.data.segmentation.synthetic_shapes import generate_sample
from visionbench.deploy.runtime import EagerRuntime
from visionbench.runner.builders import build_task
from visionbench.tasks.contract import problem_contract
from visionbench.video.annotator import FrameAnnotator, VideoSettings
from visionbench.video.outputs import RunOutputs
from visionbench.video.pipeline import StageTime
from visionbench.video.run import annotate
from visionbench.video.sources import VideoSource, open_source

CONF = Path(__file__).resolve().parents[1] / "conf"
BATCHES = (1, 8)


def write_clip(path: Path, size: int, frames: int) -> Path:
    """``frames`` synthetic-shapes images of ``size`` x ``size`` as an H.264 clip at 25 frames/s."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height = stream.width = size
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            image = generate_sample(np.random.default_rng(index), size)[0]
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def unet_annotator(overrides: list[str], source: VideoSource, batch: int, device: torch.device) -> FrameAnnotator:
    """infer.py's segmentation annotator for conf/train.yaml's model (U-Net by default), untrained, eager."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    datamodule = instantiate(cfg.data)
    model = build_task(cfg, datamodule).model
    settings = VideoSettings(batch, tuple(source.frame_size), False, device, EagerRuntime(), source.num_frames,
                             source.description)  # fmt: skip
    return problem_contract(cfg).video_annotator(model, datamodule, settings)


def model_alone(annotator: FrameAnnotator, source: VideoSource, batch: int) -> float:
    """Frames per second of the model alone over the clip's frames, inputs prepared beforehand, called from a worker
    thread as the pipeline's model stage calls it (OpenMP teams are per calling thread)."""
    frames = list(source.frames())
    inputs = [annotator.preprocess(frames[i : i + batch]) for i in range(0, len(frames), batch)]
    seconds: list[float] = []

    def run() -> None:
        with torch.inference_mode():
            start = time.perf_counter()
            for batch_inputs in inputs:
                annotator.infer(batch_inputs)
            seconds.append(time.perf_counter() - start)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return len(frames) / seconds[0]


def end_to_end(
    annotator: FrameAnnotator, source: VideoSource, batch: int, device: torch.device, folder: Path
) -> tuple[float, list[StageTime]]:
    """Frames per second of infer.py's pipeline over the clip and its per-stage times."""
    folder.mkdir(parents=True)
    timers, seconds, _ = annotate(source, annotator, RunOutputs(folder), batch, None, device)
    return source.num_frames / seconds, timers


def stage_row(timers: list[StageTime]) -> str:
    """Each stage's frames per second alone, in pipeline order."""
    return ", ".join(f"{t.name} {t.frames_per_second:.0f}" for t in timers)


def measure(size: int, args: argparse.Namespace, overrides: list[str], scratch: Path) -> dict:
    """Model-alone and end-to-end rates per batch size at ``size`` (best and median round; rounds interleaved), and
    the last round's stage times."""
    clip = open_source(write_clip(scratch / f"clip_{size}.mp4", size, args.frames))
    device = torch.device(args.device)
    annotators = {batch: unet_annotator(overrides, clip, batch, device) for batch in BATCHES}
    alone: dict[int, list[float]] = {batch: [] for batch in BATCHES}
    piped: dict[int, list[float]] = {batch: [] for batch in BATCHES}
    stages: dict[int, list[StageTime]] = {}
    for round_index in range(args.rounds + 1):  # round 0 warms up (oneDNN kernels per shape, allocator, caches)
        for batch in BATCHES:
            fps_alone = model_alone(annotators[batch], clip, batch)
            folder = scratch / f"{size}_{batch}_{round_index}"
            fps_piped, stages[batch] = end_to_end(annotators[batch], clip, batch, device, folder)
            if round_index:
                alone[batch].append(fps_alone)
                piped[batch].append(fps_piped)
    return {
        "alone": {batch: max(values) for batch, values in alone.items()},
        "piped": {batch: max(values) for batch, values in piped.items()},
        "alone_median": {batch: statistics.median(values) for batch, values in alone.items()},
        "piped_median": {batch: statistics.median(values) for batch, values in piped.items()},
        "stages": stages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[48], help="square frame sizes (px; 48: training's)")
    parser.add_argument("--frames", type=int, default=256, help="frames per clip (enough batches to fill the stages)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    args, overrides = parser.parse_known_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            results[size] = measure(size, args, overrides, Path(scratch))
    title = (f"U-Net video throughput, frames/s ({platform.processor() or platform.machine()}, "
             f"{torch.get_num_threads()} torch threads, {args.device}, {args.frames} frames, best of {args.rounds} "
             "rounds; median round in brackets)")  # fmt: skip
    table = Table(title=title)
    for column in ("frames", "model b1", "model b8", "b8/b1 model", "e2e b1", "e2e b8", "b8/b1 e2e",
                   "e2e/model b1", "e2e/model b8"):  # fmt: skip
        table.add_column(column, justify="right")
    for size, result in results.items():
        rows = []
        for alone, piped in ((result["alone"], result["piped"]), (result["alone_median"], result["piped_median"])):
            rows.append([f"{alone[1]:.1f}", f"{alone[8]:.1f}", f"{alone[8] / alone[1]:.2f}", f"{piped[1]:.1f}",
                         f"{piped[8]:.1f}", f"{piped[8] / piped[1]:.2f}", f"{piped[1] / alone[1]:.2f}",
                         f"{piped[8] / alone[8]:.2f}"])  # fmt: skip
        table.add_row(f"{size}x{size}", *(f"{best} ({median})" for best, median in zip(*rows, strict=True)))
    console = Console(width=200)
    console.print(table)
    for size, result in results.items():
        for batch, timers in result["stages"].items():
            console.print(f"{size}x{size} batch {batch} stages (frames/s alone): {stage_row(timers)}")


if __name__ == "__main__":
    main()
