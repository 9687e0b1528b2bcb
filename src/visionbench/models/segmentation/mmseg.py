"""mmsegmentation's checkpoints in our segmenters (``model.weights=<file>``): its ``EncoderDecoder`` state dicts,
with ``backbone.`` (``ResNetV1c``), ``decode_head.`` and ``auxiliary_head.`` keys, as released in its model zoo.

Its backbone keys are already ours (:class:`~visionbench.models.backbones.ResNet` with ``deep_stem=True`` names
its stem ``stem.0..7`` as mmsegmentation does). Its heads are built from mmcv's ``ConvModule`` (``<name>.conv``,
``<name>.bn``) and ``DepthwiseSeparableConvModule`` (``<name>.depthwise_conv.{conv,bn}``,
``<name>.pointwise_conv.{conv,bn}``), which are our ``conv_bn_relu`` blocks (``0`` conv, ``1`` BN; separable:
``0``/``1`` depthwise, ``3``/``4`` pointwise). Each architecture's converter pairs mmsegmentation's module paths
with the modules of the model being loaded, so a model built with other head settings gets mmsegmentation's
tensors under the names it would need and the strict load names every missing, unexpected or mis-shaped key.

mmsegmentation's ASPP heads concatenate the image-pooling branch first, ours (torchvision's order) last: the
input channels of the fusing convolution (its ``bottleneck``) are reordered accordingly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial

from torch import Tensor, nn

from visionbench.models.published import CheckpointFormat, StateDict

__all__ = ["MMSEG_DEEPLABV3", "MMSEG_DEEPLABV3PLUS", "MMSEG_FCN", "MMSEG_PSPNET", "recognise"]

log = logging.getLogger(__name__)

Modules = dict[str, nn.Module]
"""mmsegmentation module path (e.g. ``decode_head.convs.0.conv``) -> the module of ours that holds its tensors."""
Reorders = dict[str, Callable[[Tensor], Tensor]]
"""mmsegmentation tensor key -> how its tensor is rearranged into our layout."""


def recognise(state_dict: Mapping[str, Tensor]) -> bool:
    """Whether ``state_dict`` is an mmsegmentation ``EncoderDecoder``'s (``backbone.`` and ``decode_head.`` keys)."""
    return any(key.startswith("decode_head.") for key in state_dict) and any(
        key.startswith("backbone.") for key in state_dict
    )


def conv_module(path: str, conv: nn.Module, bn: nn.Module) -> Modules:
    """mmcv ``ConvModule`` at ``path`` (``conv``, ``bn``) -> our convolution and BN."""
    return {f"{path}.conv": conv, f"{path}.bn": bn}


def separable_conv_module(path: str, block: nn.Sequential) -> Modules:
    """mmcv ``DepthwiseSeparableConvModule`` at ``path`` -> our separable ``conv_bn_relu`` block (6 layers)."""
    if len(block) != 6:  # not separable here: mmsegmentation's tensors stay unmatched and are reported
        return {}
    return conv_module(f"{path}.depthwise_conv", block[0], block[1]) | conv_module(
        f"{path}.pointwise_conv", block[3], block[4]
    )


def fcn_head(prefix: str, head: nn.Sequential) -> Modules:
    """mmsegmentation's ``FCNHead`` (``convs.i``, ``conv_cat``, ``conv_seg``) -> our flat
    :class:`~visionbench.models.segmentation.heads.FCNHead` (``[conv, BN, ReLU] * num_convs (+ conv_cat)``,
    dropout, classifier)."""
    modules = {f"{prefix}.conv_seg": head[-1]}
    for index in range(head.num_convs):
        modules |= conv_module(f"{prefix}.convs.{index}", head[3 * index], head[3 * index + 1])
    if head.concat_at is not None:
        modules |= conv_module(f"{prefix}.conv_cat", head[head.concat_at], head[head.concat_at + 1])
    return modules


