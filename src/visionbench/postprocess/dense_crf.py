"""Fully connected CRF post-processing (Krahenbuhl and Koltun 2011) through pydensecrf, as DeepLab uses it."""

from __future__ import annotations

import numpy as np
import pydensecrf.densecrf as dcrf
import torch
from torch import Tensor


class DenseCRF:
    """Fully connected CRF with Gaussian edge potentials (Krahenbuhl and Koltun, "Efficient Inference in Fully
    Connected CRFs with Gaussian Edge Potentials", NIPS 2011), applied to a network's softmax as in DeepLab
    v1/v2 (Chen et al., ICLR 2015 and TPAMI 2017).

    Per image, the unary energy is ``-log(max(p, min_probability))`` and the pairwise potential is a Potts
    model weighted by two kernels over all pixel pairs:
    ``w1 exp(-|x_i - x_j|^2 / 2 sa^2 - |I_i - I_j|^2 / 2 sb^2) + w2 exp(-|x_i - x_j|^2 / 2 sg^2)``
    (bilateral/appearance kernel with weight w1, then Gaussian/smoothness kernel with weight w2; positions in
    pixels, colours in 0..255 RGB). Mean-field inference runs ``iterations`` steps (pydensecrf's
    ``DenseCRF2D``; the permutohedral lattice makes each step linear in the number of pixels).

    Defaults are DeepLab's (Chen et al., ICLR 2015 and TPAMI 2017): the smoothness kernel at w2 = 3, sg = 3, the
    values the DeepLab papers keep fixed (pydensecrf/densecrf's defaults too), and the appearance kernel at
    w1 = 4, sa = 67, sb = 3 with 10 mean-field iterations, the setting cross-validated for DeepLab-v2 ResNet-101
    on PASCAL VOC 2012 as released with DeepLab-v2 and reproduced in kazuto1011/deeplab-pytorch
    ``configs/voc12.yaml`` (which however uses ``pos_xy_std=1``). DeepLab-v1 LargeFOV used w1 = 4, sa = 121,
    sb = 5. In DeepLab's script names: ``pos_w=3 pos_xy_std=3 bi_w=4 bi_xy_std=67 bi_rgb_std=3``. These values
    were tuned on ~500 px photographs; small or noisy images may need others.

    Call: ``crf(probabilities, images)`` with ``probabilities`` a float ``B,C,H,W`` tensor of class
    probabilities (a softmax over dim 1) and ``images`` the matching RGB images as uint8 ``B,H,W,3`` (numpy
    array or tensor). Returns the refined probabilities (the CRF's marginals), float ``B,C,H,W`` with the
    dtype and device of ``probabilities``; take ``argmax(dim=1)`` for labels.

    Args:
        iterations: mean-field iterations (DeepLab: 10).
        bilateral_weight: w1, weight of the appearance kernel (DeepLab ``bi_w``); 0 leaves it out.
        bilateral_xy_std: sa, spatial standard deviation of the appearance kernel in pixels (``bi_xy_std``).
        bilateral_rgb_std: sb, colour standard deviation of the appearance kernel in 0..255 (``bi_rgb_std``).
        gaussian_weight: w2, weight of the smoothness kernel (DeepLab ``pos_w``); 0 leaves it out.
        gaussian_xy_std: sg, spatial standard deviation of the smoothness kernel in pixels (``pos_xy_std``).
        min_probability: probabilities are clipped to at least this before the log (pydensecrf's default 1e-5).
    """

    def __init__(
        self,
        iterations: int = 10,
        bilateral_weight: float = 4.0,
        bilateral_xy_std: float = 67.0,
        bilateral_rgb_std: float = 3.0,
        gaussian_weight: float = 3.0,
        gaussian_xy_std: float = 3.0,
        min_probability: float = 1e-5,
    ) -> None:
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if min(bilateral_weight, gaussian_weight) < 0:
            raise ValueError(f"kernel weights must be >= 0, got {bilateral_weight} and {gaussian_weight}")
        if min(bilateral_xy_std, bilateral_rgb_std, gaussian_xy_std) <= 0:
            raise ValueError("kernel standard deviations must be > 0")
        if not 0 < min_probability < 1:
            raise ValueError(f"min_probability must be in (0, 1), got {min_probability}")
        self.iterations = int(iterations)
        self.bilateral_weight = float(bilateral_weight)
        self.bilateral_xy_std = float(bilateral_xy_std)
        self.bilateral_rgb_std = float(bilateral_rgb_std)
        self.gaussian_weight = float(gaussian_weight)
        self.gaussian_xy_std = float(gaussian_xy_std)
        self.min_probability = float(min_probability)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value}" for name, value in vars(self).items())
        return f"{type(self).__name__}({fields})"

    def refine(self, probabilities: np.ndarray, image: np.ndarray) -> np.ndarray:
        """CRF marginals ``C,H,W`` float32 for one image: ``probabilities`` ``C,H,W``, ``image`` uint8 ``H,W,3``."""
        num_classes, height, width = probabilities.shape
        crf = dcrf.DenseCRF2D(width, height, num_classes)
        clipped = np.clip(probabilities, self.min_probability, 1.0)
        # pydensecrf needs C-contiguous float32 energies (C, H*W) and a C-contiguous uint8 H,W,3 image
        crf.setUnaryEnergy(np.ascontiguousarray(-np.log(clipped).reshape(num_classes, -1), dtype=np.float32))
        if self.gaussian_weight > 0:
            crf.addPairwiseGaussian(sxy=self.gaussian_xy_std, compat=self.gaussian_weight)
        if self.bilateral_weight > 0:
            crf.addPairwiseBilateral(
                sxy=self.bilateral_xy_std,
                srgb=self.bilateral_rgb_std,
                rgbim=np.ascontiguousarray(image, dtype=np.uint8),
                compat=self.bilateral_weight,
            )
        marginals = np.asarray(crf.inference(self.iterations), dtype=np.float32)
        return marginals.reshape(num_classes, height, width)

    def __call__(self, probabilities: Tensor, images: np.ndarray | Tensor) -> Tensor:
        images = images.detach().cpu().numpy() if isinstance(images, Tensor) else np.asarray(images)
        if probabilities.ndim != 4:
            raise ValueError(f"probabilities must be B,C,H,W, got shape {tuple(probabilities.shape)}")
        batch, _, height, width = probabilities.shape
        if images.shape != (batch, height, width, 3) or images.dtype != np.uint8:
            raise ValueError(
                f"images must be uint8 of shape {(batch, height, width, 3)} (B,H,W,3 RGB) to match the "
                f"probabilities, got {images.dtype} {images.shape}"
            )
        probs = probabilities.detach().float().cpu().numpy()
        refined = np.stack([self.refine(p, image) for p, image in zip(probs, images, strict=True)])
        return torch.from_numpy(refined).to(device=probabilities.device, dtype=probabilities.dtype)
