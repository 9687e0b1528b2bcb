"""What the entry points (train.py, evaluate.py, check_dataset.py) add to Hydra: command-line errors in few lines.

- An unknown option of a nested group (``model=segmentation/no_such_net``) lists every option below the group; Hydra
  lists them only for flat groups.
- An unknown key (``model.depthh=4``, ``+model.depthh=4``) or a value of the wrong type (``data.batch_size=abc``)
  fails before the run starts with one line naming the key, the value and the closest valid key or the expected type,
  instead of Hydra's multi-line message or a traceback from deep inside instantiation.
- A config, dataset layout or dataset format error during a run (:data:`~visionbench.runner.errors.USER_ERRORS`)
  prints its message without a traceback (the run's log file keeps it) and exits with status 1; in a job of a
  multirun it is recorded in the job's status.json and the sweep goes on.
- ``seeds=N`` (N runs: seed=1..N) is refused in one line without ``-m``, or when N is not a whole number >= 1.
- Before Hydra writes anything (:mod:`~visionbench.runner.launch_checks`): ``hydra.run.dir=<a folder holding a run>``
  is refused, so nothing of that run is rewritten, and an output location that cannot be created or written
  (``paths.log_dir`` read-only, or under a file) is named in one line.
- A run stopped by a signal or by divergence (:class:`~visionbench.runner.status.RunStopped`) prints one line with its
  run directory and exits with the error's status: 128 + the signal number (143 SIGTERM, 130 SIGINT) for an
  interrupted run, 1 for a diverged one.

With ``HYDRA_FULL_ERROR=1`` the config and dataset errors are left to Hydra, which then shows complete tracebacks.
"""

import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, HydraException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from visionbench.runner.config_check import check_arguments, unknown_key_message
from visionbench.runner.errors import USER_ERRORS, ConfigError, record_refused_run
from visionbench.runner.launch_checks import occupied_run_dir_message, unwritable_output_message
from visionbench.runner.status import INTERRUPTED, RunStopped
from visionbench.sweeps.seeds import expand_seeds

SWEEP_SYNTAX = ("(", "*", "[")
# flags after which the command line is not one config composed from conf/<name>.yaml: left to Hydra
OTHER_COMMAND_LINES = frozenset(
    {"-m", "--multirun", "-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir", "--experimental-rerun",
     "-sc", "--shell-completion"}
)  # fmt: skip
Result = TypeVar("Result")


def group_options(conf_dir: Path, group: str) -> list[str]:
    """Every option of ``group``, nested ones as ``sub/name``."""
    root = conf_dir / group
    return sorted(path.relative_to(root).with_suffix("").as_posix() for path in root.rglob("*.yaml"))


def unknown_option_message(arguments: Sequence[str], conf_dir: Path) -> str | None:
    """A message naming the first ``group=option`` argument whose option file does not exist, else None."""
    for argument in arguments:
        key, separator, value = argument.partition("=")
        if not separator or key.startswith(("+", "~", "hydra")) or any(s in value for s in SWEEP_SYNTAX):
            continue
        if not (conf_dir / key).is_dir() or value in ("null", ""):
            continue
        options = group_options(conf_dir, key)
        missing = [choice for choice in value.split(",") if choice not in options]
        if missing:
            listing = "\n\t".join(options)
            return f"Could not find '{key}/{missing[0]}'\n\nAvailable options in '{key}':\n\t{listing}"
    return None


