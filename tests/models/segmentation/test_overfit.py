"""Every architecture can fit one batch of the synthetic data: >= 0.95 pixel accuracy (eval mode) after a short
run of Adam on that batch alone. A model that cannot is mis-wired (a broken skip, a frozen layer, labels
shifted by the upsampling), whatever its forward shape says.

The batch: 2 images of large shapes (1-2 per image, radius 0.3-0.45 of the side) at 64x64, labels clamped to
the 5 classes of the zoo's small models (ring, cross and star share one class). FCN-32s predicts at stride 32
and upsamples with a fixed bilinear kernel, as the paper, so its boundary band is 32 px wide: it gets one
224x224 image."""

from collections.abc import Callable
from functools import partial

import pytest
import torch

from tests.helpers.models import main_output
from tests.models.segmentation.tiny import NUM_CLASSES, tiny_segmenter
from visionbench.data.segmentation.synthetic_shapes import SyntheticShapesDataset
from visionbench.models.segmentation.unet import UPSAMPLERS, MultiInputUNet, UNet
from visionbench.models.segmentation.unet3d import UNet3D

pytestmark = pytest.mark.slow

ONE_PER_ARCHITECTURE = {
    "deeplabv3": ["model.aux_head=false"],
    "deeplabv3plus": ["model.aux_head=false"],
    "fcn32s": [],
    "fcn16s": [],
    "fcn8s": [],
    "fcn_resnet_aux": [],
    "pspnet_aux": [],
    "refinenet": [],
    "refinenet_lw": [],
    "unet_resnet": [],
}
"""The tiny backbone-based models (tests/models/segmentation/tiny.py), one per architecture, and their overrides
(the aux-head and dense-ASPP variants share the main path)."""

MODELS: dict[str, Callable[[], torch.nn.Module]] = {
    **{
        name: partial(tiny_segmenter, name.removesuffix("_aux"), *overrides)
        for name, overrides in ONE_PER_ARCHITECTURE.items()
    },
    **{
        f"unet_{mode}": (lambda mode=mode: UNet(NUM_CLASSES, depth=3, base_channels=8, upsampling=mode))
        for mode in UPSAMPLERS
    },
    "unet_multi_input_early": lambda: MultiInputUNet(NUM_CLASSES, [3, 3], fusion="early", depth=3, base_channels=8),
    "unet_multi_input_late": lambda: MultiInputUNet(NUM_CLASSES, [3, 3], fusion="late", depth=3, base_channels=8),
}
SETTINGS = {"fcn32s": (224, 1, 300)}
"""(image size, images, steps) where the default (64, 2, 200) is too coarse for the output stride."""


def one_batch(image_size: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    dataset = SyntheticShapesDataset(
        "train", count, image_size, seed=0, min_shapes=1, max_shapes=2, min_radius=0.3, max_radius=0.45
    )
    samples = [dataset[i] for i in range(count)]
    images = torch.stack([sample["image"] for sample in samples])
    masks = torch.stack([sample["mask"] for sample in samples]).clamp(max=NUM_CLASSES - 1)
    return images, masks


TARGET_ACCURACY = 0.95
CHECK_EVERY = 25
"""Steps between checks of the eval-mode accuracy: fitting stops once the target is reached."""


def eval_accuracy(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor) -> float:
    """Pixel accuracy of ``model`` in eval mode on the batch (left in eval mode)."""
    model.eval()
    with torch.no_grad():
        predictions = main_output(model(images)).argmax(dim=1)
    return (predictions == masks).float().mean().item()


def fit_one_batch(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, steps: int) -> float:
    """Adam (lr 3e-3) on cross-entropy for up to ``steps`` steps; the pixel accuracy of the eval-mode model at the
    first check (every :data:`CHECK_EVERY` steps) that reaches :data:`TARGET_ACCURACY`, else after the last step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(1, steps + 1):
        model.train()
        loss = torch.nn.functional.cross_entropy(main_output(model(images)), masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % CHECK_EVERY == 0 and step < steps and eval_accuracy(model, images, masks) >= TARGET_ACCURACY:
            break
    return eval_accuracy(model, images, masks)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_overfits_one_batch(name: str) -> None:
    torch.manual_seed(0)
    size, count, steps = SETTINGS.get(name, (64, 2, 200))
    images, masks = one_batch(size, count)
    if name.startswith("unet_multi_input"):
        images = torch.cat([images, images.flip(1)], dim=1)  # a second "modality": the channels reversed
    accuracy = fit_one_batch(MODELS[name](), images, masks, steps)
    assert accuracy >= TARGET_ACCURACY, f"{name}: pixel accuracy {accuracy:.3f} after fitting one batch"


def test_unet3d_overfits_one_volume() -> None:
    """A volume whose slices are the same shapes shifted by one pixel per slice."""
    torch.manual_seed(0)
    images, masks = one_batch(32, 1)
    volume = torch.stack([images[0].roll(z, dims=-1) for z in range(8)], dim=1)[None]  # 1,3,8,32,32
    labels = torch.stack([masks[0].roll(z, dims=-1) for z in range(8)])[None]  # 1,8,32,32
    model = UNet3D(NUM_CLASSES, in_channels=3, depth=2, base_channels=8)
    accuracy = fit_one_batch(model, volume, labels, 150)
    assert accuracy >= TARGET_ACCURACY, f"3D U-Net: voxel accuracy {accuracy:.3f} after fitting one volume"
