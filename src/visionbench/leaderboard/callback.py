"""A Hydra callback that prints the leaderboard of a multirun's jobs when the multirun ends (enabled in
conf/hydra/default.yaml) and keeps it as ``leaderboard.md`` in the sweep folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from visionbench.leaderboard.errors import LeaderboardError
from visionbench.leaderboard.output import write_outputs
from visionbench.leaderboard.render_markdown import render_markdown
from visionbench.leaderboard.runs import scan
from visionbench.leaderboard.table import Options, build_leaderboard, leaderboard_table

log = logging.getLogger(__name__)


class MultirunLeaderboard(Callback):
    """After all jobs of a multirun: the leaderboard of the runs in its sweep folder, printed and written to
    ``<sweep dir>/leaderboard.md``. A sweep whose runs cannot be ranked together (e.g. no job finished, or a sweep
    over evaluation protocols) logs why instead; the jobs' own outputs are untouched.

    Args:
        resamples: bootstrap resamples of the marks (fewer keep the end of a large sweep quick).
        percent: show ratios in percent.
    """

    def __init__(self, resamples: int = 1000, percent: bool = False) -> None:
        self.options = Options(resamples=resamples, percent=percent)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            board = build_leaderboard(scan([str(sweep_dir)]).runs, self.options)
        except LeaderboardError as error:
            log.warning("no leaderboard for the multirun in %s: %s", sweep_dir, error)
            return
        text = render_markdown(leaderboard_table(board))
        print(text, end="")
        for line in write_outputs(sweep_dir, "leaderboard", {".md": text}):
            log.info(line)
