"""Optuna trials pruned from inside their jobs (visionbench.callbacks.optuna_pruning), failed trials recorded while
the study goes on, and a multi-objective search (hydra_plugins.visionbench_optuna.resumable_sweeper)."""

import json
import pickle
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml
from hydra.core.utils import JobReturn, JobStatus
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tests.helpers import TINY
from tests.runner.test_optuna_resume import run_search, trial_dirs

optuna = pytest.importorskip("optuna")
pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")

from optuna.trial import TrialState  # noqa: E402

from hydra_plugins.visionbench_optuna.resumable_sweeper import trial_outcome  # noqa: E402
from visionbench.callbacks.optuna_pruning import OptunaPruning, TrialPrunedAtEpoch  # noqa: E402

THRESHOLD_PRUNER = [  # prunes every trial at its first report: a val/mIoU above 2 is impossible
    "~callbacks.optuna_pruning.pruner",
    "+callbacks.optuna_pruning.pruner={_target_:optuna.pruners.ThresholdPruner,lower:2.0}",
]


class ScoredRegression(pl.LightningModule):
    """A linear regression that logs ``val/score`` = the negated validation loss after each validation epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        return nn.functional.mse_loss(self.layer(inputs), targets)

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        inputs, targets = batch
        self.log("val/score", -nn.functional.mse_loss(self.layer(inputs), targets))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit_with_pruning(storage: str, pruner: optuna.pruners.BasePruner, epochs: int = 3) -> optuna.trial.FrozenTrial:
    """Ask trial 0 of a new study in ``storage``, fit :class:`ScoredRegression` for ``epochs`` with the pruning
    callback on that trial (which may raise), validate once more after fitting, and return the trial as stored."""
    study = optuna.create_study(study_name="unit", storage=storage, direction="maximize")
    trial = study.ask()
    data = TensorDataset(torch.randn(16, 2), torch.randn(16, 1))
    loader = DataLoader(data, batch_size=8)
    callback = OptunaPruning(storage, "unit", trial.number, "val/score", pruner)
    trainer = pl.Trainer(
        max_epochs=epochs, callbacks=[callback], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=1,
    )  # fmt: skip
    module = ScoredRegression()
    trainer.fit(module, loader, loader)
    trainer.validate(module, loader, verbose=False)  # outside fitting: reports nothing
    return optuna.load_study(study_name="unit", storage=storage).trials[trial.number]


def test_callback_reports_each_validation_of_fitting_and_prunes_at_the_pruners_word(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    with pytest.raises(TrialPrunedAtEpoch) as raised:
        fit_with_pruning(storage, optuna.pruners.ThresholdPruner(lower=10.0, n_warmup_steps=1))
    error = raised.value
    assert isinstance(error, optuna.TrialPruned)
    assert (error.epoch, error.step, error.monitor) == (1, 4, "val/score")  # 2 batches per epoch
    trial = optuna.load_study(study_name="unit", storage=storage).trials[0]
    assert sorted(trial.intermediate_values) == [0, 1]  # the sanity check is not reported
    assert trial.intermediate_values[1] == pytest.approx(error.value)
    assert trial.state == TrialState.RUNNING  # the sweeper tells the outcome
    copy = pickle.loads(pickle.dumps(error))  # jobs of process-based launchers send it back pickled
    assert (copy.epoch, copy.step, copy.monitor, copy.value, str(copy)) == (1, 4, "val/score", error.value, str(error))


def test_callback_lets_a_trial_the_pruner_keeps_train_to_the_end(tmp_path: Path) -> None:
    trial = fit_with_pruning(f"sqlite:///{tmp_path / 'optuna.db'}", optuna.pruners.NopPruner(), epochs=3)
    assert sorted(trial.intermediate_values) == [0, 1, 2]  # the validation after fitting is not reported


def job(status: JobStatus, value: object) -> JobReturn:
    ret = JobReturn(overrides=["x=1"], status=status)
    ret.return_value = value
    return ret


def test_trial_outcome_of_each_kind_of_job() -> None:
    complete = trial_outcome(job(JobStatus.COMPLETED, 0.5), 1)
    assert complete == (TrialState.COMPLETE, [0.5], None)
    assert trial_outcome(job(JobStatus.COMPLETED, [0.5, 1200.0]), 2) == (TrialState.COMPLETE, [0.5, 1200.0], None)
    pruned = trial_outcome(job(JobStatus.FAILED, TrialPrunedAtEpoch("pruned at validation 0", epoch=0)), 1)
    assert pruned == (TrialState.PRUNED, None, "pruned at validation 0")
    failed = trial_outcome(job(JobStatus.FAILED, ValueError("depth must be >= 1, got 0")), 1)
    assert failed == (TrialState.FAIL, None, "ValueError: depth must be >= 1, got 0")
    for value, objectives, reason in [
        (float("nan"), 1, "not finite"), (None, 1, "not numbers"), ([0.5], 2, "expected 2 value(s)"),
    ]:  # fmt: skip
        state, values, message = trial_outcome(job(JobStatus.COMPLETED, value), objectives)
        assert (state, values) == (TrialState.FAIL, None) and reason in message


def tiny_without(*keys: str) -> list[str]:
    """The TINY settings less those of ``keys`` (which a test searches or sets otherwise)."""
    return [item for item in TINY if item.split("=", 1)[0] not in keys]


@pytest.mark.slow
def test_a_pruned_trial_is_pruned_in_the_study_at_its_last_step_and_in_its_run_status(tmp_path: Path) -> None:
    sweep = tmp_path / "search"
    storage = f"sqlite:///{sweep / 'optuna.db'}"
    sweep.mkdir()
    optuna.create_study(study_name="synthetic_unet", storage=storage, direction="maximize").ask()  # killed meanwhile
    arguments = ["hparams_search=synthetic_optuna", "hydra.sweeper.n_trials=1", "trainer.max_epochs=2"]
    result = run_search(sweep, [*arguments, *THRESHOLD_PRUNER], tiny_without("trainer.max_epochs"))
    assert result.returncode == 0, result.stderr[-4000:]  # pruned is not a failure

    abandoned, trial = optuna.load_study(study_name="synthetic_unet", storage=storage).trials
    assert abandoned.state == TrialState.FAIL  # left running by an earlier invocation: recorded failed, replaced
    assert trial.state == TrialState.PRUNED
    assert trial.last_step == 0 and list(trial.intermediate_values) == [0]  # stopped after its first epoch
    assert trial.value == pytest.approx(trial.intermediate_values[0])
    status = json.loads((trial_dirs(sweep)[trial.number] / "status.json").read_text())
    assert status["status"] == "pruned" and status["epoch"] == 0 and status["step"] == 2  # 16 images / 8 per batch
    assert f"trial {trial.number} pruned at validation 0" in status["reason"]
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_params"] is None and results["trials"] == {"fail": 1, "pruned": 1}


@pytest.mark.slow
def test_a_failing_trial_is_recorded_as_failed_and_the_study_goes_on(tmp_path: Path) -> None:
    sweep = tmp_path / "search"
    space = ["model.depth=choice(0,2)", "hydra.sweeper.n_trials=3"]  # searched beside params; UNet(depth=0) raises
    result = run_search(sweep, ["hparams_search=synthetic_optuna", *space], tiny_without("model.depth"))

    trials = optuna.load_study(study_name="synthetic_unet", storage=f"sqlite:///{sweep / 'optuna.db'}").trials
    assert len(trials) == 3
    states = {t.params["model.depth"]: set() for t in trials}
    for trial in trials:
        states[trial.params["model.depth"]].add(trial.state)
    assert states == {0: {TrialState.FAIL}, 2: {TrialState.COMPLETE}}, "the seeded sampler should draw both depths"
    failed = next(t for t in trials if t.state == TrialState.FAIL)
    status = json.loads((trial_dirs(sweep)[failed.number] / "status.json").read_text())
    assert status["status"] == "failed" and "depth must be >= 1" in status["traceback"]
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_params"]["model.depth"] == 2
    assert result.returncode == 1, result.stderr[-4000:]  # the multirun reports its failed job


@pytest.mark.slow
def test_multi_objective_search_keeps_the_pareto_front_of_miou_and_parameters(tmp_path: Path) -> None:
    sweep = tmp_path / "search"
    arguments = ["hparams_search=synthetic_optuna_pareto", "hydra.sweeper.n_trials=2"]
    result = run_search(sweep, arguments, tiny_without("model.depth"))
    assert result.returncode == 0, result.stderr[-4000:]

    study = optuna.load_study(study_name="synthetic_unet_pareto", storage=f"sqlite:///{sweep / 'optuna.db'}")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for trial in trials:
        (job_dir,) = [
            path.parent.parent
            for path in sweep.glob("*/.hydra/overrides.yaml")
            if f"model.depth={trial.params['model.depth']}" in path.read_text()
            and f"optim.lr={trial.params['optim.lr']}" in path.read_text()
        ]
        metrics = json.loads((job_dir / "metrics.json").read_text())
        parameters = json.loads((job_dir / "env.json").read_text())["model_parameters"]
        assert trial.values == pytest.approx([metrics["val/mIoU"], parameters])
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    front = {tuple(solution["values"]) for solution in results["solutions"]}
    assert front == {tuple(t.values) for t in study.best_trials} and front
