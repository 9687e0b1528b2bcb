"""``seeds=N``: the short form of ``seed=1,...,N`` (N repetitions of every other combination of a grid)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from visionbench.runner.errors import ConfigError
from visionbench.sweeps.names import override_key

SEEDS_KEY = "seeds"
SEED_KEY = "seed"


def _count(value: Any) -> int | None:
    """The number of seeds ``seeds=<value>`` asks for; None for null."""
    if value is None or str(value).strip().lower() in ("null", "none", ""):
        return None
    try:
        count = int(str(value))
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigError(f"seeds={value}: expected a whole number of seeds >= 1 (seeds=3 runs seed=1,2,3)")
    return count


def expand_seeds(arguments: Sequence[str], configured: Any = None) -> list[str]:
    """``arguments`` with ``seeds=N`` (or, when no argument sets it, the config's ``seeds``: ``configured``)
    replaced by ``seed=1,...,N``; unchanged when seeds is null. Refuses ``seeds`` with a list of values or together
    with ``seed``."""
    given = [argument for argument in arguments if override_key(argument) == SEEDS_KEY]
    rest = [argument for argument in arguments if override_key(argument) != SEEDS_KEY]
    if len(given) > 1 or any("," in argument for argument in given):
        raise ConfigError(f"{' '.join(given)}: seeds takes one number N (it runs seed=1..N); to sweep seeds use seed=")
    count = _count(given[0].partition("=")[2] if given else configured)
    if count is None:
        return rest
    if any(override_key(argument) == SEED_KEY for argument in rest):
        raise ConfigError(f"seeds={count} runs seed=1..{count}: it cannot be combined with seed= (use one of them)")
    return [*rest, f"{SEED_KEY}={','.join(str(seed) for seed in range(1, count + 1))}"]
