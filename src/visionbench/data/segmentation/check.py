"""Check a segmentation dataset on disk: every problem in one pass, plus split statistics.

:func:`check_segmentation_dataset` works with any datamodule implementing the **dataset-check contract**:

* ``file_pairs(split) -> list[tuple[Path, Path]]``: the ``(image, mask)`` files of ``split`` (train, val or
  test), raising :class:`~visionbench.data.errors.DatasetLayoutError` when the split cannot be listed. A reader
  that finds unpaired files may attach ``pairs`` (the matched pairs) and ``problems`` (``(kind, path,
  message)`` per unpaired file, kinds below) to that error; the check then lists every unpaired file and goes on
  with the matched pairs (:class:`~.folder.UnpairedFilesError` does). Otherwise the error is
  one problem and the split is skipped.
* ``read_mask(path) -> np.ndarray``: ``H,W`` int64 training labels, raising
  :class:`~visionbench.data.errors.DatasetFormatError` for an unreadable or malformed mask.
* attributes ``num_classes``, ``ignore_index``, ``class_names``.

Per split it reports the number of pairs, the range of image sizes, the label histogram and the observed
label range; and every problem as ``(path, message)``: a missing split folder (or another layout error), an
image without mask, a mask without image, an unreadable image, an unreadable or malformed mask, an image/mask
size mismatch, labels outside ``0..C-1`` and not ``ignore_index``. It never stops at the first problem.

Cost: every image and every mask is decoded in full (OpenCV for the images, the datamodule's ``read_mask``
for the masks), in ``num_threads`` threads (decoding releases the GIL): about the time of one epoch of data
loading without augmentation, e.g. a few minutes for ADE20K's 22k pairs on 4 cores. A truncated JPEG may still
decode (libjpeg only warns), so it is not reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from visionbench.data.errors import DatasetFormatError, DatasetLayoutError

__all__ = [
    "CONTRACT",
    "KINDS",
    "ContractError",
    "DatasetReport",
    "Problem",
    "SplitStats",
    "check_segmentation_dataset",
    "missing_contract",
    "print_report",
]

# Problem kinds, in the order they are printed.
LAYOUT = "layout"  # missing root / split folder / class list, ambiguous names
IMAGE_WITHOUT_MASK = "image without mask"
MASK_WITHOUT_IMAGE = "mask without image"
UNREADABLE_IMAGE = "unreadable image"
MALFORMED_MASK = "unreadable or malformed mask"
SIZE_MISMATCH = "image/mask size mismatch"
LABEL_OUT_OF_RANGE = "label out of range"
KINDS: tuple[str, ...] = (
    LAYOUT,
    IMAGE_WITHOUT_MASK,
    MASK_WITHOUT_IMAGE,
    UNREADABLE_IMAGE,
    MALFORMED_MASK,
    SIZE_MISMATCH,
    LABEL_OUT_OF_RANGE,
)

CONTRACT: tuple[str, ...] = ("file_pairs", "read_mask", "num_classes", "ignore_index", "class_names")


class ContractError(TypeError):
    """The datamodule does not implement the dataset-check contract."""


def missing_contract(datamodule: Any) -> list[str]:
    """Names of the contract that ``datamodule`` lacks (properties are not evaluated)."""
    names = dir(datamodule)
    missing = [name for name in CONTRACT if name not in names]
    return missing + [
        name for name in ("file_pairs", "read_mask") if name in names and not callable(getattr(datamodule, name))
    ]


@dataclass(frozen=True)
class Problem:
    """One problem: its kind (one of :data:`KINDS`), split, offending path (None: not tied to one file) and message."""

    kind: str
    split: str | None
    path: Path | None
    message: str


@dataclass
class SplitStats:
    """What one split holds. Sizes are ``(height, width)``; label counts are pixels."""

    split: str
    listed: bool = False  # file_pairs succeeded (possibly with unpaired files)
    pairs: int = 0
    same_as: str | None = None  # file_pairs gave the same files as this earlier split (test -> val fallback)
    images_read: int = 0
    min_size: tuple[int, int] | None = None
    max_size: tuple[int, int] | None = None
    masks_read: int = 0
    label_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # pixels of label 0, 1, ...
    ignored_pixels: int = 0
    out_of_range_pixels: int = 0
    min_label: int | None = None  # over every pixel that is not ignore_index (out-of-range ones included)
    max_label: int | None = None

    @property
    def labelled_pixels(self) -> int:
        return int(self.label_counts.sum())


@dataclass
class DatasetReport:
    """Result of :func:`check_segmentation_dataset`."""

    dataset: str
    num_classes: int | None
    ignore_index: int
    class_names: list[str]
    splits: dict[str, SplitStats]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def of_kind(self, kind: str) -> list[Problem]:
        return [problem for problem in self.problems if problem.kind == kind]

    def counts(self) -> dict[str, int]:
        """Number of problems per kind (kinds with none are left out), in :data:`KINDS` order."""
        order = list(KINDS) + sorted({p.kind for p in self.problems} - set(KINDS))
        counts = {kind: len(self.of_kind(kind)) for kind in order}
        return {kind: count for kind, count in counts.items() if count}


# --------------------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------------------
@dataclass
class _PairResult:
    image_size: tuple[int, int] | None = None
    counts: np.ndarray | None = None
    ignored: int = 0
    out_of_range: int = 0
    min_label: int | None = None
    max_label: int | None = None
    problems: list[tuple[str, Path, str]] = field(default_factory=list)


def _image_size(path: Path) -> tuple[tuple[int, int] | None, str | None]:
    """``((height, width), None)``, or ``(None, why)`` when the image cannot be decoded."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as error:
        return None, f"cannot read the file: {error}"
    if data.size == 0:
        return None, "empty file"
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        return None, "cannot be decoded (corrupt, truncated or not an image)"
    return (int(image.shape[0]), int(image.shape[1])), None


