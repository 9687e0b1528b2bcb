"""Embedded synthetic optical-flow benchmark: textured layers moving with known affine motions.

Every sample is generated from ``numpy.random.default_rng((seed, split, index))``, so any sample can be
regenerated on its own, a seed always gives identical arrays and the train, val and test splits never share a
sample. Samples are generated when they are read (about 2 ms at 64x64), nothing is stored.

Scene model (all coordinates are continuous pixel coordinates, pixel ``(x, y)`` centred at ``(x, y)``):

- layer 0 is an infinite textured background, layers ``1..n`` (``n`` uniform in ``min_shapes..max_shapes``)
  are textured convex shapes (ellipses and polygons with 3 to 6 corners) painted over it in that order;
- each layer ``L`` has a texture ``T_L`` (its colour plus a sum of eight low-frequency sinusoids whose directions
  are spread over the half circle, so the texture varies in every direction and the flow is observable inside
  regions (three sinusoids of random direction gave stripe-like textures with an aperture problem over much of
  the frame); wavelength >= 10 px: smooth, so bilinear warping reproduces it), a shape ``M_L`` and a motion
  ``W_L(x) = s R(theta) (x - c) + c + t`` about its centre ``c`` (the image centre for the background): ``t``
  uniform in ``[-max_translation, max_translation]^2`` pixels, ``theta`` uniform in ``+-max_rotation``
  degrees, ``log2 s`` uniform in ``+-max_log2_scale``;
- frame 1 shows at pixel ``p`` the top-most layer ``L`` with ``M_L(p)``, coloured ``T_L(p)``;
- frame 2 shows every layer moved by its motion: at pixel ``q`` the top-most layer ``L`` with
  ``M_L(W_L^-1(q))``, coloured ``T_L(W_L^-1(q))`` (forward mapping of each layer, rendered exactly by
  evaluating the analytic shape and texture at the inverse-mapped point: no holes, no resampling);
- flow at pixel ``p`` of frame 1 is ``W_L(p) - p`` for the top-most layer ``L`` at ``p``: exact, dense;
- ``valid`` is True everywhere (the flow is defined at every pixel of frame 1);
- ``occlusion`` is True at ``p`` when its target ``q = W_L(p)`` either lies outside the rectangle spanned by
  the pixel centres, ``[0, W - 1] x [0, H - 1]``, or is covered in frame 2 by a layer above ``L`` (some
  ``K > L`` with ``M_K(W_K^-1(q))``), evaluated at the continuous point ``q``. Every other pixel is seen in
  frame 2 at exactly ``p + flow(p)``, with exactly the colour it has in frame 1 (before the optional noise).

Images are quantised to uint8 (``noise_std`` adds independent Gaussian noise to each frame first; 0 by
default so that frame 2 warped by the flow reproduces frame 1 on non-occluded pixels up to interpolation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from visionbench.data.flow.transforms import FlowAugmentation, flow_sample_to_tensors
from visionbench.data.procedural import (
    ProceduralDataset,
    ProceduralSplitsDataModule,
    check_radius_range,
    contrasting_colour,
    typed_knobs,
)

__all__ = ["SyntheticFlowDataModule", "SyntheticFlowDataset", "generate_flow_sample"]

_N_WAVES = 8
_SCENE_KNOB_TYPES: dict[str, type] = {
    "min_shapes": int,
    "max_shapes": int,
    "min_radius": float,
    "max_radius": float,
    "max_translation": float,
    "max_rotation": float,
    "max_log2_scale": float,
    "texture_amplitude": float,
    "min_contrast": float,
    "noise_std": float,
}
_NON_NEGATIVE_KNOBS = (
    "max_translation",
    "max_rotation",
    "max_log2_scale",
    "texture_amplitude",
    "min_contrast",
    "noise_std",
)


def _shape(rng: np.random.Generator, size: int, min_radius: float, max_radius: float) -> dict[str, Any]:
    """A random convex shape: an ellipse or a polygon of 3..6 corners, centred inside the image."""
    r = rng.uniform(min_radius, max_radius) * size
    centre = rng.uniform(0.15 * size, 0.85 * size, 2)
    if rng.random() < 0.4:
        axes = np.array([r, r * rng.uniform(0.5, 1.0)])
        angle = rng.uniform(0, math.pi)
        c, s = math.cos(angle), math.sin(angle)
        return {"kind": "ellipse", "centre": centre, "axes": axes, "rot": np.array([[c, -s], [s, c]])}
    corners = int(rng.integers(3, 7))
    angles = np.sort(rng.uniform(0, 2 * math.pi / corners, corners) * 0.5 + np.arange(corners) * 2 * math.pi / corners)
    radii = r * rng.uniform(0.75, 1.0, corners)
    vertices = centre + np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)
    edges = np.roll(vertices, -1, 0) - vertices
    # Corners go counter-clockwise in (x, y); the outward normal of edge (ex, ey) is (ey, -ex).
    normals = np.stack([edges[:, 1], -edges[:, 0]], 1)
    offsets = (normals * vertices).sum(1)
    return {"kind": "polygon", "centre": centre, "normals": normals, "offsets": offsets}


def _inside(shape: dict[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether each point ``(x[i], y[i])`` lies in the shape."""
    if shape["kind"] == "ellipse":
        (r00, r01), (r10, r11) = shape["rot"]
        dx, dy = x - shape["centre"][0], y - shape["centre"][1]
        a, b = shape["axes"]
        u = (dx * r00 + dy * r10) / a
        v = (dx * r01 + dy * r11) / b
        return u * u + v * v <= 1.0
    inside = np.ones(x.shape, bool)
    for (nx, ny), offset in zip(shape["normals"], shape["offsets"], strict=True):
        inside &= x * nx + y * ny <= offset
    return inside


