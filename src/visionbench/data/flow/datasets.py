"""Optical-flow benchmarks in their released layouts: FlyingChairs, MPI-Sintel, KITTI 2012/2015, Middlebury.

Every dataset returns the flow-sample contract (see :func:`~visionbench.data.flow.transforms.flow_sample_to_tensors`)::

    {"image1", "image2": float32 3,H,W RGB in [0, 1], "flow": float32 2,H,W (u, v) frame 1 -> frame 2 in pixels,
     "valid": bool H,W (pixels with ground truth), "occlusion": bool H,W (only when the dataset provides it)}

Flow at invalid pixels is set to 0. ``transform`` (e.g. :class:`~visionbench.data.flow.transforms.FlowAugmentation`)
receives the numpy sample (``H,W,3`` uint8 frames, ``H,W,2`` flow, ``H,W`` masks) before the conversion;
:meth:`FlowDataset.load` returns that numpy sample. The file list is built and the layout checked when a
dataset is constructed; a missing root or folder, a frame without its flow, a flow without its frames, or an
empty split raise :class:`~visionbench.data.errors.DatasetLayoutError` naming the path and the expected layout;
a malformed file raises :class:`~visionbench.data.errors.DatasetFormatError` when it is read.

The datamodules build nothing at construction (configs instantiate without the data on disk); ``setup`` builds
the splits. Evaluation loaders use ``val_batch_size`` (1 by default: frames differ in size between sequences)
and no transform (full frames; a model pads them as it needs).
"""

from __future__ import annotations

import logging
import os
import re
from abc import abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from visionbench.data.datamodule import VisionDataModule
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError, root_hint
from visionbench.data.flow.io import read_binary_mask_png, read_flo, read_kitti_flow
from visionbench.data.flow.transforms import flow_sample_to_tensors
from visionbench.data.image import read_rgb_image

__all__ = [
    "CHAIRS_LAYOUT",
    "KITTI_LAYOUTS",
    "MIDDLEBURY_LAYOUT",
    "SINTEL_LAYOUT",
    "SPLITS_DIR",
    "FlowDataModule",
    "FlowDataset",
    "FlyingChairsDataModule",
    "FlyingChairsDataset",
    "KITTIFlowDataModule",
    "KITTIFlowDataset",
    "MiddleburyDataModule",
    "MiddleburyDataset",
    "SintelDataModule",
    "SintelDataset",
    "read_split_list",
]

log = logging.getLogger(__name__)

SPLITS_DIR = Path(__file__).resolve().parent / "splits"
"""Split files shipped with the package (see ``splits/README.md``)."""
_SPLITS = ("train", "val", "all")
Transform = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
_READ_ALL = (
    "or read every pair with data.train_split=all, data.val_split=all or data.test_split=all (the loader that reads "
    "this split)"
)

CHAIRS_LAYOUT = f"""expected the released FlyingChairs layout:
  <root>/data/00001_img1.ppm, 00001_img2.ppm, 00001_flow.flo ... 22872_flow.flo
  <root>/FlyingChairs_train_val.txt   (optional: one line per pair, 1 = train, 2 = val; else the shipped RAFT split)
where <root> is the extracted FlyingChairs_release folder:
  {root_hint("FlyingChairs_release")}"""

SINTEL_LAYOUT = f"""expected the released MPI-Sintel layout (MPI-Sintel-complete.zip):
  <root>/training/clean/<scene>/frame_0001.png ...   (and/or final/)
  <root>/training/flow/<scene>/frame_0001.flo ...    (one per frame except each scene's last)
  <root>/training/occlusions/<scene>/frame_0001.png  (optional: 255 = occluded)
  <root>/training/invalid/<scene>/frame_0001.png     (optional: 255 = invalid)
where <root> is the folder MPI-Sintel-complete.zip is extracted into:
  {root_hint("MPI-Sintel")}"""

KITTI_LAYOUTS = {
    2015: f"""expected the released KITTI 2015 flow layout (data_scene_flow.zip):
  <root>/training/image_2/000000_10.png, 000000_11.png ...
  <root>/training/flow_occ/000000_10.png ...   (16-bit PNG flow, all pixels)
  <root>/training/flow_noc/000000_10.png ...   (16-bit PNG flow, non-occluded pixels)
where <root> is the folder data_scene_flow.zip is extracted into:
  {root_hint("KITTI2015")}""",
    2012: f"""expected the released KITTI 2012 flow layout (data_stereo_flow.zip):
  <root>/training/colored_0/000000_10.png, 000000_11.png ...
  <root>/training/flow_occ/000000_10.png ...   (16-bit PNG flow, all pixels)
  <root>/training/flow_noc/000000_10.png ...   (16-bit PNG flow, non-occluded pixels)
where <root> is the folder data_stereo_flow.zip is extracted into:
  {root_hint("KITTI2012")}""",
}