def _check_pair(datamodule: Any, image: Path, mask: Path, num_classes: int | None, ignore: int) -> _PairResult:
    result = _PairResult()
    result.image_size, why = _image_size(image)
    if why is not None:
        result.problems.append((UNREADABLE_IMAGE, image, f"image {image} {why}"))
    try:
        labels = np.asarray(datamodule.read_mask(mask))
    except (DatasetFormatError, DatasetLayoutError, OSError) as error:
        result.problems.append((MALFORMED_MASK, mask, str(error)))
        return result
    if labels.ndim != 2:
        result.problems.append((MALFORMED_MASK, mask, f"mask {mask} was read as shape {labels.shape}, not H,W"))
        return result
    if result.image_size is not None and tuple(labels.shape) != result.image_size:
        (h, w), (mh, mw) = result.image_size, labels.shape
        result.problems.append(
            (SIZE_MISMATCH, image, f"image {image} is {h}x{w} (HxW) but its mask {mask} is {mh}x{mw}")
        )
    labels = labels.astype(np.int64, copy=False)
    ignored = labels == ignore
    result.ignored = int(ignored.sum())
    labelled = labels[~ignored]
    if labelled.size:
        result.min_label, result.max_label = int(labelled.min()), int(labelled.max())
    upper = num_classes if num_classes is not None else max(result.max_label or 0, 0) + 1
    valid = (labelled >= 0) & (labelled < upper)
    result.counts = np.bincount(labelled[valid], minlength=upper)
    if not valid.all():
        values = np.unique(labelled[~valid])
        result.out_of_range = int((~valid).sum())
        shown = ", ".join(str(v) for v in values[:10]) + (" ..." if len(values) > 10 else "")
        result.problems.append(
            (
                LABEL_OUT_OF_RANGE,
                mask,
                f"mask {mask} has labels {shown} outside 0..{upper - 1} (num_classes={num_classes}) that are not "
                f"the ignore index {ignore}: {result.out_of_range} pixels",
            )
        )
    return result


def _add_counts(total: np.ndarray, counts: np.ndarray) -> np.ndarray:
    if len(counts) > len(total):
        total = np.pad(total, (0, len(counts) - len(total)))
    total[: len(counts)] += counts
    return total


