"""Evaluation pipeline: rebuild a trained run from its saved config and score one split."""

import logging
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from visionbench.runner.builders import build_task
from visionbench.runner.errors import reports_run_dir
from visionbench.runner.reporting import headline, print_tables, summary_table, task_metrics, task_tables, write_json
from visionbench.runner.run_dir import ensure_fresh
from visionbench.runner.tracking import evaluate_tracking, is_tracking
from visionbench.utils.checkpoints import load_state_dict_checked, read_checkpoint, resolve_checkpoint

log = logging.getLogger(__name__)
SPLITS = ("val", "test")


def segmentation_evaluation(cfg: DictConfig, datamodule: pl.LightningDataModule) -> dict:
    """Evaluation-only task arguments chosen in evaluate.py: the inference mode and the postprocess, which apply
    to segmentation; the loss is skipped (metrics.json holds scores only, and slide/TTA would pay an extra
    forward pass for it)."""
    inference = instantiate(cfg.inference) if cfg.get("inference") else None  # None: the task's whole image
    postprocess = instantiate(cfg.postprocess) if cfg.get("postprocess") else None
    if not hasattr(datamodule, "num_classes"):
        if inference is not None or postprocess is not None:
            raise ValueError("inference= and postprocess= apply to segmentation; this dataset has no classes")
        return {}
    evaluation: dict = {"evaluation_loss": False}
    if inference is not None:
        evaluation["inference"] = inference
    if postprocess is not None:
        evaluation.update(postprocess=postprocess, image_mean=datamodule.mean, image_std=datamodule.std)
    return evaluation


def evaluation_setup(cfg: DictConfig) -> tuple[DictConfig, Path | None, Path | None]:
    """``(config to build from, checkpoint, run directory)``: a trained run's saved config (``data=`` may
    replace its dataset), or, without a checkpoint, evaluate.py's own ``task``, ``model`` and ``data``."""
    if cfg.get("run_dir") or cfg.get("ckpt_path"):
        checkpoint, run = resolve_checkpoint(cfg.get("run_dir"), cfg.get("ckpt_path"))
        for group in ("task", "model"):
            if cfg.get(group) is not None:
                raise ValueError(
                    f"{group}= cannot be combined with run_dir/ckpt_path: the run's config.yaml defines its {group} "
                    "(data= may replace its dataset)"
                )
        setup = OmegaConf.load(run / "config.yaml")
        if cfg.get("data") is not None:
            setup.data = cfg.data
        return setup, checkpoint, run
    missing = [group for group in ("task", "model", "data") if cfg.get(group) is None]
    if missing:
        raise ValueError(
            "evaluate.py needs run_dir=<training run> or ckpt_path=<checkpoint> for a trained model, or task=, "
            "model= and data= for a method without training (e.g. task=flow model=flow/dis data=flow/middlebury); "
            f"missing: {missing}"
        )
    return cfg, None, None


@reports_run_dir
def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Score ``cfg.split`` with a trained checkpoint or a method without training; write metrics.json, the
    sources and the prediction panels into a new run directory. Trackers (``task=tracking``) are run over the
    data's sequences instead (:func:`~visionbench.runner.tracking.evaluate_tracking`; the data config names the
    split)."""
    if cfg.split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got '{cfg.split}'")
    output_dir = ensure_fresh(cfg.paths.output_dir)
    setup, checkpoint, run = evaluation_setup(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    if is_tracking(setup):
        return evaluate_tracking(setup, output_dir)

    datamodule = instantiate(OmegaConf.merge(setup.data, cfg.get("data_overrides") or {}))
    if hasattr(datamodule, "num_identities"):
        # re-identification: the loss classifies the training identities; evaluation retrieves, on any identities
        setup = OmegaConf.merge(setup, {"loss": None})
    task = build_task(setup, datamodule, **segmentation_evaluation(cfg, datamodule))
    if checkpoint is not None:
        state = read_checkpoint(checkpoint).get("state_dict")
        if state is None:
            raise ValueError(f"{checkpoint} has no 'state_dict' (not a Lightning checkpoint)")
        if getattr(task, "loss", None) is None:
            state = {key: value for key, value in state.items() if not key.startswith("loss.")}
        load_state_dict_checked(task, state, str(checkpoint))
    else:
        trainable = sum(p.numel() for p in task.model.parameters() if p.requires_grad)
        if trainable:
            raise ValueError(
                f"{type(task.model).__name__} has {trainable} trainable parameters and no checkpoint was given: "
                "train it first, then evaluate.py run_dir=<run> (or ckpt_path=<file>)"
            )

    images = task.evaluation_images(output_dir / "predictions", cfg.num_prediction_images)
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=False, callbacks=[images], enable_checkpointing=False)
    run_split = trainer.validate if cfg.split == "val" else trainer.test
    results = run_split(task, datamodule=datamodule, verbose=False)[0]
    metrics = task_metrics(results, task)

    write_json(metrics, output_dir / "metrics.json")
    write_json(
        {
            "checkpoint": str(checkpoint.resolve()) if checkpoint else None,
            "run_dir": str(run.resolve()) if run else None,
            "model": None if checkpoint else OmegaConf.to_container(setup.model, resolve=True),
            "data": OmegaConf.to_container(setup.data, resolve=True),
            "split": cfg.split,
            "inference": OmegaConf.to_container(cfg.inference, resolve=True) if cfg.get("inference") else None,
            "postprocess": OmegaConf.to_container(cfg.postprocess, resolve=True) if cfg.get("postprocess") else None,
        },
        output_dir / "source.json",
    )
    name, value = headline(metrics, cfg.split)
    rows = {name: f"{value:.4f}", "method": str(checkpoint) if checkpoint else type(task.model).__name__}
    if hasattr(task, "inference"):
        rows["inference"] = repr(task.inference)
    rows["outputs"] = str(output_dir)
    print_tables(*task_tables(task), summary_table(rows))
    return metrics
