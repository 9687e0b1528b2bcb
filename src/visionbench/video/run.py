"""``infer.py``: run a trained model (or published weights, a classical flow method, a tracker) on the user's images or
video and write the annotated frames, the per-frame results and the throughput of every stage into a new run
directory. The problem's part is declared by its contract
(:meth:`~visionbench.tasks.contract.ProblemContract.video_annotator`); nothing here names a problem.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from visionbench.models.published import MODEL_WEIGHTS_KEY
from visionbench.runner.builders import build_model, build_task
from visionbench.runner.errors import ConfigError, reports_run_dir
from visionbench.runner.evaluate import evaluation_setup, load_trained_weights
from visionbench.runner.reporting import print_tables, write_json
from visionbench.runner.run_dir import ensure_fresh
from visionbench.tasks.contract import ProblemContract, problem_contract
from visionbench.utils.atomic import write_text_atomically
from visionbench.video.annotator import FrameAnnotator, VideoSettings
from visionbench.video.outputs import ImageWriter, RunOutputs, VideoWriter
from visionbench.video.pipeline import Batch, Stage, StageTime, batched, run_pipeline
from visionbench.video.report import progress_bar, throughput, throughput_table
from visionbench.video.sources import FrameSource, open_source

log = logging.getLogger(__name__)
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
"""``precision=`` choices: float32, or autocast to bfloat16 / float16 around the model."""
THROUGHPUT_FILE = "throughput.json"


def check_choices(cfg: DictConfig) -> None:
    """Refuse a missing ``input``, an invalid ``precision``, ``batch_size`` or ``resize``, and a model chosen neither
    from a run nor by ``task=`` and ``model=``, in one line each."""
    if OmegaConf.is_missing(cfg, "input"):
        raise ConfigError("input= is required: a video file, an image, a folder of images or a quoted glob pattern")
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f"precision={cfg.precision}: choose one of {sorted(PRECISIONS)}")
    if not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise ConfigError(f"batch_size={cfg.batch_size}: expected a whole number >= 1")
    resize = cfg.get("resize")
    if resize is not None and (len(resize) != 2 or not all(isinstance(v, int) and v > 0 for v in resize)):
        raise ConfigError(f"resize={list(resize)}: expected [height,width] in pixels, or null")
    if not (cfg.get("run_dir") or cfg.get("ckpt_path")) and (cfg.get("task") is None or cfg.get("model") is None):
        raise ConfigError(
            "infer.py needs run_dir=<training run> (or ckpt_path=<checkpoint>), or task= and model= for published "
            "weights (model.weights=<file>), a classical flow method or a tracker, e.g. task=flow model=flow/dis"
        )


def inference_model(setup: DictConfig, checkpoint: Path | None, contract: ProblemContract) -> tuple[Any, Any]:
    """``(model, datamodule)``: for a problem trained by a Lightning task, the task's model with the checkpoint's
    (or published) weights and the datamodule that declares the data's facts (classes, palette, normalisation);
    for a problem that runs its own evaluation (trackers), the object its model config builds and no datamodule."""
    if contract.runs_own_evaluation:
        return build_model(setup.model), None
    datamodule = instantiate(setup.data)
    published = checkpoint is None and OmegaConf.select(setup, f"model.{MODEL_WEIGHTS_KEY}") is not None
    setup = copy.deepcopy(setup)
    with open_dict(setup):  # inference needs no loss, optimiser or schedule
        setup.loss, setup.optim, setup.sched = None, None, None
        if checkpoint is not None:  # the checkpoint holds every weight
            setup.model[MODEL_WEIGHTS_KEY] = None
    task = build_task(setup, datamodule)
    load_trained_weights(task, checkpoint, published=published)
    return task.model, datamodule


def _stages(
    annotator: FrameAnnotator, writer: VideoWriter | ImageWriter, precision: torch.dtype | None, device: torch.device,
    advance: Any,
) -> list[Stage]:  # fmt: skip
    """The pipeline after decoding: preprocess, model, postprocess, draw, encode (with the per-frame files)."""

    def preprocess(batch: Batch) -> None:
        batch.inputs = annotator.preprocess(batch.frames)

    def model(batch: Batch) -> None:
        with torch.inference_mode(), torch.autocast(device.type, dtype=precision, enabled=precision is not None):
            batch.outputs = annotator.infer(batch.inputs)
        batch.inputs = None

    def postprocess(batch: Batch) -> None:
        with torch.inference_mode():
            batch.results = annotator.postprocess(batch.outputs, batch.frames)
        batch.outputs = None

    def draw(batch: Batch) -> None:
        batch.annotated = [
            annotator.draw(frame, result) for frame, result in zip(batch.frames, batch.results, strict=True)
        ]

    def encode(batch: Batch) -> None:
        for frame, result, image in zip(batch.frames, batch.results, batch.annotated, strict=True):
            writer.write(frame, image)
            annotator.save(frame, result)
        advance(len(batch.frames))

    return [("preprocess", preprocess), ("model", model), ("postprocess", postprocess), ("draw", draw),
            ("encode", encode)]  # fmt: skip


def annotate(
    source: FrameSource, annotator: FrameAnnotator, outputs: RunOutputs, batch_size: int, precision: torch.dtype | None,
    device: torch.device,
) -> tuple[list[StageTime], float, list[Path]]:  # fmt: skip
    """Run the pipeline over ``source`` and put every output in place; ``(stage times, wall seconds, files)``. After
    any error the partial outputs are removed before it is raised."""
    writer: VideoWriter | ImageWriter | None = None
    try:
        annotator.open(outputs)
        if source.is_video:
            size = source.frame_size
            writer = VideoWriter(outputs.file(f"{annotator.kind}.mp4"), source.frame_rate, source.time_base, size)
        else:
            writer = ImageWriter(outputs.folder(annotator.kind))
        with progress_bar() as progress:
            task = progress.add_task(f"{annotator.kind} {source.name}", total=source.num_frames)
            stages = _stages(annotator, writer, precision, device, lambda n: progress.advance(task, n))
            start = time.perf_counter()
            timers = run_pipeline(batched(source.frames(), batch_size), "decode", stages)
        writer.close()
        annotator.finish()
        seconds = time.perf_counter() - start
        return timers, seconds, outputs.commit()
    except BaseException:
        if writer is not None:
            writer.discard()
        outputs.abort()
        raise


@reports_run_dir
def infer(cfg: DictConfig) -> dict[str, Any]:
    """Run the model of ``cfg`` (a training run's, or ``task=`` / ``model=``) on ``cfg.input`` and write into a new run
    directory: the annotated video (or PNGs for image inputs), the problem's per-frame files, ``config.yaml`` (the
    setup and an ``inference`` node with the choices), ``throughput.json``; print the per-stage throughput table."""
    check_choices(cfg)
    output_dir = ensure_fresh(cfg.paths.output_dir)
    resize = tuple(cfg.resize) if cfg.get("resize") is not None else None
    source = open_source(cfg.input, same_size=resize is None)
    setup, checkpoint, run = evaluation_setup(cfg)
    contract = problem_contract(setup)
    model, datamodule = inference_model(setup, checkpoint, contract)
    device = torch.device(cfg.device)
    if device.type == "cuda":  # a video's frames share one size: let cuDNN pick the fastest kernels for it
        torch.backends.cudnn.benchmark = True
    runtime = instantiate(cfg.runtime)
    settings = VideoSettings(
        batch_size=cfg.batch_size,
        input_size=resize or tuple(source.frame_size),
        resized=resize is not None,
        device=device,
        runtime=runtime,
        num_frames=source.num_frames,
        source=source.description,
        detections=Path(cfg.detections) if cfg.get("detections") else None,
        directory=output_dir,
    )
    annotator = contract.video_annotator(model, datamodule, settings)
    outputs = RunOutputs(output_dir)
    precision = PRECISIONS[cfg.precision]
    timers, seconds, files = annotate(source, annotator, outputs, cfg.batch_size, precision, device)
    report = throughput(timers, source.num_frames, seconds)
    report.update(
        input=str(cfg.input), batch_size=cfg.batch_size, input_size=list(settings.input_size), device=str(device),
        precision=cfg.precision, runtime=runtime.describe(), torch_threads=torch.get_num_threads(),
        outputs=[path.name for path in files],
    )  # fmt: skip
    config = OmegaConf.create(OmegaConf.to_container(setup))
    config.inference = {
        "input": str(cfg.input), "detections": cfg.get("detections"), "batch_size": cfg.batch_size,
        "resize": list(resize) if resize else None, "precision": cfg.precision, "runtime": runtime.name,
        "device": str(device), "checkpoint": str(checkpoint.resolve()) if checkpoint else None,
        "run_dir": str(run.resolve()) if run else None,
    }  # fmt: skip
    write_text_atomically(output_dir / "config.yaml", OmegaConf.to_yaml(config, resolve=True), replace=False)
    write_json(report, output_dir / THROUGHPUT_FILE)
    title = f"{source.name}: {source.num_frames} frames, batch {cfg.batch_size}, {cfg.precision}, {runtime.name}"
    print_tables(throughput_table(report, title))
    log.info("outputs in %s: %s", output_dir, ", ".join(path.name for path in files))
    return report
