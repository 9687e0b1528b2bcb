"""MOTChallenge sequences and benchmark splits read in their released layout.

A benchmark split as released (MOT15, MOT16, MOT17, MOT20), ``<root>`` being the extracted ``<benchmark>`` folder::

    <root>/<split>/<sequence>/
        seqinfo.ini            [Sequence] name, imDir, frameRate, seqLength, imWidth, imHeight, imExt
        img1/000001.jpg ...    frames, 1-based, six digits
        det/det.txt            public detections (frame,-1,left,top,width,height,score[,x,y,z])
        gt/gt.txt              ground truth (train splits only)
    <root>/seqmaps/<benchmark>-<split>.txt    optional: "name" then one sequence per line (TrackEval's seqmaps)

Nothing is read at construction: :class:`MotBenchmark` resolves its sequences on first use of ``sequences``
(so Hydra configs build without the data), :class:`MotSequence` reads each file on first use and caches it.
A missing folder or file raises :class:`~visionbench.data.errors.DatasetLayoutError` naming the path and the
expected layout; a malformed file raises :class:`~visionbench.data.errors.DatasetFormatError` naming the file
and line (see :mod:`visionbench.data.tracking.mot_io`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from visionbench.data.errors import DatasetFormatError, DatasetLayoutError, root_hint
from visionbench.data.image import read_rgb_image
from visionbench.data.tracking.boxes import Detections, ltwh_to_xyxy
from visionbench.data.tracking.mot_io import MotTable, SequenceInfo, read_mot_table, read_seqinfo, read_seqmap

__all__ = ["BENCHMARKS", "DEFAULT_FRAME_RATE", "MotBenchmark", "MotSequence", "expected_layout"]

BENCHMARKS: tuple[str, ...] = ("MOT15", "MOT16", "MOT17", "MOT20")
"""Benchmark names whose evaluation rules the tracking evaluator knows."""

DEFAULT_FRAME_RATE = 30.0
"""Frame rate assumed for a sequence without ``seqinfo.ini`` (the file is the only source of it)."""

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def expected_layout(benchmark: str = "<benchmark>", split: str = "<split>") -> str:
    """The released folder tree and how its root is set, for error messages."""
    return (
        f"expected the released MOTChallenge layout:\n"
        f"  <root>/{split}/<sequence>/seqinfo.ini\n"
        f"  <root>/{split}/<sequence>/img1/000001.jpg ...\n"
        f"  <root>/{split}/<sequence>/det/det.txt\n"
        f"  {f'<root>/{split}/<sequence>/gt/gt.txt':<40} (train splits)\n"
        f"  {f'<root>/seqmaps/{benchmark}-{split}.txt':<40} (optional list of sequences)\n"
        f"where <root> is the extracted {benchmark} folder (or TrackEval's folder holding {benchmark}-{split}/):\n"
        f"  {root_hint(benchmark)}"
    )


class MotSequence:
    """One MOTChallenge sequence folder ``<seq>/{seqinfo.ini, img1/, det/det.txt, gt/gt.txt}``.

    Files are read lazily and cached. Without ``seqinfo.ini`` (e.g. older MOT15 copies) ``info`` falls back to:
    name = the folder name, imDir ``img1``, imExt = the suffix of the first file in ``img1/`` (``.jpg`` if none),
    seqLength = the largest of the number of images in ``img1/`` and the last frame of ``det/det.txt`` and
    ``gt/gt.txt``, image size = that of the first image (0 x 0 when there are no images) and frame rate
    :data:`DEFAULT_FRAME_RATE` (unknown).

    Args:
        path: the sequence folder.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise DatasetLayoutError(f"{self.path}: MOTChallenge sequence folder not found; {expected_layout()}")

    def __repr__(self) -> str:
        return f"MotSequence({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The sequence name (``seqinfo.ini`` name, else the folder name)."""
        return self.info.name if self.has_seqinfo else self.path.name

    @property
    def has_seqinfo(self) -> bool:
        return (self.path / "seqinfo.ini").is_file()

    @cached_property
    def info(self) -> SequenceInfo:
        """``seqinfo.ini``, or the fallback described in the class docstring."""
        if self.has_seqinfo:
            return read_seqinfo(self.path / "seqinfo.ini")
        image_dir = self.path / "img1"
        images = (
            sorted(p for p in image_dir.iterdir() if p.suffix.lower() in _IMAGE_EXTENSIONS)
            if image_dir.is_dir()
            else []
        )
        last_frames = [len(images)]
        for table_path, kind in ((self.path / "det" / "det.txt", "det"), (self.path / "gt" / "gt.txt", "gt")):
            if table_path.is_file():
                table = self.detections if kind == "det" else self.ground_truth
                last_frames.append(int(table.frames[-1]) if len(table) else 0)
        width = height = 0
        if images:
            from PIL import Image  # reads the header only

            try:
                with Image.open(images[0]) as image:
                    width, height = image.size
            except OSError as error:
                raise DatasetFormatError(f"{images[0]}: unreadable image ({error})") from error
        return SequenceInfo(
            name=self.path.name,
            im_dir="img1",
            frame_rate=DEFAULT_FRAME_RATE,
            seq_length=max(last_frames),
            im_width=width,
            im_height=height,
            im_ext=images[0].suffix if images else ".jpg",
        )

    @property
    def num_frames(self) -> int:
        """Frames 1..num_frames (``seqLength``)."""
        return self.info.seq_length

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) in pixels (0, 0 when unknown)."""
        return self.info.im_height, self.info.im_width

    @property
    def has_ground_truth(self) -> bool:
        return (self.path / "gt" / "gt.txt").is_file()

    @property
    def has_detections(self) -> bool:
        return (self.path / "det" / "det.txt").is_file()

    @cached_property
    def ground_truth(self) -> MotTable:
        """``gt/gt.txt`` (9-column MOT16/17/20 or 10-column MOT15 layout), sorted by frame."""
        path = self.path / "gt" / "gt.txt"
        if not path.is_file():
            raise DatasetLayoutError(
                f"{path}: ground truth not found (test splits have none); expected <sequence>/gt/gt.txt"
            )
        return read_mot_table(path, "gt")

    @cached_property
    def detections(self) -> MotTable:
        """``det/det.txt`` (public detections, 7 or 10 columns), sorted by frame."""
        path = self.path / "det" / "det.txt"
        if not path.is_file():
            raise DatasetLayoutError(f"{path}: public detections not found; expected <sequence>/det/det.txt")
        return read_mot_table(path, "det")

    @cached_property
    def _detection_rows(self) -> list[np.ndarray]:
        return self.detections.frame_rows(self.num_frames)

    def _check_frame(self, frame: int) -> None:
        if not 1 <= frame <= self.num_frames:
            raise IndexError(f"{self.path}: frame {frame} is outside 1..{self.num_frames}")

    def image_path(self, frame: int) -> Path:
        """``<seq>/<imDir>/<frame:06d><imExt>``."""
        return self.path / self.info.im_dir / f"{frame:06d}{self.info.im_ext}"

    def read_image(self, frame: int) -> np.ndarray:
        """Frame ``frame`` (1-based) as RGB uint8 (H, W, 3)."""
        self._check_frame(frame)
        path = self.image_path(frame)
        if not path.is_file():
            raise DatasetLayoutError(
                f"{path}: frame {frame} image not found; expected <sequence>/{self.info.im_dir}/"
                f"{frame:06d}{self.info.im_ext}"
            )
        return read_rgb_image(path)

    def frame_detections(self, frame: int, min_score: float = -math.inf) -> Detections:
        """Public detections of ``frame`` (1-based) scoring at least ``min_score``: boxes x1, y1, x2, y2 in
        pixels, scores, classes (1)."""
        self._check_frame(frame)
        table = self.detections
        rows = self._detection_rows[frame - 1]
        if min_score > -math.inf:
            rows = rows[table.confidences[rows] >= min_score]
        return Detections(
            boxes=ltwh_to_xyxy(table.boxes[rows]),
            scores=table.confidences[rows].copy(),
            classes=table.classes[rows].copy(),
        )


class MotBenchmark:
    """The sequences of one MOTChallenge benchmark split, ``<root>/<split>/<sequence>/``.

    Sequences are, in order of precedence: ``sequences`` (names), the names in ``seqmap`` (a file), the seqmap
    ``<root>/seqmaps/<benchmark>-<split>.txt`` if it exists, else every sub-folder of the split (sorted).
    TrackEval's layout ``<root>/<benchmark>-<split>/<sequence>/`` is read when the released one is absent.
    Nothing is read at construction; ``sequences`` resolves them on first use.

    Args:
        root: the benchmark's own folder as released (e.g. ``MOT17/``, holding ``train/`` and ``test/``), or
            TrackEval's folder holding ``<benchmark>-<split>/``; optionally with ``seqmaps/``.
        benchmark: folder name, and the evaluation rules (:data:`BENCHMARKS`) unless ``rules`` is given.
        split: ``train`` or ``test``.
        sequences: sequence names to read (overrides any seqmap).
        detector: keep only sequences whose name ends with ``-<detector>`` (MOT17: ``DPM``, ``FRCNN``, ``SDP``;
            ``None`` keeps all, as the official MOT17 evaluation does).
        seqmap: an explicit seqmap file.
        rules: the evaluation rules name when ``benchmark`` is not one of :data:`BENCHMARKS`.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        benchmark: str = "MOT17",
        split: str = "train",
        sequences: Sequence[str] | None = None,
        detector: str | None = None,
        seqmap: str | os.PathLike | None = None,
        rules: str | None = None,
    ) -> None:
        self.root = Path(root)
        self.name = benchmark
        self.split = split
        self.sequence_names = list(sequences) if sequences is not None else None
        self.detector = detector
        self.seqmap = Path(seqmap) if seqmap is not None else None
        rules = rules if rules is not None else benchmark
        if rules not in BENCHMARKS:
            raise ValueError(f"unknown MOTChallenge rules {rules!r}; expected one of {', '.join(BENCHMARKS)}")
        self.benchmark = rules
        """The evaluation rules name for the tracking evaluator: one of :data:`BENCHMARKS`."""

    def __repr__(self) -> str:
        return f"MotBenchmark(root={str(self.root)!r}, benchmark={self.name!r}, split={self.split!r})"

    @property
    def split_dir(self) -> Path:
        """``<root>/<split>`` (or TrackEval's ``<root>/<benchmark>-<split>`` when only it exists)."""
        released = self.root / self.split
        flat = self.root / f"{self.name}-{self.split}"
        return flat if not released.is_dir() and flat.is_dir() else released

    @property
    def default_seqmap(self) -> Path:
        return self.root / "seqmaps" / f"{self.name}-{self.split}.txt"

    def _prepare(self) -> None:
        """Hook run before the sequences are resolved (the synthetic benchmark generates its files here)."""

    @cached_property
    def sequences(self) -> list[MotSequence]:
        """The benchmark's sequences, in seqmap (or name) order."""
        self._prepare()
        layout = expected_layout(self.name, self.split)
        if not self.root.is_dir():
            state = "is not a folder" if self.root.exists() else "does not exist"
            raise DatasetLayoutError(f"{self.name} root {self.root} {state}; {layout}")
        split_dir = self.split_dir
        if not split_dir.is_dir():
            parent_hint = ""
            if (self.root / self.name / self.split).is_dir():
                parent_hint = f" ({self.root} holds {self.name}/: set data.root={self.root / self.name})"
            raise DatasetLayoutError(f"{self.name} split folder {split_dir} does not exist{parent_hint}; {layout}")
        if self.sequence_names is not None:
            names = self.sequence_names
        elif self.seqmap is not None:
            names = read_seqmap(self.seqmap)
        elif self.default_seqmap.is_file():
            names = read_seqmap(self.default_seqmap)
        else:
            names = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        if self.detector is not None:
            names = [name for name in names if name.endswith(f"-{self.detector}")]
        missing = [name for name in names if not (split_dir / name).is_dir()]
        if missing:
            raise DatasetLayoutError(
                f"{split_dir / missing[0]}: sequence folder not found ({len(missing)} of {len(names)} listed "
                f"sequences missing: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}; choose them with "
                f"data.sequences=[...] or data.seqmap=...); {layout}"
            )
        if not names:
            which = "" if self.detector is None else f" with detector {self.detector!r} (data.detector=null reads all)"
            raise DatasetLayoutError(f"{split_dir}: no sequences{which}; {layout}")
        return [MotSequence(split_dir / name) for name in names]

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self) -> Iterator[MotSequence]:
        return iter(self.sequences)

    def __getitem__(self, index: int | str) -> MotSequence:
        """A sequence by position or by name."""
        if isinstance(index, str):
            for sequence in self.sequences:
                if sequence.name == index or sequence.path.name == index:
                    return sequence
            raise KeyError(f"{index!r} is not a sequence of {self!r}")
        return self.sequences[index]
