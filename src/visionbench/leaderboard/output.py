"""Writing a leaderboard's files into a folder: atomically, and never over an existing file with other content."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from visionbench.utils.atomic import write_text_atomically


def _free(directory: Path, stem: str, contents: Mapping[str, str]) -> bool:
    """Whether every ``<stem><suffix>`` is absent or already holds the same text."""
    for suffix, text in contents.items():
        path = directory / f"{stem}{suffix}"
        if path.exists() and path.read_text(encoding="utf-8") != text:
            return False
    return True


def write_outputs(directory: Path, name: str, contents: Mapping[str, str]) -> list[str]:
    """Write ``contents`` (suffix -> text, e.g. ``{".md": ...}``) as ``<directory>/<name><suffix>``. A file that
    exists with the same text is left as it is; when one exists with other text, all are written as
    ``<name>_<k><suffix>`` with the first ``k`` that clashes with nothing. Returns one line per file saying what was
    done."""
    directory.mkdir(parents=True, exist_ok=True)
    stem, attempt = name, 0
    while True:
        if _free(directory, stem, contents):
            lines = []
            for suffix, text in contents.items():
                path = directory / f"{stem}{suffix}"
                if path.exists():
                    lines.append(f"unchanged {path}")
                elif write_text_atomically(path, text, replace=False):
                    lines.append(f"wrote {path}")
                else:
                    break
            else:
                if stem != name:
                    lines.append(f"({name}.* exist with other contents in {directory}: wrote {stem}.* instead)")
                return lines
        attempt += 1
        stem = f"{name}_{attempt}"
