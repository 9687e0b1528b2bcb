"""``seeds=N`` expanded by the grid sweeper, and the sweep configuration every -m run composes."""

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from tests.helpers import CONF
from visionbench.runner.cli import invalid_seeds_message
from visionbench.runner.errors import ConfigError
from visionbench.sweeps.seeds import expand_seeds


def test_seeds_becomes_a_sweep_over_seed() -> None:
    assert expand_seeds(["loss=ce,dice", "seeds=3"]) == ["loss=ce,dice", "seed=1,2,3"]
    assert expand_seeds(["loss=ce"], configured=2) == ["loss=ce", "seed=1,2"]  # seeds set by an experiment config
    assert expand_seeds(["loss=ce", "seeds=null"], configured=None) == ["loss=ce"]
    assert expand_seeds(["seed=7"]) == ["seed=7"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["seeds=0"], "seeds=0: expected a whole number of seeds >= 1"),
        (["seeds=abc"], "seeds=abc: expected a whole number"),
        (["seeds=2,3"], "seeds takes one number N"),
        (["seeds=2", "seed=5"], "cannot be combined with seed="),
    ],
)
def test_bad_seeds_are_refused(arguments: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        expand_seeds(arguments)


@pytest.mark.parametrize("config_name", ["train", "evaluate"])
def test_multiruns_use_the_resumable_grid_sweeper_and_end_with_the_summary(config_name: str) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name, return_hydra_config=True)
    assert cfg.hydra.sweeper._target_ == "hydra_plugins.visionbench_sweepers.grid_sweeper.ResumableGridSweeper"
    # Hydra calls on_multirun_end hooks in reverse order: the summary (which may exit) must come first to run last
    assert list(cfg.hydra.callbacks)[:2] == ["sweep_summary", "leaderboard"]
    assert cfg.seeds is None


def test_a_search_config_still_selects_its_own_sweeper() -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", ["hparams_search=synthetic_optuna"], return_hydra_config=True)
    assert "Optuna" in cfg.hydra.sweeper._target_


def test_bad_seeds_on_the_command_line_are_refused_before_hydra_starts() -> None:
    assert invalid_seeds_message(["-m", "seeds=0"]).startswith("seeds=0: expected a whole number")
    assert invalid_seeds_message(["-m", "seeds=2", "loss=ce,dice"]) is None
