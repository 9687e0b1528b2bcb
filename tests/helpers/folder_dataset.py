"""Tiny folder-layout segmentation datasets (images/ + masks/ + classes.txt) written for the tests."""

from pathlib import Path

import cv2
import numpy as np

H, W = 32, 40
CLASSES = ["background", "road", "car"]
PALETTE = [[0, 0, 0], [128, 64, 128], [0, 0, 142]]
IGNORE_COLOUR = [255, 255, 255]


def make_labels(rng: np.random.Generator, num_classes: int = 3, size: tuple[int, int] = (H, W)) -> np.ndarray:
    """Blocky labels 0..num_classes-1 with an ignore (255) border row, uint8."""
    labels = np.kron(rng.integers(0, num_classes, (size[0] // 8, size[1] // 8)), np.ones((8, 8), np.int64))
    labels = labels.astype(np.uint8)
    labels[0] = 255
    return labels


def make_dataset(
    root: Path,
    splits: dict[str, int] | None = None,
    palette: list[list[int]] | None = None,
    classes: list[str] | None = CLASSES,
    seed: int = 0,
) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Write ``root/images/<split>/<i>.png`` (RGB), ``root/masks/<split>/<i>.png`` and classes.txt.

    Masks are index PNGs, or colour PNGs painted with ``palette`` (ignore -> IGNORE_COLOUR). Returns the
    written ``(image RGB, labels)`` per split.
    """
    rng = np.random.default_rng(seed)
    written: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for split, count in (splits or {"train": 3, "val": 2}).items():
        (root / "images" / split).mkdir(parents=True)
        (root / "masks" / split).mkdir(parents=True)
        written[split] = []
        for index in range(count):
            image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            labels = make_labels(rng)
            cv2.imwrite(str(root / "images" / split / f"img_{index}.png"), image[..., ::-1])  # cv2 writes BGR
            if palette is None:
                cv2.imwrite(str(root / "masks" / split / f"img_{index}.png"), labels)
            else:
                colours = np.array([*palette, *[[0, 0, 0]] * (256 - len(palette))], np.uint8)
                colours[255] = IGNORE_COLOUR
                cv2.imwrite(str(root / "masks" / split / f"img_{index}.png"), colours[labels][..., ::-1])
            written[split].append((image, labels.astype(np.int64)))
    if classes is not None:
        (root / "classes.txt").write_text("\n".join(classes) + "\n")
    return written