def _merge(stats: SplitStats, result: _PairResult) -> None:
    if result.image_size is not None:
        stats.images_read += 1
        h, w = result.image_size
        stats.min_size = (h, w) if stats.min_size is None else (min(stats.min_size[0], h), min(stats.min_size[1], w))
        stats.max_size = (h, w) if stats.max_size is None else (max(stats.max_size[0], h), max(stats.max_size[1], w))
    if result.counts is not None:
        stats.masks_read += 1
        stats.label_counts = _add_counts(stats.label_counts, result.counts)
        stats.ignored_pixels += result.ignored
        stats.out_of_range_pixels += result.out_of_range
        for name, pick in (("min_label", min), ("max_label", max)):
            value = getattr(result, name)
            if value is not None:
                current = getattr(stats, name)
                setattr(stats, name, value if current is None else pick(current, value))


def _progress_map(function, items: Sequence, num_threads: int, description: str, progress: bool) -> Iterable:
    if num_threads > 1:
        pool = ThreadPoolExecutor(max_workers=num_threads)
        results = pool.map(function, items)
    else:
        pool, results = None, map(function, items)
    try:
        if progress:
            from rich.progress import track

            yield from track(results, total=len(items), description=description, transient=True)
        else:
            yield from results
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def check_segmentation_dataset(
    datamodule: Any,
    splits: Sequence[str] = ("train", "val", "test"),
    num_threads: int = 4,
    progress: bool = False,
) -> DatasetReport:
    """Check every file of ``splits`` through the dataset-check contract (see the module docstring).

    Args:
        datamodule: any object implementing the contract (e.g. ``FolderSegmentationDataModule``).
        splits: the splits to check; a split whose files are those of an earlier one (test falling back to
            val) is reported as such and not read twice.
        num_threads: threads decoding files (1: no thread pool).
        progress: show a rich progress bar per split (for terminals).

    Raises:
        ContractError: ``datamodule`` does not implement the contract.
    """
    missing = missing_contract(datamodule)
    if missing:
        raise ContractError(
            f"{type(datamodule).__name__} does not implement the dataset-check contract (missing: "
            f"{', '.join(missing)}); it needs file_pairs(split), read_mask(path), num_classes, ignore_index and "
            "class_names"
        )
    problems: list[Problem] = []
    seen: set[tuple[str, str | None, str]] = set()

    def add(kind: str, split: str | None, path: Path | str | None, message: str) -> None:
        key = (kind, None if path is None else str(path), message)
        if key not in seen:  # e.g. "root missing" from the class list and from every split
            seen.add(key)
            problems.append(Problem(kind, split, None if path is None else Path(path), message))

    ignore = int(datamodule.ignore_index)
    num_classes: int | None = None
    class_names: list[str] = []
    try:
        num_classes = int(datamodule.num_classes)
        class_names = [str(name) for name in datamodule.class_names]
    except (DatasetLayoutError, DatasetFormatError) as error:
        add(LAYOUT, None, getattr(error, "path", None), str(error))

    stats: dict[str, SplitStats] = {}
    listed: dict[str, tuple] = {}
    for split in splits:
        split_stats = stats[split] = SplitStats(split)
        try:
            pairs = [(Path(image), Path(mask)) for image, mask in datamodule.file_pairs(split)]
        except (DatasetLayoutError, DatasetFormatError) as error:
            partial = getattr(error, "pairs", None)
            unpaired = getattr(error, "problems", None)
            if partial is None or unpaired is None:
                add(LAYOUT, split, getattr(error, "path", None), str(error))
                continue
            for kind, path, message in unpaired:
                add(kind, split, path, message)
            pairs = [(Path(image), Path(mask)) for image, mask in partial]
        split_stats.listed = True
        split_stats.pairs = len(pairs)
        key = tuple(pairs)
        earlier = next((name for name, files in listed.items() if files == key and files), None)
        if earlier is not None:
            split_stats.same_as = earlier
            continue
        listed[split] = key

        def check(pair: tuple[Path, Path]) -> _PairResult:
            return _check_pair(datamodule, pair[0], pair[1], num_classes, ignore)

        for result in _progress_map(check, pairs, num_threads, f"checking {split}", progress):
            _merge(split_stats, result)
            for kind, path, message in result.problems:
                add(kind, split, path, message)
        if num_classes is not None and len(split_stats.label_counts) < num_classes:
            split_stats.label_counts = _add_counts(np.zeros(num_classes, np.int64), split_stats.label_counts)

    root = getattr(datamodule, "root", None)
    dataset = type(datamodule).__name__ + (f"({root})" if root is not None else "")
    return DatasetReport(dataset, num_classes, ignore, class_names, stats, problems)