def aspp(prefix: str, module: nn.Module) -> tuple[Modules, Reorders]:
    """mmsegmentation's ``ASPPHead`` encoder (``image_pool.1``, ``aspp_modules.i``, ``bottleneck``) -> our
    :class:`~visionbench.models.segmentation.heads.ASPP` (``convs.i``, pooling ``convs.-1``, ``project``), and the
    reordering of the bottleneck's input channels (pooling branch first in mmsegmentation, last in ours)."""
    pooling = module.convs[-1]
    modules = conv_module(f"{prefix}.image_pool.1", pooling[1], pooling[2])
    for index, branch in enumerate(module.convs[:-1]):
        path = f"{prefix}.aspp_modules.{index}"
        separable = module.separable and index > 0  # the 1x1 branch is a plain ConvModule in both heads
        modules |= separable_conv_module(path, branch) if separable else conv_module(path, branch[0], branch[1])
    modules |= conv_module(f"{prefix}.bottleneck", module.project[0], module.project[1])
    branches = len(module.convs)
    reorders = {f"{prefix}.bottleneck.conv.weight": lambda weight: weight.roll(-(weight.shape[1] // branches), 1)}
    return modules, reorders


def fcn_decode_head(model: nn.Module) -> tuple[Modules, Reorders]:
    """``FCNHead`` -> :class:`~visionbench.models.segmentation.fcn.FCN`'s ``classifier``."""
    return fcn_head("decode_head", model.classifier), {}


def psp_decode_head(model: nn.Module) -> tuple[Modules, Reorders]:
    """``PSPHead`` (``psp_modules.i.1``, ``bottleneck``, ``conv_seg``) -> :class:`~visionbench.models.segmentation.
    pspnet.PSPNet`'s ``classifier`` (pyramid ``branches.i`` = pooling, conv, BN; conv, BN; dropout; classifier)."""
    classifier = model.classifier
    modules = {"decode_head.conv_seg": classifier[-1]}
    for index, branch in enumerate(classifier[0].branches):
        modules |= conv_module(f"decode_head.psp_modules.{index}.1", branch[1], branch[2])
    return modules | conv_module("decode_head.bottleneck", classifier[1], classifier[2]), {}


def aspp_decode_head(model: nn.Module) -> tuple[Modules, Reorders]:
    """``ASPPHead`` -> :class:`~visionbench.models.segmentation.deeplab.DeepLabV3`'s ``classifier`` (ASPP, then
    the classifier; a torchvision-style head's extra convolution has no counterpart and is reported missing)."""
    modules, reorders = aspp("decode_head", model.classifier[0])
    return modules | {"decode_head.conv_seg": model.classifier[-1]}, reorders


def separable_aspp_decode_head(model: nn.Module) -> tuple[Modules, Reorders]:
    """``DepthwiseSeparableASPPHead`` (ASPP, ``c1_bottleneck``, ``sep_bottleneck.0/1``, ``conv_seg``) ->
    :class:`~visionbench.models.segmentation.deeplab.DeepLabV3Plus`'s ``aspp``, ``low_level``, ``decoder``,
    ``classifier``."""
    modules, reorders = aspp("decode_head", model.aspp)
    modules |= conv_module("decode_head.c1_bottleneck", model.low_level[0], model.low_level[1])
    for index, block in enumerate(model.decoder):
        modules |= separable_conv_module(f"decode_head.sep_bottleneck.{index}", block)
    return modules | {"decode_head.conv_seg": model.classifier}, reorders


def convert(
    state_dict: Mapping[str, Tensor],
    model: nn.Module,
    decode_head: Callable[[nn.Module], tuple[Modules, Reorders]],
) -> StateDict:
    """mmsegmentation's ``state_dict`` in ``model``'s names: backbone keys unchanged, head tensors renamed by
    ``decode_head``'s pairing (and the auxiliary ``FCNHead``'s onto ``aux_classifier``) and reordered where the
    layouts differ. The auxiliary head is dropped, with a log line, when the model was built without one;
    ``num_batches_tracked`` only when the model keeps none. Tensors without a counterpart keep their key, so the
    strict load reports them as unexpected."""
    modules, reorders = decode_head(model)
    aux_classifier = getattr(model, "aux_classifier", None)
    if aux_classifier is not None:
        modules |= fcn_head("auxiliary_head", aux_classifier)
    names = {id(module): name for name, module in model.named_modules()}
    keeps_batch_counts = any(key.endswith("num_batches_tracked") for key in model.state_dict())
    converted: StateDict = {}
    dropped_aux = 0
    for key, value in state_dict.items():
        if key.startswith("auxiliary_head.") and aux_classifier is None:
            dropped_aux += 1
            continue
        if key.endswith("num_batches_tracked") and not keeps_batch_counts:
            continue
        path, _, leaf = key.rpartition(".")
        module = modules.get(path)
        if module is None:
            converted[key] = value
            continue
        converted[f"{names[id(module)]}.{leaf}"] = reorders[key](value) if key in reorders else value
    if dropped_aux:
        log.info(
            "mmsegmentation checkpoint: its auxiliary head (%d tensors) is not loaded: %s was built without one "
            "(aux_head=false)",
            dropped_aux,
            type(model).__name__,
        )
    return converted


def mmseg_format(decode_head: Callable[[nn.Module], tuple[Modules, Reorders]]) -> CheckpointFormat:
    """The ``"mmsegmentation"`` checkpoint format for models whose decoder ``decode_head`` pairs with its head."""
    return CheckpointFormat("mmsegmentation", recognise, partial(convert, decode_head=decode_head))


MMSEG_FCN = mmseg_format(fcn_decode_head)
"""mmsegmentation ``FCNHead`` checkpoints (``fcn_r50-d8`` ...) for :class:`~visionbench.models.segmentation.FCN`."""
MMSEG_PSPNET = mmseg_format(psp_decode_head)
"""mmsegmentation ``PSPHead`` checkpoints (``pspnet_r50-d8`` ...) for
:class:`~visionbench.models.segmentation.PSPNet`."""
MMSEG_DEEPLABV3 = mmseg_format(aspp_decode_head)
"""mmsegmentation ``ASPPHead`` checkpoints (``deeplabv3_r50-d8`` ...) for
:class:`~visionbench.models.segmentation.DeepLabV3`."""
MMSEG_DEEPLABV3PLUS = mmseg_format(separable_aspp_decode_head)
"""mmsegmentation ``DepthwiseSeparableASPPHead`` checkpoints (``deeplabv3plus_r50-d8`` ...) for
:class:`~visionbench.models.segmentation.DeepLabV3Plus`."""
