"""Evaluation pipeline: rebuild a trained run from its saved config and score one split."""

import logging
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from visionbench.callbacks import SegmentationPredictionImages
from visionbench.runner.builders import build_task
from visionbench.runner.errors import reports_run_dir
from visionbench.runner.reporting import flat_metrics, per_class_table, print_tables, summary_table, write_json
from visionbench.runner.run_dir import ensure_fresh
from visionbench.utils.checkpoints import load_state_dict_checked, read_checkpoint

log = logging.getLogger(__name__)
SPLITS = ("val", "test")


def resolve_checkpoint(run_dir: str | None, ckpt_path: str | None) -> tuple[Path, Path]:
    """``(checkpoint, run_directory)`` from either argument; clear errors for missing files."""
    if ckpt_path:
        checkpoint = Path(ckpt_path)
        if not checkpoint.is_file():
            raise FileNotFoundError(f"ckpt_path does not exist: {checkpoint}")
        run = checkpoint.resolve().parent.parent
    elif run_dir:
        run = Path(run_dir)
        run_info = run / "run.json"
        if not run_info.is_file():
            raise FileNotFoundError(f"{run} is not a finished training run: {run_info} is missing")
        best = OmegaConf.load(run_info).get("best_checkpoint")
        if not best:
            raise FileNotFoundError(f"{run_info} names no best checkpoint (was checkpointing disabled?)")
        checkpoint = run / best
        if not checkpoint.is_file():
            raise FileNotFoundError(f"best checkpoint named in {run_info} does not exist: {checkpoint}")
    else:
        raise ValueError("evaluate.py needs run_dir=<training run directory> or ckpt_path=<checkpoint file>")
    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"the run's config is missing: {run / 'config.yaml'} (expected beside checkpoints/)")
    return checkpoint, run


@reports_run_dir
def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Score ``cfg.split`` of the run's dataset with its checkpoint; write metrics.json and prediction panels."""
    if cfg.split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got '{cfg.split}'")
    output_dir = ensure_fresh(cfg.paths.output_dir)
    checkpoint, run = resolve_checkpoint(cfg.get("run_dir"), cfg.get("ckpt_path"))
    saved = OmegaConf.load(run / "config.yaml")
    pl.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(OmegaConf.merge(saved.data, cfg.get("data_overrides") or {}))
    postprocess = instantiate(cfg.postprocess) if cfg.get("postprocess") else None
    inference = instantiate(cfg.inference) if cfg.get("inference") else None  # None: the task's whole image
    # metrics.json holds scores only (no losses), so skip the loss and its extra forward pass with slide/tta
    task = build_task(saved, datamodule, postprocess=postprocess, inference=inference, evaluation_loss=False)
    state = read_checkpoint(checkpoint).get("state_dict")
    if state is None:
        raise ValueError(f"{checkpoint} has no 'state_dict' (not a Lightning checkpoint)")
    load_state_dict_checked(task, state, str(checkpoint))

    images = SegmentationPredictionImages(
        output_dir / "predictions", num_images=cfg.num_prediction_images, probability_maps=True
    )
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=False, callbacks=[images], enable_checkpointing=False)
    run_split = trainer.validate if cfg.split == "val" else trainer.test
    results = run_split(task, datamodule=datamodule, verbose=False)[0]
    metrics = flat_metrics(results, task.per_class_scores, task.class_names)

    write_json(metrics, output_dir / "metrics.json")
    write_json(
        {
            "checkpoint": str(checkpoint.resolve()),
            "run_dir": str(run.resolve()),
            "split": cfg.split,
            "inference": OmegaConf.to_container(cfg.inference, resolve=True) if cfg.get("inference") else None,
            "postprocess": OmegaConf.to_container(cfg.postprocess, resolve=True) if cfg.get("postprocess") else None,
        },
        output_dir / "source.json",
    )
    rows = {
        f"{cfg.split} mIoU": f"{metrics[f'{cfg.split}/mIoU']:.4f}",
        "inference": repr(task.inference),
        "checkpoint": str(checkpoint),
        "outputs": str(output_dir),
    }
    print_tables(per_class_table(cfg.split, task.per_class_scores[cfg.split], task.class_names), summary_table(rows))
    return metrics
