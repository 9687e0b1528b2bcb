"""Evaluation pipeline: rebuild a trained run from its saved config (or a method without training) and score one
split; problems that run their own evaluation (trackers) are handed to their contract."""

import logging
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from visionbench.deploy.runtime import EagerRuntime, Runtime
from visionbench.models.parameters import count_parameters
from visionbench.models.published import MODEL_WEIGHTS_KEY, weights_record
from visionbench.runner.builders import build_each, build_task
from visionbench.runner.environment import PROJECT_DIR, collect_environment, device_info
from visionbench.runner.errors import reports_run_dir
from visionbench.runner.reporting import headline_row, print_tables, summary_table, write_json
from visionbench.runner.run_dir import ensure_fresh
from visionbench.runner.scores import write_scores
from visionbench.tasks.contract import EvaluationOutcome, ProblemContract, problem_contract
from visionbench.utils.checkpoints import load_state_dict_checked, read_checkpoint, resolve_checkpoint

log = logging.getLogger(__name__)
SPLITS = ("val", "test")
EXAMPLE_BATCH, EXAMPLE_SIZE = 2, (68, 100)
"""The example input a runtime compiles or exports the model on (batch, height, width): dynamic shapes let it run at
the data's size; a batch of 2 keeps the batch dimension dynamic (exporters specialise a size of 1). Height and width
are multiples of 4 but not of 8: networks that pad their input to a multiple of their stride (8 for RAFT, 32 or 64 for
U-Net-ResNet and FlowNet) only when needed are traced with the padding, which an exported graph then computes for
every size (zero where the size is a multiple); traced at a multiple, the graph would never pad."""


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


def load_trained_weights(task: pl.LightningModule, checkpoint: Path | None, published: bool = False) -> None:
    """Load ``checkpoint``'s state dict into ``task`` (its ``loss.`` entries only when the task has a loss); without
    a checkpoint, refuse a model that has trainable parameters, unless ``published`` weights (``model.weights``) were
    loaded into it when it was built."""
    if checkpoint is not None:
        state = read_checkpoint(checkpoint).get("state_dict")
        if state is None:
            raise ValueError(f"{checkpoint} has no 'state_dict' (not a Lightning checkpoint)")
        if getattr(task, "loss", None) is None:
            state = {key: value for key, value in state.items() if not key.startswith("loss.")}
        load_state_dict_checked(task, state, str(checkpoint))
        return
    trainable = sum(p.numel() for p in task.model.parameters() if p.requires_grad)
    if trainable and not published:
        raise ValueError(
            f"{type(task.model).__name__} has {trainable} trainable parameters and no checkpoint was given: "
            "train it first, then evaluate.py run_dir=<run> (or ckpt_path=<file>), or load published weights with "
            "model.weights=<file>"
        )


def deploy_model(task: pl.LightningModule, runtime: Runtime, contract: ProblemContract, output_dir: Path) -> None:
    """Replace ``task.model`` by ``runtime``'s module (its problem's main output of the same inputs), exported files
    into ``output_dir``; the eager runtime leaves the task's model as it is (aux outputs and the loss included)."""
    if isinstance(runtime, EagerRuntime):
        return
    inputs = contract.example_inputs(task.model, EXAMPLE_BATCH, *EXAMPLE_SIZE)
    task.model = runtime.prepare(task.model, inputs, contract.main_output, output_dir)