MIDDLEBURY_LAYOUT = f"""expected the released Middlebury flow layout (other-color-twoframes.zip, other-gt-flow.zip):
  <root>/other-data/<Sequence>/frame10.png, frame11.png
  <root>/other-gt-flow/<Sequence>/flow10.flo
where <root> is the folder both zips are extracted into:
  {root_hint("middlebury")}"""


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------
def read_frame(path: Path) -> np.ndarray:
    """A frame as ``H,W,3`` uint8 RGB; 16-bit files (a flow or depth PNG given as a frame) are refused."""
    return read_rgb_image(path, allow_16bit=False)


def read_split_list(path: str | os.PathLike) -> list[str]:
    """Non-empty, non-comment (``#``) lines of a split file, stripped."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"split file {path} does not exist")
    with open(path, encoding="utf-8") as handle:
        return [s for s in (line.strip() for line in handle) if s and not s.startswith("#")]


def _check_split(split: str) -> str:
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    return split


def _split_choice(train: str, val: str, test: str) -> dict[str, str]:
    return {"train": _check_split(train), "val": _check_split(val), "test": _check_split(test)}


def _require_dir(path: Path, what: str, layout: str, hint: str = "") -> None:
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "does not exist"
        raise DatasetLayoutError(f"{what} {path} {state}{hint}; {layout}")


def _names(folder: Path) -> set[str]:
    with os.scandir(folder) as entries:
        return {e.name for e in entries}


def _subfolders(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir())


def _same_size(files: Sequence[Path], arrays: Sequence[np.ndarray]) -> None:
    sizes = {a.shape[:2] for a in arrays}
    if len(sizes) > 1:
        described = ", ".join(f"{f} is {a.shape[1]}x{a.shape[0]}" for f, a in zip(files, arrays, strict=True))
        raise DatasetFormatError(f"frames and flow of one pair must have the same size (WxH): {described}")


# --------------------------------------------------------------------------------------------------
# Base classes
# --------------------------------------------------------------------------------------------------
class FlowDataset(Dataset):
    """Base of the real flow datasets: ``pairs`` (one entry per sample), :meth:`load` (numpy sample) and
    :meth:`sample_id`; ``__getitem__`` applies ``transform`` to the numpy sample and converts it to tensors."""

    name = "flow"

    def __init__(self, transform: Transform | None = None) -> None:
        self.transform = transform
        self.pairs: list = []

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, index: int) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample_id(self, index: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def reseed(self, seed: int) -> None:
        """Reseed the transform's random stream (used by the DataLoader worker init)."""
        if self.transform is not None and hasattr(self.transform, "reseed"):
            self.transform.reseed(seed)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.load(index)
        if self.transform is not None:
            sample = self.transform(sample)
        return flow_sample_to_tensors(sample)

    @staticmethod
    def _sample(image1: np.ndarray, image2: np.ndarray, flow: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
        flow = np.array(flow, dtype=np.float32)  # a writable copy
        flow[~valid] = 0.0
        return {"image1": image1, "image2": image2, "flow": flow, "valid": valid}

    def _frames_and_flo(self, image1_path: Path, image2_path: Path, flow_path: Path) -> dict[str, np.ndarray]:
        """The sample of two frames and a ``.flo`` ground truth (FlyingChairs, Middlebury), sizes checked."""
        image1, image2 = read_frame(image1_path), read_frame(image2_path)
        flow, valid = read_flo(flow_path)
        _same_size((image1_path, image2_path, flow_path), (image1, image2, flow))
        return self._sample(image1, image2, flow, valid)

    def _empty(self, root: Path, split: str, why: str, fix: str) -> DatasetLayoutError:
        """The error of a split that selects no pair: ``why``, then ``fix`` (the options that select some)."""
        return DatasetLayoutError(f"{self.name}: split {split!r} of {root} has no sample: {why}\nto fix it: {fix}")


class FlowDataModule(VisionDataModule):
    """Base of the flow datamodules: ``splits`` maps each loader (``train`` / ``val`` / ``test``) to the dataset split
    it reads (None: no such loader), :meth:`_make` builds that dataset; the training one gets ``train_transform``.

    Args:
        batch_size: training batch size (the training transform must crop to one size).
        val_batch_size: evaluation batch size (1: frames differ in size).
        num_workers: DataLoader worker processes.
        train_transform: callable on the numpy training sample (e.g. ``FlowAugmentation``); None: none.
        seed: seeds the training shuffle and the augmentation streams (per worker and DDP rank).
        pin_memory: DataLoader pin_memory.
        drop_last: drop the last incomplete training batch (a training set smaller than one batch keeps it).

    Attributes: ``name`` (dataset and variant, e.g. ``"sintel-clean"``), ``batch_size``, ``val_batch_size``,
    ``num_workers``, ``train_set`` / ``val_set`` / ``test_set`` after :meth:`setup`.
    """

    name = "flow"
    splits: dict[str, str | None] = {"train": "train", "val": "val", "test": "val"}

    def __init__(
        self,
        batch_size: int = 8,
        val_batch_size: int = 1,
        num_workers: int = 4,
        train_transform: Transform | None = None,
        seed: int = 0,
        pin_memory: bool = False,
        drop_last: bool = True,
    ) -> None:
        super().__init__(batch_size, val_batch_size, num_workers, seed, pin_memory, drop_last)
        self.train_transform = train_transform

    @abstractmethod
    def _make(self, split: str, transform: Transform | None) -> FlowDataset:
        """The dataset of ``split`` (``train``, ``val`` or ``all``) with ``transform``."""

    def has_split(self, split: str) -> bool:
        return bool(self.splits.get(split))

    def make_split(self, split: str) -> FlowDataset:
        return self._make(self.splits[split], self.train_transform if split == "train" else None)


# --------------------------------------------------------------------------------------------------
# FlyingChairs
# --------------------------------------------------------------------------------------------------
CHAIRS_SPLIT_NAME = "FlyingChairs_train_val.txt"
RAFT_CHAIRS_SPLIT = SPLITS_DIR / "raft_chairs_split.txt"
_CHAIRS_IMG1 = re.compile(r"^(\d+)_img1\.ppm$")


class FlyingChairsDataset(FlowDataset):
    """FlyingChairs (Dosovitskiy et al., FlowNet, ICCV 2015): 22,872 synthetic pairs of 512x384, dense flow.

    Args:
        root: the ``FlyingChairs_release`` folder.
        split: ``"train"`` (split value 1), ``"val"`` (2) or ``"all"``.
        split_file: train/val file, one line per pair in id order (line ``i`` is pair ``i``). None: the
            dataset's own ``<root>/FlyingChairs_train_val.txt`` when present, else the shipped RAFT split
            (``splits/raft_chairs_split.txt``); the choice is logged. The two circulating splits share only 35
            of their 640 validation pairs (see ``splits/README.md``).
        transform: callable on the numpy sample.

    Samples: ``image1``, ``image2``, ``flow``, ``valid`` (|u|, |v| < 1e9; all pixels in the release).
    """

    name = "flyingchairs"

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        split_file: str | os.PathLike | None = None,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        self.root = Path(root)
        self.split = _check_split(split)
        data = self.root / "data"
        hint = ""
        if self.root.is_dir() and not data.is_dir() and any(_CHAIRS_IMG1.match(n) for n in _names(self.root)):
            hint = " (the root holds the *_img1.ppm files itself: set data.root to the folder that contains data/)"
        _require_dir(self.root, "FlyingChairs root", CHAIRS_LAYOUT)
        _require_dir(data, "FlyingChairs folder", CHAIRS_LAYOUT, hint)
        names = _names(data)
        ids = sorted((m.group(1) for m in map(_CHAIRS_IMG1.match, names) if m), key=int)
        if not ids:
            raise DatasetLayoutError(f"no *_img1.ppm frames in {data}; {CHAIRS_LAYOUT}")
        for sample_id in ids:
            for suffix in ("_img2.ppm", "_flow.flo"):
                if sample_id + suffix not in names:
                    raise DatasetLayoutError(
                        f"FlyingChairs pair {data / (sample_id + '_img1.ppm')} has no {data / (sample_id + suffix)}; "
                        f"{CHAIRS_LAYOUT}"
                    )
        for name in names:
            if name.endswith("_flow.flo") and name[: -len("_flow.flo")] + "_img1.ppm" not in names:
                raise DatasetLayoutError(f"FlyingChairs flow {data / name} has no frames; {CHAIRS_LAYOUT}")
        if split_file is None:
            own = self.root / CHAIRS_SPLIT_NAME
            self.split_file, origin = (own, "the dataset's own") if own.is_file() else (RAFT_CHAIRS_SPLIT, "RAFT's")
        else:
            self.split_file, origin = Path(split_file), "the configured"
        log.info("FlyingChairs train/val split: %s (%s split file)", self.split_file, origin)
        values = read_split_list(self.split_file)
        bad = sorted({v for v in values if v not in ("1", "2")})
        if bad:
            raise DatasetFormatError(
                f"split file {self.split_file} holds {bad[:5]}; each line must be 1 (train) or 2 (val)"
            )
        wanted = {"train": "1", "val": "2"}.get(self.split)
        for sample_id in ids:
            number = int(sample_id)
            if not 1 <= number <= len(values):
                raise DatasetFormatError(
                    f"FlyingChairs pair {sample_id} has no line in split file {self.split_file} "
                    f"({len(values)} lines; line i belongs to pair i)"
                )
            if wanted is None or values[number - 1] == wanted:
                self.pairs.append((data / f"{sample_id}_img1.ppm", data / f"{sample_id}_img2.ppm",
                                   data / f"{sample_id}_flow.flo"))  # fmt: skip
        if not self.pairs:
            raise self._empty(
                self.root,
                self.split,
                f"the split file {self.split_file} marks none of the {len(ids)} pair(s) in {data} as {self.split} "
                f"({wanted})",
                f"choose another split file with data.split_file=..., {_READ_ALL}",
            )

    def sample_id(self, index: int) -> str:
        return self.pairs[index][0].name[: -len("_img1.ppm")]

    def load(self, index: int) -> dict[str, np.ndarray]:
        return self._frames_and_flo(*self.pairs[index])


class FlyingChairsDataModule(FlowDataModule):
    """FlyingChairs train / val / test with RAFT's recipe in ``conf/data/flyingchairs.yaml``.

    Args:
        root: the ``FlyingChairs_release`` folder.
        split_file: see :class:`FlyingChairsDataset`.
        train_split, val_split, test_split: ``"train"``, ``"val"`` or ``"all"`` (default train / val / val).
        **kwargs: :class:`FlowDataModule` arguments (``batch_size``, ``val_batch_size``, ``num_workers``,
            ``train_transform``, ``seed``, ``pin_memory``, ``drop_last``).
    """

    name = "flyingchairs"

    def __init__(
        self,
        root: str | os.PathLike,
        split_file: str | os.PathLike | None = None,
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "val",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)
        self.split_file = split_file
        self.splits = _split_choice(train_split, val_split, test_split)

    def _make(self, split: str, transform: Transform | None) -> FlyingChairsDataset:
        return FlyingChairsDataset(self.root, split, self.split_file, transform)


# --------------------------------------------------------------------------------------------------
# MPI-Sintel
# --------------------------------------------------------------------------------------------------
SINTEL_VAL_SCENES = SPLITS_DIR / "sintel_val_scenes.txt"
SINTEL_PASSES = ("clean", "final")
_SINTEL_FRAME = re.compile(r"^frame_(\d+)\.png$")
_SINTEL_FLOW = re.compile(r"^frame_(\d+)\.flo$")


def _sintel_passes(passes: str | Sequence[str]) -> tuple[str, ...]:
    chosen = (passes,) if isinstance(passes, str) else tuple(passes)
    if chosen == ("both",):
        chosen = SINTEL_PASSES
    if not chosen or any(p not in SINTEL_PASSES for p in chosen) or len(set(chosen)) != len(chosen):
        raise ValueError(f"passes must be 'clean', 'final', 'both' or a list of them, got {passes!r}")
    return chosen


class SintelDataset(FlowDataset):
    """MPI-Sintel training set (Butler et al., ECCV 2012): 23 scenes, 1041 pairs per pass, 1024x436.

    Args:
        root: the ``MPI-Sintel`` folder (holding ``training/``).
        split: ``"train"`` (every scene not in the validation list), ``"val"`` (the validation scenes) or
            ``"all"`` (every training scene: the "Sintel train" column of published tables).
        passes: ``"clean"``, ``"final"``, ``"both"`` or a list; samples are ordered by pass, scene, frame.
        val_scenes: validation scene names; None reads ``val_scenes_file``.
        val_scenes_file: one scene per line; None: the shipped ``splits/sintel_val_scenes.txt`` (ptlflow's
            scenes ambush_2, ambush_6, bamboo_2, cave_4, market_6, temple_2). The split is by scene because
            the frames of a scene are strongly correlated.
        mask_invalid: also mark the pixels of ``training/invalid/`` (255) as invalid. False (default) keeps
            every pixel with a known flow, as the Sintel benchmark, RAFT and ptlflow evaluate (and the
            reference values in the fixtures README).
        transform: callable on the numpy sample.

    Samples: ``image1`` = ``frame_i``, ``image2`` = ``frame_{i+1}``, ``flow`` = ``flow/frame_i.flo``, ``valid``
    and, when ``training/occlusions/`` exists, ``occlusion`` (255 in ``occlusions/<scene>/frame_i.png``).
    """

    name = "sintel"

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        passes: str | Sequence[str] = "clean",
        val_scenes: Sequence[str] | None = None,
        val_scenes_file: str | os.PathLike | None = None,
        mask_invalid: bool = False,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        self.root = Path(root)
        self.split = _check_split(split)
        self.passes = _sintel_passes(passes)
        self.mask_invalid = bool(mask_invalid)
        training = self.root / "training"
        hint = ""
        if self.root.is_dir() and not training.is_dir() and (self.root / "flow").is_dir():
            hint = " (the root looks like the training folder itself: set data.root to its parent)"
        _require_dir(self.root, "MPI-Sintel root", SINTEL_LAYOUT)
        _require_dir(training, "MPI-Sintel folder", SINTEL_LAYOUT, hint)
        flow_root = training / "flow"
        _require_dir(flow_root, "MPI-Sintel flow folder", SINTEL_LAYOUT)
        present = [p for p in SINTEL_PASSES if (training / p).is_dir()]
        passes_hint = f" (set data.passes to the passes present: {', '.join(present)})" if present else ""
        for p in self.passes:
            _require_dir(training / p, f"MPI-Sintel {p} pass folder", SINTEL_LAYOUT, passes_hint)
        occ_root = training / "occlusions"
        self.with_occlusion = occ_root.is_dir()
        invalid_root = training / "invalid"
        if self.mask_invalid:
            _require_dir(invalid_root, "MPI-Sintel invalid folder (mask_invalid=True)", SINTEL_LAYOUT)
        self.val_scenes_file: Path | None = None
        if val_scenes is None:
            self.val_scenes_file = Path(val_scenes_file) if val_scenes_file is not None else SINTEL_VAL_SCENES
            val_scenes = read_split_list(self.val_scenes_file)
        self.val_scenes = tuple(val_scenes)
        scenes = _subfolders(flow_root)
        if not scenes:
            raise DatasetLayoutError(f"no scene folders in {flow_root}; {SINTEL_LAYOUT}")
        for p in self.passes:
            for scene in _subfolders(training / p):
                if scene not in scenes:
                    raise DatasetLayoutError(
                        f"MPI-Sintel scene {training / p / scene} has no flow: expected {flow_root / scene}; "
                        f"{SINTEL_LAYOUT}"
                    )
        chosen = scenes
        if self.split == "train":
            chosen = [s for s in scenes if s not in self.val_scenes]
        elif self.split == "val":
            chosen = [s for s in scenes if s in self.val_scenes]
        for p in self.passes:
            for scene in chosen:
                self.pairs.extend(self._scene_pairs(training, p, scene))
        if not self.pairs:
            source = self.val_scenes_file if self.val_scenes_file is not None else "data.val_scenes"
            raise self._empty(
                self.root,
                self.split,
                f"none of the scenes in {flow_root} ({', '.join(scenes)}) is a {self.split} scene (validation scenes, "
                f"from {source}: {', '.join(self.val_scenes)})",
                f"choose the validation scenes with data.val_scenes=[...] or data.val_scenes_file=..., {_READ_ALL}",
            )

    def _scene_pairs(self, training: Path, pass_name: str, scene: str) -> list[tuple]:
        frame_dir = training / pass_name / scene
        flow_dir = training / "flow" / scene
        _require_dir(frame_dir, f"MPI-Sintel scene folder (scene {scene} has flow)", SINTEL_LAYOUT)
        frames = sorted(int(m.group(1)) for m in map(_SINTEL_FRAME.match, _names(frame_dir)) if m)
        flows = {int(m.group(1)) for m in map(_SINTEL_FLOW.match, _names(flow_dir)) if m}
        frame_set = set(frames)
        for number in sorted(flows):
            for needed in (number, number + 1):
                if needed not in frame_set:
                    raise DatasetLayoutError(
                        f"MPI-Sintel flow {flow_dir / f'frame_{number:04d}.flo'} has no frame "
                        f"{frame_dir / f'frame_{needed:04d}.png'}; {SINTEL_LAYOUT}"
                    )
        for number in frames[:-1]:
            if number not in flows:
                raise DatasetLayoutError(
                    f"MPI-Sintel frame {frame_dir / f'frame_{number:04d}.png'} has no flow: expected "
                    f"{flow_dir / f'frame_{number:04d}.flo'}; {SINTEL_LAYOUT}"
                )
        pairs = []
        for number in sorted(flows):
            name = f"frame_{number:04d}"
            occ = training / "occlusions" / scene / f"{name}.png" if self.with_occlusion else None
            invalid = training / "invalid" / scene / f"{name}.png" if self.mask_invalid else None
            for mask, what in ((occ, "occlusion mask"), (invalid, "invalid mask")):
                if mask is not None and not mask.is_file():
                    raise DatasetLayoutError(
                        f"MPI-Sintel {what} {mask} is missing for {flow_dir / (name + '.flo')}; {SINTEL_LAYOUT}"
                    )
            pairs.append((frame_dir / f"{name}.png", frame_dir / f"frame_{number + 1:04d}.png",
                          flow_dir / f"{name}.flo", occ, invalid))  # fmt: skip
        return pairs

    def sample_id(self, index: int) -> str:
        image1 = self.pairs[index][0]
        return f"{image1.parent.parent.name}/{image1.parent.name}/{image1.stem}"

    def load(self, index: int) -> dict[str, np.ndarray]:
        image1_path, image2_path, flow_path, occ_path, invalid_path = self.pairs[index]
        image1, image2 = read_frame(image1_path), read_frame(image2_path)
        flow, valid = read_flo(flow_path)
        arrays, files = [image1, image2, flow], [image1_path, image2_path, flow_path]
        occlusion = invalid = None
        if occ_path is not None:
            occlusion = read_binary_mask_png(occ_path, "MPI-Sintel occlusion mask")
            arrays.append(occlusion)
            files.append(occ_path)
        if invalid_path is not None:
            invalid = read_binary_mask_png(invalid_path, "MPI-Sintel invalid mask")
            arrays.append(invalid)
            files.append(invalid_path)
        _same_size(files, arrays)
        if invalid is not None:
            valid = valid & ~invalid
        sample = self._sample(image1, image2, flow, valid)
        if occlusion is not None:
            sample["occlusion"] = occlusion
        return sample


class SintelDataModule(FlowDataModule):
    """MPI-Sintel train / val / test by scene (see :class:`SintelDataset`).

    Args:
        root: the ``MPI-Sintel`` folder.
        passes: ``"clean"``, ``"final"``, ``"both"`` or a list; ``name`` is ``sintel-<pass>`` (``sintel-clean+final``).
        train_split, val_split, test_split: ``"train"``, ``"val"`` or ``"all"`` (default train / val / val;
            ``test_split=all`` scores every training pair, the "Sintel (train)" column of published tables).
        val_scenes, val_scenes_file, mask_invalid: see :class:`SintelDataset`.
        **kwargs: :class:`FlowDataModule` arguments.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        passes: str | Sequence[str] = "clean",
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "val",
        val_scenes: Sequence[str] | None = None,
        val_scenes_file: str | os.PathLike | None = None,
        mask_invalid: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)
        self.passes = _sintel_passes(passes)
        self.splits = _split_choice(train_split, val_split, test_split)
        self.val_scenes = None if val_scenes is None else tuple(val_scenes)
        self.val_scenes_file = val_scenes_file
        self.mask_invalid = bool(mask_invalid)
        self.name = "sintel-" + "+".join(self.passes)

    def _make(self, split: str, transform: Transform | None) -> SintelDataset:
        return SintelDataset(
            self.root, split, self.passes, self.val_scenes, self.val_scenes_file, self.mask_invalid, transform
        )


# --------------------------------------------------------------------------------------------------
# KITTI 2012 / 2015
# --------------------------------------------------------------------------------------------------
_KITTI_IMAGES = {2015: "image_2", 2012: "colored_0"}
_KITTI_FLOW = re.compile(r"^(\d{6})_10\.png$")


class KITTIFlowDataset(FlowDataset):
    """KITTI flow (Geiger et al. 2012; Menze and Geiger 2015) training pairs: sparse ground truth from LiDAR.

    Args:
        root: the folder holding ``training/`` of ``data_scene_flow.zip`` (2015) or ``data_stereo_flow.zip`` (2012).
        year: 2015 (frames in ``image_2/``, 200 pairs) or 2012 (frames in ``colored_0/``, 194 pairs).
        split: ``"train"``, ``"val"`` (the ids of ``val_ids_file``) or ``"all"`` (every training pair: the
            "KITTI (train)" column of published tables).
        flow_type: ``"occ"`` (``flow_occ/``: all pixels with ground truth, the benchmark's "all" / Fl-all) or
            ``"noc"`` (``flow_noc/``: non-occluded pixels only).
        val_ids_file: one pair id per line; None: the shipped ``splits/kitti<year>_val.txt`` (ptlflow's).
        transform: callable on the numpy sample (use ``FlowAugmentation(sparse=True)``).

    Samples: ``image1`` = ``<id>_10.png``, ``image2`` = ``<id>_11.png``, ``flow``, ``valid`` (third channel of
    the flow PNG > 0) and, when both ``flow_occ/`` and ``flow_noc/`` exist, ``occlusion`` = valid in
    ``flow_occ`` and not valid in ``flow_noc``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        year: int = 2015,
        split: str = "train",
        flow_type: str = "occ",
        val_ids_file: str | os.PathLike | None = None,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(transform)
        if int(year) not in _KITTI_IMAGES:
            raise ValueError(f"year must be 2012 or 2015, got {year}")
        if flow_type not in ("occ", "noc"):
            raise ValueError(f"flow_type must be 'occ' or 'noc', got {flow_type!r}")
        self.root = Path(root)
        self.year = int(year)
        self.split = _check_split(split)
        self.flow_type = flow_type
        self.name = f"kitti{self.year}"
        layout = KITTI_LAYOUTS[self.year]
        training = self.root / "training"
        image_dir = training / _KITTI_IMAGES[self.year]
        hint = ""
        if self.root.is_dir() and not training.is_dir() and (self.root / _KITTI_IMAGES[self.year]).is_dir():
            hint = " (the root looks like the training folder itself: set data.root to its parent)"
        _require_dir(self.root, f"KITTI {self.year} root", layout)
        _require_dir(training, f"KITTI {self.year} folder", layout, hint)
        _require_dir(image_dir, f"KITTI {self.year} frame folder", layout)
        flow_dir = training / f"flow_{flow_type}"
        other_type = "noc" if flow_type == "occ" else "occ"
        other_dir = training / f"flow_{other_type}"
        flow_hint = f" ({other_dir} exists: set data.flow_type={other_type})" if other_dir.is_dir() else ""
        _require_dir(flow_dir, f"KITTI {self.year} flow folder (flow_type={flow_type!r})", layout, flow_hint)
        self.with_occlusion = other_dir.is_dir()
        flow_names = _names(flow_dir)
        ids = sorted(m.group(1) for m in map(_KITTI_FLOW.match, flow_names) if m)
        if not ids:
            raise DatasetLayoutError(f"no <id>_10.png flow files in {flow_dir}; {layout}")
        image_names = _names(image_dir)
        other_names = _names(other_dir) if self.with_occlusion else set()
        for name in sorted(image_names):
            m = _KITTI_FLOW.match(name)
            if m and name not in flow_names:
                raise DatasetLayoutError(
                    f"KITTI frame {image_dir / name} has no flow: expected {flow_dir / name}; {layout}"
                )
        if val_ids_file is None:
            val_ids_file = SPLITS_DIR / f"kitti{self.year}_val.txt"
        self.val_ids_file = Path(val_ids_file)
        val_ids = {v.removesuffix("_10") for v in read_split_list(self.val_ids_file)}
        for sample_id in ids:
            if (self.split == "train" and sample_id in val_ids) or (self.split == "val" and sample_id not in val_ids):
                continue
            frames = [image_dir / f"{sample_id}_{k}.png" for k in ("10", "11")]
            for frame in frames:
                if frame.name not in image_names:
                    raise DatasetLayoutError(
                        f"KITTI flow {flow_dir / (sample_id + '_10.png')} has no frame {frame}; {layout}"
                    )
            other = None
            if self.with_occlusion:
                other = other_dir / f"{sample_id}_10.png"
                if other.name not in other_names:
                    raise DatasetLayoutError(
                        f"KITTI flow {flow_dir / other.name} has no counterpart {other} (both flow_occ/ and flow_noc/ "
                        f"exist, so every pair needs both); {layout}"
                    )
            self.pairs.append((frames[0], frames[1], flow_dir / f"{sample_id}_10.png", other))
        if not self.pairs:
            raise self._empty(
                self.root,
                self.split,
                f"none of the {len(ids)} pair(s) in {flow_dir} is a {self.split} pair (validation ids: "
                f"{self.val_ids_file})",
                f"choose the validation ids with data.val_ids_file=..., {_READ_ALL}",
            )

    def sample_id(self, index: int) -> str:
        return self.pairs[index][0].stem[:-3]

    def load(self, index: int) -> dict[str, np.ndarray]:
        image1_path, image2_path, flow_path, other_path = self.pairs[index]
        image1, image2 = read_frame(image1_path), read_frame(image2_path)
        flow, valid = read_kitti_flow(flow_path)
        arrays, files = [image1, image2, flow], [image1_path, image2_path, flow_path]
        other_valid = None
        if other_path is not None:
            _, other_valid = read_kitti_flow(other_path)
            arrays.append(other_valid)
            files.append(other_path)
        _same_size(files, arrays)
        sample = self._sample(image1, image2, flow, valid)
        if other_valid is not None:
            occ_valid, noc_valid = (valid, other_valid) if self.flow_type == "occ" else (other_valid, valid)
            sample["occlusion"] = occ_valid & ~noc_valid
        return sample


class KITTIFlowDataModule(FlowDataModule):
    """KITTI 2015 or 2012 flow train / val / test (see :class:`KITTIFlowDataset`).

    Args:
        root: the folder holding ``training/``.
        year: 2015 or 2012; ``name`` is ``kitti<year>`` (``kitti<year>-noc`` with ``flow_type="noc"``).
        flow_type: ``"occ"`` or ``"noc"``.
        train_split, val_split, test_split: ``"train"``, ``"val"`` or ``"all"`` (default train / val / val;
            ``test_split=all`` scores all training pairs, the "KITTI (train)" column of published tables).
        val_ids_file: see :class:`KITTIFlowDataset`.
        **kwargs: :class:`FlowDataModule` arguments (use ``FlowAugmentation(sparse=True)`` for training).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        year: int = 2015,
        flow_type: str = "occ",
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "val",
        val_ids_file: str | os.PathLike | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if int(year) not in _KITTI_IMAGES:
            raise ValueError(f"year must be 2012 or 2015, got {year}")
        if flow_type not in ("occ", "noc"):
            raise ValueError(f"flow_type must be 'occ' or 'noc', got {flow_type!r}")
        self.root = Path(root)
        self.year = int(year)
        self.flow_type = flow_type
        self.splits = _split_choice(train_split, val_split, test_split)
        self.val_ids_file = val_ids_file
        self.name = f"kitti{self.year}" + ("-noc" if flow_type == "noc" else "")

    def _make(self, split: str, transform: Transform | None) -> KITTIFlowDataset:
        return KITTIFlowDataset(self.root, self.year, split, self.flow_type, self.val_ids_file, transform)


# --------------------------------------------------------------------------------------------------
# Middlebury
# --------------------------------------------------------------------------------------------------
class MiddleburyDataset(FlowDataset):
    """Middlebury flow "other" set with public ground truth (Baker et al., IJCV 2011): 8 sequences, evaluation
    only.

    Args:
        root: the folder holding ``other-data/`` and ``other-gt-flow/``.
        sequences: names to keep (None: every sequence of ``other-gt-flow/``). Sequences of ``other-data/``
            without ground truth (released that way) are skipped and logged.
        transform: callable on the numpy sample.

    Samples: ``image1`` = ``frame10.png``, ``image2`` = ``frame11.png``, ``flow`` = ``flow10.flo``, ``valid``
    (|u|, |v| < 1e9: some sequences have unknown-flow pixels).
    """

    name = "middlebury"

    def __init__(
        self, root: str | os.PathLike, sequences: Sequence[str] | None = None, transform: Transform | None = None
    ) -> None:
        super().__init__(transform)
        self.root = Path(root)
        data, gt = self.root / "other-data", self.root / "other-gt-flow"
        _require_dir(self.root, "Middlebury root", MIDDLEBURY_LAYOUT)
        _require_dir(data, "Middlebury frame folder", MIDDLEBURY_LAYOUT)
        _require_dir(gt, "Middlebury ground-truth folder", MIDDLEBURY_LAYOUT)
        with_gt = _subfolders(gt)
        if sequences is not None:
            unknown = sorted(set(sequences) - set(with_gt))
            if unknown:
                raise DatasetLayoutError(f"Middlebury sequences {unknown} have no folder in {gt}; {MIDDLEBURY_LAYOUT}")
            with_gt = [s for s in with_gt if s in set(sequences)]
        skipped = sorted(set(_subfolders(data)) - set(_subfolders(gt)))
        if skipped:
            log.info("Middlebury: sequences without ground truth in %s skipped: %s", gt, ", ".join(skipped))
        for seq in with_gt:
            flow = gt / seq / "flow10.flo"
            frames = (data / seq / "frame10.png", data / seq / "frame11.png")
            if not flow.is_file():
                raise DatasetLayoutError(f"Middlebury ground-truth file {flow} is missing; {MIDDLEBURY_LAYOUT}")
            for frame in frames:
                if not frame.is_file():
                    raise DatasetLayoutError(f"Middlebury flow {flow} has no frame {frame}; {MIDDLEBURY_LAYOUT}")
            self.pairs.append((*frames, flow))
        if not self.pairs:
            chosen = "" if sequences is None else f" among data.sequences={list(sequences)}"
            raise DatasetLayoutError(f"Middlebury: no sequence folder in {gt}{chosen}; {MIDDLEBURY_LAYOUT}")

    def sample_id(self, index: int) -> str:
        return self.pairs[index][0].parent.name

    def load(self, index: int) -> dict[str, np.ndarray]:
        return self._frames_and_flo(*self.pairs[index])


class MiddleburyDataModule(FlowDataModule):
    """Middlebury flow, evaluation only: val and test loaders over every sequence with ground truth; no
    train loader (``trainer.fit`` with it stops with an explanation).

    Args:
        root: the folder holding ``other-data/`` and ``other-gt-flow/``.
        sequences: see :class:`MiddleburyDataset`.
        **kwargs: :class:`FlowDataModule` arguments (``val_batch_size``, ``num_workers``, ...).
    """

    name = "middlebury"
    splits = {"train": None, "val": "all", "test": "all"}

    def __init__(self, root: str | os.PathLike, sequences: Sequence[str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)
        self.sequences = None if sequences is None else tuple(sequences)

    def _make(self, split: str, transform: Transform | None) -> MiddleburyDataset:
        return MiddleburyDataset(self.root, self.sequences, transform)