@lru_cache(maxsize=8)
def _pixel_centres(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    x, y = xx.ravel(), yy.ravel()
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def generate_flow_sample(
    rng: np.random.Generator,
    image_size: int = 64,
    min_shapes: int = 1,
    max_shapes: int = 4,
    min_radius: float = 0.12,
    max_radius: float = 0.3,
    max_translation: float = 8.0,
    max_rotation: float = 5.0,
    max_log2_scale: float = 0.1,
    texture_amplitude: float = 0.08,
    min_contrast: float = 0.3,
    noise_std: float = 0.0,
    return_layers: bool = False,
) -> dict[str, np.ndarray]:
    """Draw one sample from ``rng`` (see the module docstring for the scene model).

    Returns numpy arrays ``{"image1", "image2": H,W,3 uint8 RGB, "flow": H,W,2 float32, "valid": H,W bool
    (all True), "occlusion": H,W bool}``; with ``return_layers=True`` also ``"layers1"`` and ``"layers2"``
    (H,W int8: index of the layer seen at each pixel of frame 1 / frame 2, 0 = background).

    ``min_radius``/``max_radius`` are fractions of ``image_size``; ``max_translation`` is in pixels,
    ``max_rotation`` in degrees, ``max_log2_scale`` bounds ``|log2|`` of each layer's scale change;
    ``texture_amplitude`` is the amplitude of each of the eight sinusoids of a texture; ``min_contrast`` the
    least RGB distance ([0, 1] scale) between a layer's base colour and those of the layers drawn before it.
    """
    s = int(image_size)
    n_layers = 1 + int(rng.integers(min_shapes, max_shapes + 1))
    shapes: list[dict[str, Any] | None] = [None]
    centres = [np.array([(s - 1) / 2.0, (s - 1) / 2.0])]
    for _ in range(1, n_layers):
        shape = _shape(rng, s, min_radius, max_radius)
        shapes.append(shape)
        centres.append(shape["centre"])
    # Motions: forward W_L(x) = A_L x + b_L, inverse W_L^-1(q) = Ai_L q + bi_L.
    A = np.empty((n_layers, 2, 2))
    b = np.empty((n_layers, 2))
    for i in range(n_layers):
        theta = math.radians(rng.uniform(-max_rotation, max_rotation))
        scale = 2.0 ** rng.uniform(-max_log2_scale, max_log2_scale)
        c, sn = math.cos(theta), math.sin(theta)
        A[i] = scale * np.array([[c, -sn], [sn, c]])
        b[i] = centres[i] + rng.uniform(-max_translation, max_translation, 2) - A[i] @ centres[i]
    Ai = np.linalg.inv(A)
    bi = -np.einsum("lij,lj->li", Ai, b)
    # Textures: base colour + sum of sinusoids with wave vectors of wavelength 10..28 px (x size / 64).
    colours: list[np.ndarray] = []
    for _ in range(n_layers):
        colours.append(contrasting_colour(rng, colours, min_contrast, value_range=(0.2, 0.8)))
    base = np.stack(colours)
    wavelength = rng.uniform(10.0, 28.0, (n_layers, _N_WAVES)) * max(1.0, s / 64.0)
    # directions spread over the half circle (jittered), so that every texture varies in 2-D (no aperture problem)
    direction = (np.arange(_N_WAVES) + rng.uniform(0, 1, (n_layers, _N_WAVES))) * (math.pi / _N_WAVES)
    omega = (2 * math.pi / wavelength)[..., None] * np.stack([np.cos(direction), np.sin(direction)], -1)
    phase = rng.uniform(0, 2 * math.pi, (n_layers, _N_WAVES))
    tint = rng.uniform(-1.0, 1.0, (n_layers, _N_WAVES, 3))
    tint /= np.maximum(np.abs(tint).max(-1, keepdims=True), 1e-6)
    amplitude = texture_amplitude * tint

    def texture(x: np.ndarray, y: np.ndarray, layer: int) -> np.ndarray:
        """Colour (N, 3) of ``layer`` at the points ``(x, y)`` given in its frame-1 coordinates."""
        waves = np.sin(np.outer(x, omega[layer, :, 0]) + np.outer(y, omega[layer, :, 1]) + phase[layer])
        return base[layer] + waves @ amplitude[layer]

    gx, gy = _pixel_centres(s)
    n = gx.size

    # Frame 1: top-most layer at each pixel, its colour and its exact flow (target = W_L(p)).
    layers1 = np.zeros(n, np.int64)
    for i in range(1, n_layers):
        layers1[_inside(shapes[i], gx, gy)] = i
    colour1 = np.empty((n, 3))
    tx, ty = np.empty(n), np.empty(n)
    for i in range(n_layers):
        sel = np.nonzero(layers1 == i)[0]
        if sel.size:
            x, y = gx[sel], gy[sel]
            colour1[sel] = texture(x, y, i)
            tx[sel] = A[i, 0, 0] * x + A[i, 0, 1] * y + b[i, 0]
            ty[sel] = A[i, 1, 0] * x + A[i, 1, 1] * y + b[i, 1]
    flow = np.stack([tx - gx, ty - gy], -1).astype(np.float32)

    # Frame 2: every layer moved by its motion, rendered at the inverse-mapped points W_L^-1(q).
    def inverse(i: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return Ai[i, 0, 0] * x + Ai[i, 0, 1] * y + bi[i, 0], Ai[i, 1, 0] * x + Ai[i, 1, 1] * y + bi[i, 1]

    layers2 = np.zeros(n, np.int64)
    for i in range(1, n_layers):
        layers2[_inside(shapes[i], *inverse(i, gx, gy))] = i
    colour2 = np.empty((n, 3))
    for i in range(n_layers):
        sel = np.nonzero(layers2 == i)[0]
        if sel.size:
            colour2[sel] = texture(*inverse(i, gx[sel], gy[sel]), i)

    # Occlusion: the target leaves the image or a layer above the pixel's own covers it in frame 2.
    occluded = (tx < 0) | (tx > s - 1) | (ty < 0) | (ty > s - 1)
    for k in range(1, n_layers):
        below = np.nonzero(layers1 < k)[0]
        if below.size:
            occluded[below[_inside(shapes[k], *inverse(k, tx[below], ty[below]))]] = True

    images = []
    for colour in (colour1, colour2):
        if noise_std > 0:
            colour = colour + rng.normal(0.0, noise_std, colour.shape)
        images.append(np.clip(np.rint(colour * 255.0), 0, 255).astype(np.uint8).reshape(s, s, 3))
    sample = {
        "image1": images[0],
        "image2": images[1],
        "flow": flow.reshape(s, s, 2),
        "valid": np.ones((s, s), bool),
        "occlusion": occluded.reshape(s, s),
    }
    if return_layers:
        sample["layers1"] = layers1.reshape(s, s).astype(np.int8)
        sample["layers2"] = layers2.reshape(s, s).astype(np.int8)
    return sample


def _scene_knobs(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The scene knobs of :func:`generate_flow_sample` picked from a constructor's ``locals()`` and typed; raises
    ``ValueError`` on a knob out of its range."""
    min_shapes, max_shapes = arguments["min_shapes"], arguments["max_shapes"]
    if not 0 <= min_shapes <= max_shapes:
        raise ValueError(f"need 0 <= min_shapes <= max_shapes, got {min_shapes}, {max_shapes}")
    check_radius_range(arguments["min_radius"], arguments["max_radius"])
    if min(arguments[name] for name in _NON_NEGATIVE_KNOBS) < 0:
        raise ValueError("motion, texture, contrast and noise knobs must be >= 0")
    return typed_knobs(_SCENE_KNOB_TYPES, arguments)


class SyntheticFlowDataset(ProceduralDataset):
    """Procedural optical-flow dataset (see the module docstring); samples are generated when read.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; part of the seed, so splits are disjoint.
        size: number of samples.
        image_size: side of the square frames (>= 16).
        seed: base seed.
        min_shapes, max_shapes, min_radius, max_radius, max_translation, max_rotation, max_log2_scale,
            texture_amplitude, min_contrast, noise_std: scene knobs of :func:`generate_flow_sample`.
        transform: optional callable on the numpy sample (e.g. :class:`FlowAugmentation`), applied before the
            conversion to tensors.

    Items follow the flow-sample contract: ``image1``, ``image2`` float32 ``3,H,W`` in [0, 1], ``flow`` float32
    ``2,H,W``, ``valid`` bool ``H,W`` (all True) and ``occlusion`` bool ``H,W``.
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 1000,
        image_size: int = 64,
        seed: int = 0,
        min_shapes: int = 1,
        max_shapes: int = 4,
        min_radius: float = 0.12,
        max_radius: float = 0.3,
        max_translation: float = 8.0,
        max_rotation: float = 5.0,
        max_log2_scale: float = 0.1,
        texture_amplitude: float = 0.08,
        min_contrast: float = 0.3,
        noise_std: float = 0.0,
        transform: FlowAugmentation | None = None,
    ) -> None:
        super().__init__(split, size, image_size, seed)
        self.knobs = _scene_knobs(locals())
        self.transform = transform

    def generate(self, index: int, return_layers: bool = False) -> dict[str, np.ndarray]:
        """Sample ``index`` as numpy arrays, before any transform (see :func:`generate_flow_sample`)."""
        if not 0 <= int(index) < self.size:
            raise IndexError(f"index {index} out of range for {self.size} samples")
        return generate_flow_sample(self.sample_rng(index), self.image_size, return_layers=return_layers, **self.knobs)

    def reseed(self, seed: int) -> None:
        if self.transform is not None and hasattr(self.transform, "reseed"):
            self.transform.reseed(seed)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.generate(index)
        if self.transform is not None:
            sample = self.transform(sample)
        return flow_sample_to_tensors(sample)


class SyntheticFlowDataModule(ProceduralSplitsDataModule):
    """LightningDataModule over :class:`SyntheticFlowDataset` train / val / test splits: the flow task's
    default data.

    Args:
        image_size: side of the square frames (>= 16).
        train_size, val_size, test_size: samples per split (> 0).
        seed: base seed of the generator (also seeds the training shuffle and augmentation).
        batch_size: training batch size.
        num_workers: DataLoader worker processes.
        val_batch_size: validation/test batch size (None: ``batch_size``; every frame has the same size).
        min_shapes .. noise_std: scene knobs, see :func:`generate_flow_sample`.
        train_transform: optional :class:`~visionbench.data.flow.transforms.FlowAugmentation` for training.

    Attributes: ``name`` (``"synthetic-flow"``), ``batch_size``, ``val_batch_size``, ``num_workers``.
    """

    name = "synthetic-flow"

    def __init__(
        self,
        image_size: int = 64,
        train_size: int = 2000,
        val_size: int = 200,
        test_size: int = 200,
        seed: int = 0,
        batch_size: int = 8,
        num_workers: int = 0,
        val_batch_size: int | None = None,
        min_shapes: int = 1,
        max_shapes: int = 4,
        min_radius: float = 0.12,
        max_radius: float = 0.3,
        max_translation: float = 8.0,
        max_rotation: float = 5.0,
        max_log2_scale: float = 0.1,
        texture_amplitude: float = 0.08,
        min_contrast: float = 0.3,
        noise_std: float = 0.0,
        train_transform: FlowAugmentation | None = None,
    ) -> None:
        super().__init__(
            image_size, train_size, val_size, test_size, seed, batch_size, num_workers, train_transform, val_batch_size
        )
        self.knobs = _scene_knobs(locals())

    def make_dataset(self, split: str, size: int, transform: FlowAugmentation | None = None) -> SyntheticFlowDataset:
        return SyntheticFlowDataset(split, size, self.image_size, self.seed, transform=transform, **self.knobs)
