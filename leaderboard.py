"""Compare runs: `python leaderboard.py <run dirs or globs> [--by KEY ...] [--out DIR]`, or reproduce a paper table:
`python leaderboard.py --table <name> <runs>` (see src/visionbench/leaderboard/cli.py and `--help`)."""

from visionbench.leaderboard.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
