"""MOTChallenge text formats: ground truth, detections, tracker results, `seqinfo.ini` and sequence maps.

Column layouts (comma separated, one box per line, frames 1-based, boxes as left, top, width, height in pixels):
- MOT15 ground truth, detections and results: 10 columns ``frame, id, left, top, width, height, conf, x, y, z``
  (world coordinates -1). Detections may also have 7 columns (``frame, -1, left, top, width, height, score``).
- MOT16/17/20 ground truth: 9 columns ``frame, id, left, top, width, height, flag, class, visibility`` where
  ``flag`` 0 marks boxes to ignore and ``class`` 1 is pedestrian (2-13 are other classes, 8 distractor, 12 reflection).

Rows need not be sorted: every table is returned sorted by frame (stable, so equal frames keep file order).
A malformed row raises :class:`~visionbench.data.errors.DatasetFormatError` naming the file, the 1-based line
number and what was expected.
"""

from __future__ import annotations

import configparser
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from visionbench.data.errors import DatasetFormatError, DatasetLayoutError

TableKind = Literal["gt", "det", "result"]
MAX_INTEGER = 2**31 - 1
"""Largest frame, id or class accepted in a MOTChallenge file (larger is a corrupt line, not a real number)."""
MAX_SEQ_LENGTH = 1_000_000
"""Largest ``seqLength`` accepted in ``seqinfo.ini`` (frames are indexed up to it, so a corrupt value is refused)."""
MAX_IMAGE_SIDE = 100_000

_COLUMN_COUNTS: dict[str, tuple[int, ...]] = {"gt": (9, 10), "det": (7, 10), "result": (6, 7, 8, 9, 10)}
_EXPECTED: dict[str, str] = {
    "gt": "9 columns (frame,id,left,top,width,height,flag,class,visibility) or 10 (MOT15: ...,conf,x,y,z)",
    "det": "7 columns (frame,-1,left,top,width,height,score) or 10 (...,score,x,y,z)",
    "result": "frame,id,left,top,width,height[,conf,x,y,z] (6 to 10 columns)",
}


@dataclass(frozen=True)
class MotTable:
    """The rows of one MOTChallenge file, sorted by frame.

    ``confidences`` is the detection score (det), the tracker's confidence (result) or the ``flag`` column
    (MOT16/17/20 gt: 0 = ignore; MOT15 gt: the conf column, 1). ``classes`` is 1 (pedestrian) where the file has
    no class column; ``visibilities`` is 1 where it has none. ``line_numbers`` are 1-based lines in ``source``.
    """

    source: Path
    frames: np.ndarray  # (N,) int64
    ids: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float64 left, top, width, height
    confidences: np.ndarray  # (N,) float64
    classes: np.ndarray  # (N,) int64
    visibilities: np.ndarray  # (N,) float64
    line_numbers: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.frames)

    def frame_rows(self, num_frames: int) -> list[np.ndarray]:
        """Row indices of each frame 1..num_frames (index ``f - 1``); rows beyond ``num_frames`` are an error."""
        if len(self) and self.frames[-1] > num_frames:
            late = int(np.argmax(self.frames > num_frames))
            raise DatasetFormatError(
                f"{self.source}:{self.line_numbers[late]}: frame {self.frames[late]} is beyond the sequence length "
                f"{num_frames} (seqinfo.ini seqLength)"
            )
        bounds = np.searchsorted(self.frames, np.arange(1, num_frames + 2))
        return [np.arange(bounds[f], bounds[f + 1]) for f in range(num_frames)]

    def select(self, rows: np.ndarray) -> MotTable:
        """The table restricted to ``rows`` (indices or boolean mask), order kept."""
        return MotTable(
            self.source,
            self.frames[rows],
            self.ids[rows],
            self.boxes[rows],
            self.confidences[rows],
            self.classes[rows],
            self.visibilities[rows],
            self.line_numbers[rows],
        )