def lightning_evaluation(
    cfg: DictConfig,
    setup: DictConfig,
    contract: ProblemContract,
    checkpoint: Path | None,
    output_dir: Path,
    runtime: Runtime,
) -> EvaluationOutcome:
    """Score ``cfg.split`` with a Lightning trainer: the task rebuilt from ``setup`` with the checkpoint's weights and
    the evaluation choices of ``cfg``, its model run by ``runtime``; prediction panels into
    ``output_dir/predictions``."""
    datamodule = instantiate(OmegaConf.merge(setup.data, cfg.get("data_overrides") or {}))
    if not contract.evaluation_keeps_loss:
        setup = OmegaConf.merge(setup, {"loss": None})
    weights = None if checkpoint else setup.model.get(MODEL_WEIGHTS_KEY)
    if checkpoint:  # the checkpoint holds every weight; a fine-tuned run's starting weights are not read again
        setup = OmegaConf.merge(setup, {"model": {MODEL_WEIGHTS_KEY: None}})
    task = build_task(setup, datamodule, **contract.evaluation_arguments(cfg, datamodule))
    load_trained_weights(task, checkpoint, published=weights is not None)
    weights_file = weights_record(weights) if weights else None
    model_parameters, model_name = count_parameters(task.model), type(task.model).__name__
    deploy_model(task, runtime, contract, output_dir)
    callbacks = [task.evaluation_images(output_dir / "predictions", cfg.num_prediction_images)]
    callbacks += build_each({"progress_log": cfg.get("progress_log")})
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=False, callbacks=callbacks, enable_checkpointing=False)
    run_split = trainer.validate if cfg.split == "val" else trainer.test
    results = run_split(task, datamodule=datamodule, verbose=False)[0]
    source = {
        "model": None if checkpoint else OmegaConf.to_container(setup.model, resolve=True),
        "data": OmegaConf.to_container(setup.data, resolve=True),
        "split": cfg.split,
        "inference": OmegaConf.to_container(cfg.inference, resolve=True) if cfg.get("inference") else None,
        "postprocess": OmegaConf.to_container(cfg.postprocess, resolve=True) if cfg.get("postprocess") else None,
        "model_weights": weights_file,
        "runtime": runtime.describe(),
    }
    method = str(checkpoint) if checkpoint else model_name
    if weights_file:
        method = f"{method} with {weights_file['path']} ({weights_file['sha256']})"
    summary = {"method": method, "runtime": runtime.name}
    summary.update(contract.evaluation_summary(task))
    strategy = type(trainer.strategy).__name__
    device = device_info(cfg.trainer.accelerator, cfg.trainer.devices, strategy, trainer.precision)
    return EvaluationOutcome(
        contract.flat_metrics(results, task),
        source,
        contract.tables(task),
        summary,
        cfg.split,
        contract.sample_scores(task),
        model_parameters,
        device,
    )


def evaluated_config(
    cfg: DictConfig, setup: DictConfig, checkpoint: Path | None, run: Path | None, split: str
) -> DictConfig:
    """The evaluate run's config.yaml: the setup it evaluated (the trained run's config, or evaluate.py's task,
    model and data) with an ``evaluation`` node: the ``split`` scored, the inference mode and post-processing, the
    checkpoint and trained run, the published weights (``model.weights``) when no checkpoint was read, and the
    runtime that ran the model."""
    weights = None if checkpoint else OmegaConf.select(setup, f"model.{MODEL_WEIGHTS_KEY}", default=None)
    evaluation = {
        "split": split,
        "inference": cfg.get("inference"),
        "postprocess": cfg.get("postprocess"),
        "checkpoint": str(checkpoint.resolve()) if checkpoint else None,
        "run_dir": str(run.resolve()) if run else None,
        "model_weights": str(weights) if weights else None,
        "runtime": cfg.get("runtime"),
    }
    config = OmegaConf.create(OmegaConf.to_container(setup))  # unresolved copy, without the struct flag
    config.evaluation = evaluation
    return config


@reports_run_dir
def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Score ``cfg.split`` with a trained checkpoint or a method without training (problems that run their own
    evaluation, such as trackers, score the split their data config names); write config.yaml (the evaluated setup
    and an ``evaluation`` node), env.json, metrics.json, scores.npz (per-sample scores), source.json and the
    prediction panels into a new run directory, print the problem's tables and a summary."""
    if cfg.split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got '{cfg.split}'")
    output_dir = ensure_fresh(cfg.paths.output_dir)
    setup, checkpoint, run = evaluation_setup(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    contract = problem_contract(setup)
    runtime: Runtime = instantiate(cfg.runtime) if cfg.get("runtime") else EagerRuntime()
    if contract.runs_own_evaluation:
        if not isinstance(runtime, EagerRuntime):
            raise ValueError(
                f"task={contract.name} runs its own evaluation; runtime={runtime.name} applies to models evaluated by "
                "a Lightning trainer (segmentation, flow, reid): use runtime=eager"
            )
        outcome = contract.evaluate(setup, output_dir)
        source = outcome.source
    else:
        outcome = lightning_evaluation(cfg, setup, contract, checkpoint, output_dir, runtime)
        source = {
            "checkpoint": str(checkpoint.resolve()) if checkpoint else None,
            "run_dir": str(run.resolve()) if run else None,
            **outcome.source,
        }
    config = evaluated_config(cfg, setup, checkpoint, run, outcome.split)
    (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(config, resolve=True))
    device = outcome.device or device_info(cfg.trainer.accelerator, cfg.trainer.devices, "own loop", "n/a")
    environment = collect_environment(cfg.seed, device, PROJECT_DIR, outcome.model_parameters, contract.metric_code())
    write_json(environment, output_dir / "env.json")
    write_json(outcome.metrics, output_dir / "metrics.json")
    write_scores(output_dir, outcome.scores)
    write_json(source, output_dir / "source.json")
    rows = headline_row(contract, outcome.metrics) | outcome.summary | {"outputs": str(output_dir)}
    print_tables(*outcome.tables, summary_table(rows))
    return outcome.metrics
