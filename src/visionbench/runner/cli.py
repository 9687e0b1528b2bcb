"""Command-line checks Hydra does not make: unknown options of nested groups such as ``model=segmentation/x``.

Hydra lists the available options only for flat groups; for ``model=segmentation/no_such_net`` it says
"Could not find" without the list. This check runs before Hydra and prints every option below the group.
"""

import sys
from collections.abc import Sequence
from pathlib import Path

SWEEP_SYNTAX = ("(", "*", "[")


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


def exit_on_unknown_option(conf_dir: Path, arguments: Sequence[str] | None = None) -> None:
    """Print the available options and exit with status 1 when an argument names a missing one."""
    message = unknown_option_message(sys.argv[1:] if arguments is None else arguments, conf_dir)
    if message:
        print(message, file=sys.stderr)
        raise SystemExit(1)