# --------------------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------------------
def _size(size: tuple[int, int] | None) -> str:
    return "-" if size is None else f"{size[0]}x{size[1]}"


def _splits_table(report: DatasetReport) -> Table:
    classes = "?" if report.num_classes is None else str(report.num_classes)
    table = Table(title=f"{report.dataset}: {classes} classes, ignore index {report.ignore_index}")
    for name, justify in (("split", "left"), ("pairs", "right"), ("image sizes (HxW)", "left"),
                          ("labels seen", "left"), ("ignored px", "right"), ("problems", "right")):  # fmt: skip
        table.add_column(name, justify=justify)
    per_split = {split: sum(p.split == split for p in report.problems) for split in report.splits}
    for split, stats in report.splits.items():
        if not stats.listed:
            table.add_row(split, "-", "not listed", "-", "-", str(per_split[split]))
            continue
        if stats.same_as is not None:
            table.add_row(split, str(stats.pairs), f"same files as {stats.same_as}", "", "", "")
            continue
        sizes = (
            _size(stats.min_size)
            if stats.min_size == stats.max_size
            else f"{_size(stats.min_size)} .. {_size(stats.max_size)}"
        )
        labels = "-" if stats.min_label is None else f"{stats.min_label} .. {stats.max_label}"
        total = stats.labelled_pixels + stats.ignored_pixels + stats.out_of_range_pixels
        ignored = "-" if not total else f"{100 * stats.ignored_pixels / total:.1f}%"
        table.add_row(split, str(stats.pairs), sizes, labels, ignored, str(per_split[split]))
    return table


def _histogram(report: DatasetReport) -> tuple[Table | None, list[str]]:
    """The per-class table (classes seen in some split) and one line per split naming its absent classes."""
    shown = [s for s in report.splits.values() if s.same_as is None and s.masks_read]
    if not shown:
        return None, []
    length = max(len(report.class_names), *(len(s.label_counts) for s in shown))
    counts = np.stack([np.pad(s.label_counts, (0, length - len(s.label_counts))) for s in shown])
    name = [report.class_names[i] if i < len(report.class_names) else "?" for i in range(length)]
    table = Table(title="labelled pixels per class (%)")
    table.add_column("id", justify="right")
    table.add_column("class")
    for stats in shown:
        table.add_column(stats.split, justify="right")
    for label in np.flatnonzero(counts.sum(axis=0)):
        cells = ["absent" if row[label] == 0 else f"{100 * row[label] / max(row.sum(), 1):.2f}" for row in counts]
        table.add_row(str(label), Text(name[label]), *cells)
    absent = []
    for stats, row in zip(shown, counts, strict=True):
        missing = [f"{i} {name[i]}" for i in np.flatnonzero(row == 0)]
        if missing:
            listed = ", ".join(missing[:20]) + (f" ... ({len(missing) - 20} more)" if len(missing) > 20 else "")
            absent.append(f"{len(missing)} of {length} classes absent from {stats.split}: {listed}")
    return table, absent


def print_report(report: DatasetReport, console: Console | None = None, max_listed: int = 20) -> None:
    """Print the split table, the label histogram and the first ``max_listed`` problems of each kind."""
    console = console or Console()
    console.print(_splits_table(report))
    histogram, absent = _histogram(report)
    if histogram is not None:
        console.print(histogram)
    for line in absent:
        console.print(Text(line), soft_wrap=True)
    for kind, count in report.counts().items():
        console.print(Text(f"{kind}: {count}", style="bold red"))
        for problem in report.of_kind(kind)[:max_listed]:
            text = problem.message
            if problem.path is not None and str(problem.path) not in text:
                text = f"{problem.path}: {text}"
            console.print(Text("  " + text.replace("\n", "\n    ")), soft_wrap=True)
        if count > max_listed:
            console.print(Text(f"  ... and {count - max_listed} more"))
    if report.ok:
        console.print(Text("OK: no problems found", style="bold green"))
    else:
        summary = ", ".join(f"{count} {kind}" for kind, count in report.counts().items())
        console.print(Text(f"{len(report.problems)} problem(s) found: {summary}", style="bold red"))