def read_mot_table(path: str | Path, kind: TableKind) -> MotTable:
    """Read a ground-truth, detection or result file; see the module docstring for the layouts."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"{path}: MOTChallenge {kind} file not found")
    values, line_numbers = _parse_rows(path, kind)
    if values.shape[0] == 0:
        values = np.zeros((0, 10))
    columns = values.shape[1]
    frames = values[:, 0]
    _require_integers(path, line_numbers, frames, "frame")
    _require_integers(path, line_numbers, values[:, 1], "id")
    if (bad := np.flatnonzero(frames < 1)).size:
        raise DatasetFormatError(f"{path}:{line_numbers[bad[0]]}: frame {frames[bad[0]]:g}; frames are numbered from 1")
    nine_column_gt = kind == "gt" and columns == 9
    confidences = values[:, 6] if columns > 6 else np.ones(len(values))
    classes = values[:, 7] if nine_column_gt else np.ones(len(values))
    if nine_column_gt:
        _require_integers(path, line_numbers, classes, "class")
    visibilities = values[:, 8] if nine_column_gt else np.ones(len(values))
    order = np.argsort(frames, kind="stable")
    table = MotTable(
        source=path,
        frames=frames.astype(np.int64)[order],
        ids=values[:, 1].astype(np.int64)[order],
        boxes=values[:, 2:6][order],
        confidences=confidences[order],
        classes=classes.astype(np.int64)[order],
        visibilities=visibilities[order],
        line_numbers=line_numbers[order],
    )
    if kind != "det":
        _require_unique_ids_per_frame(table)
    return table


def read_utf8_text(path: Path, what: str) -> str:
    """The text of ``path``; :class:`DatasetFormatError` naming the file and the first bad byte when it is not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise DatasetFormatError(
            f"{path}: not a UTF-8 text {what} (byte {error.object[error.start]:#04x} at offset {error.start})"
        ) from None


def _parse_rows(path: Path, kind: TableKind) -> tuple[np.ndarray, np.ndarray]:
    """``(values (N, columns), 1-based line numbers)`` of the non-blank lines. Well-formed comma-separated files
    take numpy's fast reader; anything else goes through :func:`_parse_rows_checked`, which names the bad line."""
    text = read_utf8_text(path, f"MOTChallenge {kind} file")
    line_numbers = np.asarray([n for n, line in enumerate(text.splitlines(), start=1) if line.strip()], np.int64)
    if not len(line_numbers):
        return np.zeros((0, 0)), line_numbers
    try:
        values = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError:
        return _parse_rows_checked(path, kind)
    if (
        values.shape[0] != len(line_numbers)
        or values.shape[1] not in _COLUMN_COUNTS[kind]
        or not np.isfinite(values).all()
    ):
        return _parse_rows_checked(path, kind)
    return values, line_numbers


def _parse_rows_checked(path: Path, kind: TableKind) -> tuple[np.ndarray, np.ndarray]:
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    width: int | None = None
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            fields = [field.strip() for field in text.replace(" ", ",").split(",") if field.strip()]
            if len(fields) not in _COLUMN_COUNTS[kind]:
                raise DatasetFormatError(f"{path}:{number}: {len(fields)} columns, expected {_EXPECTED[kind]}")
            if width is not None and len(fields) != width:
                raise DatasetFormatError(
                    f"{path}:{number}: {len(fields)} columns where the lines before have {width}; "
                    f"expected {_EXPECTED[kind]}"
                )
            width = len(fields)
            try:
                rows.append([float(field) for field in fields])
            except ValueError:
                bad = next(field for field in fields if not _is_number(field))
                raise DatasetFormatError(f"{path}:{number}: non-numeric field {bad!r}; expected numbers") from None
            line_numbers.append(number)
    values = np.asarray(rows, dtype=np.float64).reshape(len(rows), width or 0)
    if not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
        raise DatasetFormatError(f"{path}:{line_numbers[row]}: non-finite value; expected finite numbers")
    return values, np.asarray(line_numbers, dtype=np.int64)


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _require_integers(path: Path, line_numbers: np.ndarray, column: np.ndarray, name: str) -> None:
    if (bad := np.flatnonzero(column != np.round(column))).size:
        raise DatasetFormatError(f"{path}:{line_numbers[bad[0]]}: {name} {column[bad[0]]:g} is not an integer")
    if (bad := np.flatnonzero(np.abs(column) > MAX_INTEGER)).size:
        raise DatasetFormatError(
            f"{path}:{line_numbers[bad[0]]}: {name} {column[bad[0]]:g} is out of range (|{name}| <= {MAX_INTEGER})"
        )


def _require_unique_ids_per_frame(table: MotTable) -> None:
    keys = table.frames * (int(table.ids.max(initial=0)) - int(table.ids.min(initial=0)) + 1) + table.ids
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    if (duplicated := np.flatnonzero(counts > 1)).size:
        rows = np.flatnonzero(keys == keys[first[duplicated[0]]])
        lines = ", ".join(str(n) for n in np.sort(table.line_numbers[rows]))
        raise DatasetFormatError(
            f"{table.source}:{table.line_numbers[rows].max()}: id {table.ids[rows[0]]} appears more than once in "
            f"frame {table.frames[rows[0]]} (lines {lines}); an id names one box per frame"
        )


