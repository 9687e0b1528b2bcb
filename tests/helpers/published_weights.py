"""The published-weight format fixtures (copied unmodified from ../shared/fixtures/published_weights, README there):
random-weight checkpoints in other projects' exact formats with those projects' own outputs."""

from pathlib import Path

from tests.helpers import FIXTURES

PUBLISHED_WEIGHTS = FIXTURES / "published_weights"


def published(name: str) -> Path:
    """The fixture file ``name`` of tests/fixtures/published_weights (an error naming it if it is missing)."""
    path = PUBLISHED_WEIGHTS / name
    if not path.is_file():
        raise FileNotFoundError(
            f"published-weight fixture missing: {path} (copy of ../shared/fixtures/published_weights)"
        )
    return path
