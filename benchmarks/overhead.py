"""Framework overhead: training steps/s of the Lightning SegmentationTask vs a bare PyTorch loop.

Both loops train the same model (fresh copies from one initialisation), with the same data loader, batch
size, loss, optimiser and LR schedule, in the same process; they alternate over several rounds, and the
per-round ratios (each Lightning round against the bare round just before it, so slow drifts of a noisy
machine cancel) are summarised by their median. The Lightning run uses the default config's logger and
callbacks (progress bar included) with validation switched off, so what is measured is the cost of the
framework around a training step. Prints ``ratio = lightning / bare`` (target >= 0.95).

    python benchmarks/overhead.py [--steps 60] [--rounds 3] [hydra overrides ...]
"""

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

import visionbench.runner  # noqa: F401  (registers resolvers)
from visionbench.runner.builders import build_each, build_task

CONF = Path(__file__).resolve().parents[1] / "conf"


class StepTimer(pl.Callback):
    """Wall time from the start of training batch ``warmup`` to the end of the last batch."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.started = 0.0
        self.ended = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.ended = time.perf_counter()


def compose_config(overrides: list[str], output_dir: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = output_dir
    return cfg


def bare_loop_steps_per_second(cfg: DictConfig, datamodule, task: pl.LightningModule, steps: int, warmup: int) -> float:
    """The loop a researcher would write by hand around the same objects."""
    model, loss = task.model, task.loss
    optimizer = instantiate(cfg.optim)(model.parameters())
    scheduler = instantiate(cfg.sched)(optimizer, total_steps=steps)
    model.train()
    loss.set_epoch(0)
    loader = datamodule.train_dataloader()
    done, started = 0, 0.0
    while done < steps:
        for batch in loader:
            if done == warmup:
                started = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            total, _ = loss(model(batch["image"]), batch["mask"])
            total.backward()
            optimizer.step()
            scheduler.step()
            done += 1
            if done == steps:
                break
    return (steps - warmup) / (time.perf_counter() - started)


def lightning_steps_per_second(cfg: DictConfig, datamodule, task: pl.LightningModule, steps: int, warmup: int) -> float:
    timer = StepTimer(warmup)
    callbacks = [c for c in build_each(cfg.get("callbacks")) if hasattr(c, "on_train_batch_end")]
    trainer = instantiate(
        cfg.trainer, max_steps=steps, max_epochs=-1, limit_val_batches=0, num_sanity_val_steps=0,
        callbacks=[*callbacks, timer], logger=build_each(cfg.get("logger")) or False, enable_checkpointing=False,
    )  # fmt: skip
    trainer.fit(task, datamodule=datamodule)
    return (steps - warmup) / (timer.ended - timer.started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose_config([*args.overrides, "callbacks=default"], output_dir)
        with open_dict(cfg):
            del cfg.callbacks.model_checkpoint  # checkpoint saving happens at validation, not per step
        pl.seed_everything(cfg.seed)
        datamodule = instantiate(cfg.data)
        datamodule.setup("fit")
        initial = build_task(cfg, datamodule)
        bare, framework = [], []
        for _ in range(args.rounds):
            bare.append(bare_loop_steps_per_second(cfg, datamodule, copy.deepcopy(initial), args.steps, args.warmup))
            framework.append(
                lightning_steps_per_second(cfg, datamodule, copy.deepcopy(initial), args.steps, args.warmup)
            )
    bare_median, framework_median = statistics.median(bare), statistics.median(framework)
    paired = statistics.median(f / b for f, b in zip(framework, bare, strict=True))
    print(f"torch threads: {torch.get_num_threads()}, steps per round: {args.steps} ({args.warmup} warm-up)")
    print(f"bare PyTorch loop : {bare_median:.2f} steps/s  (rounds: {', '.join(f'{v:.2f}' for v in bare)})")
    print(f"Lightning task    : {framework_median:.2f} steps/s  (rounds: {', '.join(f'{v:.2f}' for v in framework)})")
    print(f"ratio of medians (Lightning / bare) = {framework_median / bare_median:.3f}")
    print(f"ratio (median of per-round Lightning / bare, rounds interleaved) = {paired:.3f}   target >= 0.95")


if __name__ == "__main__":
    main()