def write_results(
    path: str | Path, frames: np.ndarray, ids: np.ndarray, boxes: np.ndarray, confidences: np.ndarray | None = None
) -> Path:
    """Write tracker output in the official results format ``frame,id,left,top,width,height,conf,-1,-1,-1``
    (two decimals, as the MOTChallenge devkit and the SORT reference write it). Refuses to overwrite a file."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists; results are never overwritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    confidences = np.ones(len(frames)) if confidences is None else confidences
    order = np.lexsort((ids, frames))
    with path.open("w") as handle:
        for row in order:
            left, top, width, height = boxes[row]
            handle.write(
                f"{int(frames[row])},{int(ids[row])},{left:.2f},{top:.2f},{width:.2f},{height:.2f},"
                f"{confidences[row]:.2f},-1,-1,-1\n"
            )
    return path


@dataclass(frozen=True)
class SequenceInfo:
    """The ``[Sequence]`` section of a MOTChallenge ``seqinfo.ini``."""

    name: str
    im_dir: str
    frame_rate: float
    seq_length: int
    im_width: int
    im_height: int
    im_ext: str


_SEQINFO_KEYS = {
    "name": str,
    "imDir": str,
    "frameRate": float,
    "seqLength": int,
    "imWidth": int,
    "imHeight": int,
    "imExt": str,
}


def read_seqinfo(path: str | Path) -> SequenceInfo:
    """Read ``seqinfo.ini``; a missing file, section or key, or a non-numeric number, names the file and key."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(
            f"{path}: seqinfo.ini not found (expected <sequence>/seqinfo.ini with a [Sequence] section)"
        )
    parser = configparser.ConfigParser(interpolation=None)  # values are taken literally ('%' included)
    parser.optionxform = str  # keys are camelCase
    try:
        parser.read_string(read_utf8_text(path, "seqinfo.ini"), source=str(path))
    except configparser.Error as error:
        raise DatasetFormatError(f"{path}: not an ini file ({error})") from error
    if "Sequence" not in parser:
        raise DatasetFormatError(f"{path}: no [Sequence] section")
    section = parser["Sequence"]
    values: dict[str, object] = {}
    for key, convert in _SEQINFO_KEYS.items():
        if key not in section:
            raise DatasetFormatError(f"{path}: [Sequence] has no key {key!r}; expected {', '.join(_SEQINFO_KEYS)}")
        try:
            values[key] = convert(section[key])
        except ValueError:
            raise DatasetFormatError(f"{path}: {key}={section[key]!r} is not a {convert.__name__}") from None
    limits = {"seqLength": MAX_SEQ_LENGTH, "imWidth": MAX_IMAGE_SIDE, "imHeight": MAX_IMAGE_SIDE}
    for key, limit in limits.items():
        if not 0 < values[key] <= limit:
            raise DatasetFormatError(f"{path}: {key}={values[key]} is out of range (expected 1..{limit})")
    if not 0 < values["frameRate"] < float("inf"):
        raise DatasetFormatError(f"{path}: frameRate={values['frameRate']} is not a positive number")
    return SequenceInfo(
        name=values["name"],
        im_dir=values["imDir"],
        frame_rate=values["frameRate"],
        seq_length=values["seqLength"],
        im_width=values["imWidth"],
        im_height=values["imHeight"],
        im_ext=values["imExt"],
    )


def write_seqinfo(path: str | Path, info: SequenceInfo) -> Path:
    """Write ``seqinfo.ini`` in the released key order."""
    path = Path(path)
    frame_rate = int(info.frame_rate) if float(info.frame_rate).is_integer() else info.frame_rate
    path.write_text(
        "[Sequence]\n"
        f"name={info.name}\nimDir={info.im_dir}\nframeRate={frame_rate}\nseqLength={info.seq_length}\n"
        f"imWidth={info.im_width}\nimHeight={info.im_height}\nimExt={info.im_ext}\n"
    )
    return path


def read_seqmap(path: str | Path) -> list[str]:
    """Sequence names of a MOTChallenge seqmap (first line ``name``, then one sequence per line)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"{path}: seqmap not found")
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not lines or lines[0] != "name":
        raise DatasetFormatError(f"{path}:1: expected the header line 'name', then one sequence name per line")
    return lines[1:]


def write_seqmap(path: str | Path, names: list[str]) -> Path:
    """Write a seqmap: the header ``name`` and one sequence name per line."""
    path = Path(path)
    path.write_text("name\n" + "".join(f"{name}\n" for name in names))
    return path
