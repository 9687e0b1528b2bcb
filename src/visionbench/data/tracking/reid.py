"""Person re-identification crops cut from MOTChallenge-style ground truth, for DeepSORT's appearance network.

Which boxes become crops (every split): pedestrians (class 1) that are not ignored (flag / confidence column > 0),
with visibility >= ``min_visibility``, height >= ``min_height`` pixels and some area inside the frame, on every
``frame_stride``-th frame (frames 1, 1 + stride, ...). An identity is the pair (sequence, track id): ids are only
unique within a sequence. Crops are cut as the tracker cuts them (:func:`~visionbench.data.tracking.crops.
cut_crops`: widened to the network's aspect ratio, clipped, resized to ``input_size``) and kept in memory as uint8.

Training split: identities with at least ``min_crops_per_identity`` crops, relabelled ``0..num_identities-1`` in
(sequence name, id) order, for identity classification (cosine softmax).

Evaluation splits (val / test; their sequences should not share identities with training, e.g. held-out
sequences): a query / gallery retrieval protocol. Each identity's crops are ordered by frame; its first and last
crops are its queries (``queries_per_identity`` evenly spaced crops from first to last; 1 = the first crop). Its
crops fewer than ``min_frame_gap`` frames from one of its queries are dropped (near-duplicates of the query that
would make retrieval trivial; the analogue of Market-1501's same-camera junk, since a MOT sequence is one camera);
the rest are its gallery. When that leaves no gallery crop, fewer queries are tried; an identity that cannot have
both (a track shorter than ``min_frame_gap``) contributes all its crops to the gallery as distractors only. Every
other identity of every sequence of the split is a distractor for a query, including people in the same frame.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from visionbench.data.datamodule import SPLITS, VisionDataModule
from visionbench.data.tracking.crops import crops_to_tensor, cut_crops

log = logging.getLogger(__name__)
PEDESTRIAN = 1
_DETECTOR_SUFFIX = re.compile(r"-(DPM|FRCNN|SDP)$")


def as_sequences(source: Any) -> list:
    """The :class:`~visionbench.data.tracking.mot.MotSequence` list of a source: an object with ``.sequences`` (a
    :class:`~.mot.MotBenchmark`), a single sequence, or an iterable of sequences / sequence paths."""
    from visionbench.data.tracking.mot import MotSequence

    if hasattr(source, "sequences"):
        return list(source.sequences)
    if isinstance(source, (str, Path)) or hasattr(source, "ground_truth"):
        source = [source]
    return [item if hasattr(item, "ground_truth") else MotSequence(item) for item in source]


def video_name(sequence_name: str) -> str:
    """The video a sequence shows: MOT17 ships each video three times, ``MOT17-02-DPM``, ``-FRCNN`` and ``-SDP``,
    with the same ground truth; all three are video ``MOT17-02``."""
    return _DETECTOR_SUFFIX.sub("", sequence_name)


def distinct_videos(sequences: Sequence) -> list:
    """``sequences`` with only the first of those showing the same video (:func:`video_name`): the copies would
    give each person three identity labels."""
    seen: set[str] = set()
    kept = []
    for sequence in sequences:
        video = video_name(sequence.name)
        if video in seen:
            log.info("re-identification crops: skipping %s, another sequence of video %s is used", sequence.name, video)
            continue
        seen.add(video)
        kept.append(sequence)
    return kept


@dataclass(frozen=True)
class CropIndex:
    """Where each crop of a split comes from (no pixels): all arrays have one entry per crop.

    ``sequence`` indexes ``sequence_names``; ``track_id`` is the ground-truth id in its sequence; ``label`` the
    identity index in the split (0-based, (sequence, id) order); ``boxes`` x1, y1, x2, y2; ``is_query`` marks the
    queries of an evaluation split (all False for training).
    """

    sequence_names: tuple[str, ...]
    sequence: np.ndarray
    frame: np.ndarray
    track_id: np.ndarray
    label: np.ndarray
    boxes: np.ndarray
    is_query: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def num_identities(self) -> int:
        return int(self.label.max()) + 1 if len(self) else 0

    def select(self, rows: np.ndarray) -> CropIndex:
        return CropIndex(
            self.sequence_names,
            self.sequence[rows],
            self.frame[rows],
            self.track_id[rows],
            self.label[rows],
            self.boxes[rows],
            self.is_query[rows],
        )

    def relabelled(self, rows: np.ndarray, is_query: np.ndarray | None = None) -> CropIndex:
        """The crops ``rows`` with identities relabelled ``0..K-1`` over them (and ``is_query`` if given)."""
        selected = self.select(rows)
        labels = _identity_labels(selected.sequence, selected.track_id)
        flags = selected.is_query if is_query is None else is_query
        return replace(selected, label=labels, is_query=flags)


def ground_truth_crops(
    sequences: Sequence,
    min_visibility: float = 0.0,
    min_height: float = 0.0,
    frame_stride: int = 1,
) -> CropIndex:
    """Every usable pedestrian box of ``sequences`` (see the module docstring), labelled by (sequence, id)."""
    if int(frame_stride) < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    for index, sequence in enumerate(sequences):
        if not sequence.has_ground_truth:
            raise ValueError(f"sequence {sequence.name} has no ground truth; re-identification crops need it")
        table = sequence.ground_truth
        info = sequence.info
        boxes = np.concatenate([table.boxes[:, :2], table.boxes[:, :2] + table.boxes[:, 2:4]], axis=1)
        clipped_width = np.minimum(boxes[:, 2], info.im_width) - np.maximum(boxes[:, 0], 0)
        clipped_height = np.minimum(boxes[:, 3], info.im_height) - np.maximum(boxes[:, 1], 0)
        keep = (
            (table.classes == PEDESTRIAN)
            & (table.confidences > 0)
            & (table.visibilities >= min_visibility)
            & (table.boxes[:, 3] >= min_height)
            & ((table.frames - 1) % int(frame_stride) == 0)
            & (clipped_width >= 1)
            & (clipped_height >= 1)
        )
        parts.append((index, table.frames[keep], table.ids[keep], boxes[keep]))
    names = tuple(sequence.name for sequence in sequences)
    sequence = np.concatenate([np.full(len(frames), index, dtype=np.int64) for index, frames, _, _ in parts] or [[]])
    frame = np.concatenate([frames for _, frames, _, _ in parts] or [[]]).astype(np.int64)
    track_id = np.concatenate([ids for _, _, ids, _ in parts] or [[]]).astype(np.int64)
    boxes = np.concatenate([b for _, _, _, b in parts] or [np.zeros((0, 4))]).astype(np.float64)
    order = np.lexsort((frame, track_id, sequence))  # by identity, then frame
    sequence, frame, track_id, boxes = sequence[order], frame[order], track_id[order], boxes[order]
    label = _identity_labels(sequence, track_id)
    return CropIndex(names, sequence, frame, track_id, label, boxes, np.zeros(len(frame), dtype=bool))


def _identity_labels(sequence: np.ndarray, track_id: np.ndarray) -> np.ndarray:
    """0-based identity index of each (sequence, id) pair, in sorted pair order."""
    if not len(sequence):
        return np.zeros(0, dtype=np.int64)
    pairs = np.stack([sequence, track_id], axis=1)
    _, labels = np.unique(pairs, axis=0, return_inverse=True)
    return labels.reshape(-1).astype(np.int64)


def training_crops(
    index: CropIndex, min_crops_per_identity: int = 2, max_crops_per_identity: int | None = None
) -> CropIndex:
    """Identities with at least ``min_crops_per_identity`` crops, at most ``max_crops_per_identity`` each (evenly
    spaced over the track), relabelled ``0..K-1``."""
    counts = np.bincount(index.label, minlength=index.num_identities)
    keep = counts[index.label] >= int(min_crops_per_identity)
    if max_crops_per_identity is not None:
        rows = []
        for label in np.unique(index.label[keep]):
            members = np.flatnonzero(index.label == label)
            if len(members) > max_crops_per_identity:
                members = members[np.round(np.linspace(0, len(members) - 1, max_crops_per_identity)).astype(int)]
            rows.append(members)
        keep = np.zeros(len(index), dtype=bool)
        if rows:
            keep[np.concatenate(rows)] = True
    return index.relabelled(np.flatnonzero(keep))


def query_gallery_split(index: CropIndex, queries_per_identity: int = 2, min_frame_gap: int = 30) -> CropIndex:
    """The evaluation protocol of the module docstring: ``is_query`` set, near-query crops dropped, identities
    relabelled ``0..K-1`` over what remains."""
    if int(queries_per_identity) < 1 or int(min_frame_gap) < 1:
        raise ValueError(
            f"queries_per_identity and min_frame_gap must be >= 1, got {queries_per_identity}, {min_frame_gap}"
        )
    keep = np.zeros(len(index), dtype=bool)
    is_query = np.zeros(len(index), dtype=bool)
    boundaries = np.flatnonzero(np.diff(index.label)) + 1
    for members in np.split(np.arange(len(index)), boundaries) if len(index) else []:
        frames = index.frame[members]  # sorted: ground_truth_crops orders by identity, then frame
        for count in range(min(int(queries_per_identity), len(members)), 0, -1):
            positions = np.round(np.linspace(0, len(members) - 1, count)).astype(int) if count > 1 else np.array([0])
            near = (np.abs(frames[:, None] - frames[positions][None, :]) < min_frame_gap).any(axis=1)
            if (~near).any():
                keep[members[positions]] = is_query[members[positions]] = True
                keep[members[~near]] = True
                break
        else:
            keep[members] = True  # too short for a query: distractors only
    rows = np.flatnonzero(keep)
    return index.relabelled(rows, is_query[rows])


def load_crops(sequences: Sequence, index: CropIndex, input_size: Sequence[int]) -> np.ndarray:
    """``(N, height, width, 3)`` uint8 crops of ``index``, each frame read once."""
    crops = np.zeros((len(index), int(input_size[0]), int(input_size[1]), 3), dtype=np.uint8)
    if not len(index):
        return crops
    keys = index.sequence * (int(index.frame.max()) + 1) + index.frame
    order = np.argsort(keys, kind="stable")
    boundaries = np.flatnonzero(np.diff(keys[order])) + 1
    for rows in np.split(order, boundaries):
        sequence = sequences[int(index.sequence[rows[0]])]
        frame = sequence.read_image(int(index.frame[rows[0]]))
        crops[rows] = cut_crops(frame, index.boxes[rows], input_size)
    return crops


class CropAugmentation:
    """Training augmentation of ``H,W,3`` uint8 crops: horizontal flip, scale / shift jitter (an affine warp
    with replicated borders, the output keeps its size) and colour jitter (brightness, contrast, saturation
    factors drawn uniformly in ``[1 - x, 1 + x]``), drawn from its own generator (:meth:`reseed`).

    Args:
        flip_probability: probability of a horizontal flip.
        scale: maximum relative zoom in or out (0.1: factor in [0.9, 1.1]).
        shift: maximum translation as a fraction of the crop's height / width.
        brightness: brightness jitter amplitude.
        contrast: contrast jitter amplitude.
        saturation: saturation jitter amplitude.
        seed: seed of the random stream.
    """

    def __init__(
        self,
        flip_probability: float = 0.5,
        scale: float = 0.1,
        shift: float = 0.05,
        brightness: float = 0.2,
        contrast: float = 0.2,
        saturation: float = 0.2,
        seed: int = 0,
    ) -> None:
        self.flip_probability = float(flip_probability)
        self.scale = float(scale)
        self.shift = float(shift)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def _factor(self, amplitude: float) -> float:
        return float(self.rng.uniform(1 - amplitude, 1 + amplitude)) if amplitude > 0 else 1.0

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        height, width = crop.shape[:2]
        if self.rng.random() < self.flip_probability:
            crop = crop[:, ::-1]
        if self.scale > 0 or self.shift > 0:
            zoom = self._factor(self.scale)
            dx, dy = self.rng.uniform(-self.shift, self.shift, size=2) * (width, height)
            matrix = np.array(
                [[zoom, 0, (1 - zoom) * width / 2 + dx], [0, zoom, (1 - zoom) * height / 2 + dy]], dtype=np.float64
            )
            crop = cv2.warpAffine(
                np.ascontiguousarray(crop),
                matrix,
                (width, height),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
        if self.brightness > 0 or self.contrast > 0 or self.saturation > 0:
            image = crop.astype(np.float32) * self._factor(self.brightness)
            image = (image - image.mean()) * self._factor(self.contrast) + image.mean()
            grey = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            image = (image - grey[..., None]) * self._factor(self.saturation) + grey[..., None]
            crop = np.clip(image + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(crop)


class ReidCropsDataset(Dataset):
    """Crops held in memory with their index: ``{"image": float32 3,H,W normalised, "label": int64, "is_query":
    bool, "sequence": int64, "frame": int64}`` per item.

    Args:
        crops: ``(N, H, W, 3)`` uint8 crops.
        index: where each crop comes from (:class:`CropIndex`, same length).
        transform: optional augmentation of a uint8 crop (e.g. :class:`CropAugmentation`).
    """

    def __init__(self, crops: np.ndarray, index: CropIndex, transform: CropAugmentation | None = None) -> None:
        if len(crops) != len(index):
            raise ValueError(f"{len(crops)} crops for an index of {len(index)}")
        self.crops = crops
        self.index = index
        self.transform = transform

    def reseed(self, seed: int) -> None:
        if self.transform is not None:
            self.transform.reseed(seed)

    def __len__(self) -> int:
        return len(self.crops)

    def sample_id(self, item: int) -> str:
        """The name of crop ``item``: ``<sequence>/<frame, 6 digits>/<track id>`` (a box of the ground truth)."""
        sequence = self.index.sequence_names[int(self.index.sequence[item])]
        return f"{sequence}/{int(self.index.frame[item]):06d}/{int(self.index.track_id[item])}"

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        crop = self.crops[item]
        if self.transform is not None:
            crop = self.transform(crop)
        return {
            "image": crops_to_tensor(crop[None])[0],
            "label": torch.tensor(int(self.index.label[item])),
            "is_query": torch.tensor(bool(self.index.is_query[item])),
            "sequence": torch.tensor(int(self.index.sequence[item])),
            "frame": torch.tensor(int(self.index.frame[item])),
        }


class ReidCropsDataModule(VisionDataModule):
    """Re-identification crops of MOT ground truth: identity classification for training, query / gallery
    retrieval for validation and test (the protocol of :mod:`visionbench.data.tracking.reid`).

    Args:
        train: the training sequences: a :class:`~.mot.MotBenchmark` (anything with
            ``.sequences``), or a list of :class:`~visionbench.data.tracking.mot.MotSequence` or sequence folders.
        val: the validation sequences (same forms); their identities should not appear in ``train``.
        test: the test sequences (same forms), or None for no test split.
        input_size: ``(height, width)`` of the crops: the appearance network's ``input_size``.
        min_visibility: smallest ground-truth visibility of a crop.
        min_height: smallest box height in pixels.
        frame_stride: use every ``frame_stride``-th frame of the training sequences.
        eval_frame_stride: the same for val / test (None: ``frame_stride``).
        min_crops_per_identity: training identities with fewer crops are dropped.
        max_crops_per_identity: at most this many crops per training identity, evenly spaced in time (None: all).
        queries_per_identity: queries per evaluation identity (evenly spaced from its first to its last crop).
        min_frame_gap: gallery crops of a query's identity must be at least this many frames from the query.
        batch_size: training batch size (full batches only, unless the training set is smaller than one).
        val_batch_size: evaluation batch size (None: ``batch_size``).
        num_workers: DataLoader worker processes.
        seed: seed of the training shuffle and of the augmentation's random stream (per worker and rank).
        augmentation: training augmentation, e.g. :class:`CropAugmentation` (None: none).

    ``num_identities`` (training identities, for the loss) is known before :meth:`setup` (it reads only the
    ground truth); :meth:`setup` cuts and caches the crops.
    """

    name = "reid-crops"

    def __init__(
        self,
        train: Any,
        val: Any,
        test: Any = None,
        input_size: Sequence[int] = (128, 64),
        min_visibility: float = 0.3,
        min_height: float = 16.0,
        frame_stride: int = 1,
        eval_frame_stride: int | None = None,
        min_crops_per_identity: int = 2,
        max_crops_per_identity: int | None = None,
        queries_per_identity: int = 2,
        min_frame_gap: int = 30,
        batch_size: int = 64,
        val_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        augmentation: CropAugmentation | None = None,
    ) -> None:
        super().__init__(batch_size, val_batch_size, num_workers, seed, drop_last=True)
        self.sources = {"train": train, "val": val, "test": test}
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.min_visibility = float(min_visibility)
        self.min_height = float(min_height)
        self.frame_stride = int(frame_stride)
        self.eval_frame_stride = self.frame_stride if eval_frame_stride is None else int(eval_frame_stride)
        self.min_crops_per_identity = int(min_crops_per_identity)
        self.max_crops_per_identity = None if max_crops_per_identity is None else int(max_crops_per_identity)
        self.queries_per_identity = int(queries_per_identity)
        self.min_frame_gap = int(min_frame_gap)
        self.augmentation = augmentation
        self._sequences: dict[str, list] = {}
        self._indices: dict[str, CropIndex] = {}

    def sequences(self, split: str) -> list:
        """The sequences of ``split`` (``train``, ``val`` or ``test``)."""
        if split not in self._sequences:
            source = self.sources[split]
            self._sequences[split] = [] if source is None else distinct_videos(as_sequences(source))
            if split != "train" and source is not None:
                shared = {video_name(s.name) for s in self._sequences[split]} & {
                    video_name(s.name) for s in self.sequences("train")
                }
                if shared:
                    log.warning("the %s split shares videos %s with training: its scores are optimistic", split, shared)
        return self._sequences[split]

    def crop_index(self, split: str) -> CropIndex:
        """The crops of ``split`` (ground truth only, no pixels), protocol applied; cached."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if split not in self._indices:
            if self.sources[split] is None:
                raise ValueError(f"this datamodule has no {split} sequences")
            stride = self.frame_stride if split == "train" else self.eval_frame_stride
            index = ground_truth_crops(self.sequences(split), self.min_visibility, self.min_height, stride)
            if split == "train":
                index = training_crops(index, self.min_crops_per_identity, self.max_crops_per_identity)
            else:
                index = query_gallery_split(index, self.queries_per_identity, self.min_frame_gap)
            if not len(index) or (split != "train" and not index.is_query.any()):
                limits = "data.min_crops_per_identity" if split == "train" else "data.min_frame_gap"
                raise ValueError(
                    f"the {split} split has no usable crops{'' if split == 'train' else ' or no queries'} "
                    f"(sequences {[s.name for s in self.sequences(split)]}, min_visibility={self.min_visibility}, "
                    f"min_height={self.min_height}, min_crops_per_identity={self.min_crops_per_identity}, "
                    f"min_frame_gap={self.min_frame_gap}): lower data.min_visibility, data.min_height or {limits}, "
                    f"or give it more sequences (data.{split}.sequences=[...])"
                )
            self._indices[split] = index
        return self._indices[split]

    @property
    def num_identities(self) -> int:
        """Identities of the training split (the classes of the identity classifier)."""
        return self.crop_index("train").num_identities

    def has_split(self, split: str) -> bool:
        return self.sources[split] is not None

    def make_split(self, split: str) -> ReidCropsDataset:
        index = self.crop_index(split)
        crops = load_crops(self.sequences(split), index, self.input_size)
        return ReidCropsDataset(crops, index, self.augmentation if split == "train" else None)

    def summary(self) -> dict[str, dict[str, int]]:
        """Crops, identities and queries of each split that has sequences (ground truth only)."""
        return {
            split: {
                "crops": len(index),
                "identities": index.num_identities,
                "queries": int(index.is_query.sum()),
            }
            for split in SPLITS
            if self.sources[split] is not None
            for index in [self.crop_index(split)]
        }
