"""``${vb_direction:}``: the Optuna direction (``maximize`` / ``minimize``) of the task's headline metric, so that
search configs (conf/hparams_search/) do not state it by hand."""

from omegaconf import DictConfig, ListConfig, OmegaConf

from visionbench.tasks.contract import problem_contract

OPTUNA_DIRECTIONS = {"max": "maximize", "min": "minimize"}


def headline_direction(*, _root_: DictConfig) -> str:
    """The direction of ``problem_contract(cfg).headline`` for the whole config ``_root_``.

    Raises ValueError when ``optimized_metric`` (what train() returns to the sweeper; of a list, a multi-objective
    search, the first entry) is not the headline metric, whose direction would then say nothing about it.
    """
    headline = problem_contract(_root_).headline
    optimized = OmegaConf.select(_root_, "optimized_metric")
    if isinstance(optimized, ListConfig):
        optimized = optimized[0] if optimized else None
    if optimized is not None and optimized.rsplit("/", 1)[-1] != headline.metric:
        raise ValueError(
            f"hydra.sweeper.direction=${{vb_direction:}} follows the headline metric '{headline.metric}' "
            f"({headline.direction}), but optimized_metric is '{optimized}': set hydra.sweeper.direction by hand"
        )
    return OPTUNA_DIRECTIONS[headline.direction]


def register_direction_resolver() -> None:
    """Register ``${vb_direction:}``."""
    if not OmegaConf.has_resolver("vb_direction"):
        OmegaConf.register_new_resolver("vb_direction", headline_direction)
