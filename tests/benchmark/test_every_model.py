"""The benchmark runs for every model config under conf/model/ (found by a glob), at a tiny size, in this process:
one fp32 eager record each, measured, with the columns a model of its kind has."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf, open_dict

from tests.helpers import TINY_DATA, compose_config
from tests.helpers.models import model_config_names
from visionbench.benchmark.job import Job, run_job
from visionbench.benchmark.measure import Options
from visionbench.benchmark.records import COLUMNS, OK
from visionbench.benchmark.run import model_jobs
from visionbench.benchmark.settings import settings_grid
from visionbench.runner.errors import ConfigError

UNTRAINED_ENCODER = [
    "~model.encoder",
    "+model.encoder._target_=visionbench.models.tracking.appearance.AppearanceEncoder",
    "+model.encoder.network._target_=visionbench.models.tracking.appearance.AppearanceNet",
    "+model.encoder.network.width=8",
    "+model.encoder.network.input_size=[16,8]",
]
"""DeepSORT's encoder without a trained re-identification run (the speed does not depend on the weights)."""
TASK = {"tracking/appearance": "reid", "tracking/sort": "tracking", "tracking/deepsort": "tracking"}
SIZE = {"segmentation": 32, "flow": 64, "tracking": 64}
PROBLEMS = ("segmentation", "flow", "tracking")
MODELS = [f"{problem}/{name}" for problem in PROBLEMS for name in model_config_names(problem)]


def benchmark_job(tmp_path: Path, model: str, size: int) -> Job:
    overrides = [f"task={TASK.get(model, model.split('/')[0])}", f"model={model}", "model_size=small"]
    overrides += UNTRAINED_ENCODER if model == "tracking/deepsort" else []
    cfg = compose_config("benchmark", overrides, tmp_path / "run")
    with open_dict(cfg):
        for key in ("eval_iters", "iters"):  # iterative flow networks: two refinement steps suffice here
            if key in cfg.model:
                cfg.model[key] = 2
    (job,) = model_jobs(cfg)
    settings = settings_grid(["fp32"], ["contiguous"], ["eager"], [1], [[size, size]])
    return Job(**job, settings=settings, options=Options(warmup=1, repeats=1, time_cap_s=60))


@pytest.mark.parametrize("model", MODELS)
def test_every_model_config_gets_a_measured_record(tmp_path: Path, model: str, one_torch_thread: None) -> None:
    size = SIZE[model.split("/")[0]]
    (record,) = list(run_job(benchmark_job(tmp_path, model, size)))
    assert set(record) <= set(COLUMNS) and record["model"] == model
    assert record["status"] == OK, record["reason"]
    assert record["latency_p50_ms"] > 0 and record["samples_per_s"] > 0 and record["timed_calls"] >= 1
    assert record["env_torch"] and record["env_threads"] == 1
    outside_torch = model == "tracking/sort" or (model.startswith("flow/") and record["parameters"] == 0)
    if outside_torch:  # numpy/OpenCV methods: nothing for the FLOP counter to see
        assert record["flops"] is None and record["uncounted_ops"].startswith("n/a")
    else:
        assert record["flops"] > 0 and record["macs"] * 2 <= record["flops"] <= record["macs"] * 2 + 1
    if model != "tracking/appearance":  # re-identification crops keep the network's input size
        assert (record["height"], record["width"]) == (size, size)


def test_a_training_runs_model_is_benchmarked_under_its_config_name(tmp_path: Path) -> None:
    run = tmp_path / "train"
    (run / ".hydra").mkdir(parents=True)
    trained = compose_config("train", [*TINY_DATA, "model=segmentation/pspnet", "model_size=small"], run)
    OmegaConf.save(trained, run / "config.yaml", resolve=True)
    OmegaConf.save({"hydra": {"runtime": {"choices": {"model": "segmentation/pspnet"}}}}, run / ".hydra" / "hydra.yaml")
    (job,) = model_jobs(compose_config("benchmark", [f"run_dir={run}"], tmp_path / "benchmark"))
    assert job["name"] == "segmentation/pspnet" and job["model"] == OmegaConf.to_container(trained.model)
    assert job["task"] == trained.task._target_ and list(job["facts"]) == ["num_classes"]
    with pytest.raises(ConfigError, match=r"run_dir=.*config.yaml not found"):
        model_jobs(compose_config("benchmark", [f"run_dir={tmp_path}"], tmp_path / "benchmark"))