def full_error() -> bool:
    """Whether the user asked Hydra for complete tracebacks (``HYDRA_FULL_ERROR=1``)."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def exit_with_error(message: str) -> NoReturn:
    """Print ``<script>: error: <message>`` on stderr and exit with status 1."""
    print(f"{Path(sys.argv[0]).name}: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def _override_value(overrides: Sequence[str], key: str) -> Any:
    """The value that ``overrides`` give to ``key`` (as Hydra parses it)."""
    values = {override.key_or_group: override for override in OverridesParser.create().parse_overrides(overrides)}
    return values[key].value() if key in values else None


def composition_error_message(error: ConfigCompositionException, overrides: Sequence[str]) -> str | None:
    """One line for an override of a key the config does not have; None for any other composition error."""
    cause = error.__cause__
    if not isinstance(cause, ConfigAttributeError | ConfigKeyError) or not cause.full_key:
        return None
    parent = cause.parent_node
    valid = [str(key) for key in parent.keys()] if isinstance(parent, DictConfig) else []
    return unknown_key_message(cause.full_key, _override_value(overrides, cause.full_key), valid)


def invalid_command_line_message(
    conf_dir: Path, config_name: str, arguments: Sequence[str], writes_run_dir: bool = True
) -> str | None:
    """One line for the first unknown key or wrongly typed value set by ``arguments``, composing
    ``conf_dir/<config_name>.yaml`` as the entry point would, or (``writes_run_dir``) for a run directory that cannot
    be created; None when the config is valid, or when composition fails for another reason or cannot be done here
    (sweeps, another config): Hydra reports those."""
    if any(argument.partition("=")[0] in OTHER_COMMAND_LINES for argument in arguments):
        return None
    overrides = [a for a in arguments if not a.startswith("-") and ("=" in a or a.startswith("~"))]
    try:
        with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base="1.3"):
            cfg = compose(config_name, overrides=overrides)
    except ConfigCompositionException as error:
        return composition_error_message(error, overrides)
    except (HydraException, OmegaConfBaseException):
        return None
    try:
        check_arguments(cfg)
        check_single_run(cfg)
    except ConfigError as error:
        return str(error)
    return unwritable_output_message(cfg, arguments) if writes_run_dir else None


def invalid_seeds_message(arguments: Sequence[str]) -> str | None:
    """One line for a ``seeds=`` argument that is not one whole number >= 1 (or that comes with ``seed=``), else
    None; checked before Hydra starts, for single runs and multiruns alike."""
    try:
        expand_seeds([argument for argument in arguments if "=" in argument and not argument.startswith("-")])
    except ConfigError as error:
        return str(error)
    return None


def exit_on_invalid_command_line(
    conf_dir: Path, config_name: str, arguments: Sequence[str] | None = None, writes_run_dir: bool = True
) -> None:
    """Before Hydra starts a run: list the options of a group when an argument names a missing one, or print one line
    for a ``hydra.run.dir`` holding a run, an unknown key, a wrongly typed value, a bad ``seeds=`` or an output
    location that cannot be written; exit with status 1 in these cases."""
    arguments = sys.argv[1:] if arguments is None else arguments
    options = unknown_option_message(arguments, conf_dir)
    if options:
        print(options, file=sys.stderr)
        raise SystemExit(1)
    occupied = occupied_run_dir_message(arguments)
    if occupied:
        exit_with_error(occupied)
    if full_error():
        return
    message = invalid_seeds_message(arguments) or invalid_command_line_message(
        conf_dir, config_name, arguments, writes_run_dir
    )
    if message:
        exit_with_error(message)


def in_multirun() -> bool:
    """Whether this process runs a job of a multirun (``-m``)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def check_single_run(cfg: DictConfig) -> None:
    """Refuse ``seeds=N`` outside a multirun: it stands for N runs (``seed=1..N``), which only a sweep launches."""
    if cfg.get("seeds") is not None:
        raise ConfigError(
            f"seeds={cfg.seeds} asks for {cfg.seeds} runs (seed=1..{cfg.seeds}), which only a multirun launches: "
            "add -m (e.g. python train.py -m seeds=3), or set seed=<n> for one run"
        )


def entry_point(run: Callable[[DictConfig], Result]) -> Callable[[DictConfig], Result]:
    """Wrap an entry point's Hydra task function: check ``cfg`` against the targets it builds, then run it.

    A user error (a config, dataset layout or dataset format error) in a single run prints one
    ``<script>: error: ...`` message and exits with status 1, without a traceback. In a job of a multirun it is
    raised instead, so that Hydra's launcher returns it as that job's failure and the sweep goes on (a ``SystemExit``
    would end the whole sweep); an error found before the run starts is recorded in the job's ``status.json``
    (errors during the run are recorded by :func:`~visionbench.runner.errors.reports_run_dir`).

    A run stopped by a signal or by divergence (:class:`~visionbench.runner.status.RunStopped`) prints one line with
    its run directory and exits with the error's exit status; in a multirun a diverged job is raised (the sweep goes
    on) and an interrupted one ends the sweep (the signal was meant for the whole process)."""

    @functools.wraps(run)
    def wrapper(cfg: DictConfig) -> Result:
        multirun = in_multirun()
        try:
            try:
                check_arguments(cfg)
                if not multirun:
                    check_single_run(cfg)
            except USER_ERRORS as error:
                if multirun:
                    record_refused_run(Path(HydraConfig.get().runtime.output_dir), error)
                raise
            return run(cfg)
        except RunStopped as error:
            if multirun and error.status != INTERRUPTED:
                raise
            shown = str(error) if error.status == INTERRUPTED else f"{error.status}: {error}"
            print(f"{Path(sys.argv[0]).name}: {shown} (run directory: {cfg.paths.output_dir})", file=sys.stderr)
            raise SystemExit(error.exit_code) from None
        except USER_ERRORS as error:
            if multirun or full_error():
                raise
            exit_with_error(str(error))

    return wrapper
