"""Leaderboards built from run directories only: seeds averaged, paired bootstrap marks, protocol checks, paper
tables of published numbers next to reproduced ones; rendered as markdown, CSV and a standalone HTML page.
Entry point: ``leaderboard.py`` (:mod:`visionbench.leaderboard.cli`); multiruns print theirs through
:class:`visionbench.leaderboard.callback.MultirunLeaderboard`."""
