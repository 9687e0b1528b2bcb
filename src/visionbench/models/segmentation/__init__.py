"""Semantic segmentation models: every model maps ``B,3,H,W`` images to ``B,C,H,W`` logits (3D U-Net: volumes)."""

from visionbench.models.segmentation.cam import ClassActivationMapSegmenter
from visionbench.models.segmentation.deeplab import DeepLabV3, DeepLabV3Plus
from visionbench.models.segmentation.fcn import FCN, FCNVGG
from visionbench.models.segmentation.pspnet import PSPNet
from visionbench.models.segmentation.refinenet import RefineNet
from visionbench.models.segmentation.single_layer import SingleLayerSegmenter
from visionbench.models.segmentation.unet import MultiInputUNet, UNet
from visionbench.models.segmentation.unet3d import UNet3D
from visionbench.models.segmentation.unet_resnet import UNetResNet

__all__ = [
    "FCN",
    "FCNVGG",
    "ClassActivationMapSegmenter",
    "DeepLabV3",
    "DeepLabV3Plus",
    "MultiInputUNet",
    "PSPNet",
    "RefineNet",
    "SingleLayerSegmenter",
    "UNet",
    "UNet3D",
    "UNetResNet",
]
