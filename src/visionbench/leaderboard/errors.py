"""Errors the leaderboard reports by their message alone: each names the file, key or run that is at fault."""


class LeaderboardError(ValueError):
    """A run directory, paper table, benchmark file or option the leaderboard cannot use as given."""


class MixedRunsError(LeaderboardError):
    """Runs that must not share one column: different problems, datasets, splits or evaluation protocols. The message
    names the differing key and the runs on each side."""
