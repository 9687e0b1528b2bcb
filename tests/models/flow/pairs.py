"""Image pairs for the flow tests: random ones, and a smooth texture with its exactly translated copy."""

import numpy as np
import torch


def smooth_texture(height: int, width: int, shift: tuple[float, float] = (0.0, 0.0), seed: int = 0) -> np.ndarray:
    """A band-limited texture (sum of random low-frequency cosines) sampled at ``(x - du, y - dv)``, so
    ``smooth_texture(shift=d)`` is exactly the first frame translated by ``d``; grey in [0, 1], ``H,W``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    x, y = x - shift[0], y - shift[1]
    image = np.zeros((height, width))
    for _ in range(12):
        fx, fy = rng.uniform(-0.2, 0.2, size=2)
        image += np.cos(2 * np.pi * (fx * x + fy * y) + rng.uniform(0, 2 * np.pi))
    return (image + 12) / 24


def translated_pair(height: int, width: int, shift: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames ``1,3,H,W`` (grey texture repeated in RGB): frame 2 is frame 1 translated by ``shift`` (u, v)."""
    frames = [smooth_texture(height, width), smooth_texture(height, width, shift)]
    return tuple(torch.from_numpy(np.repeat(f[None, None], 3, axis=1)).float() for f in frames)


def images(batch: int, height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two random ``B,3,H,W`` batches in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, height, width, generator=generator), torch.rand(
        batch, 3, height, width, generator=generator
    )
