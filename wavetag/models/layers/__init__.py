"""Blocks shared by several model families."""

from wavetag.models.layers.conv import CausalConv1d, Conv2dSame, conv_bn_act, same_pad_amounts
from wavetag.models.layers.inception import Inception1d
from wavetag.models.layers.norm import SubSpectralNorm
from wavetag.models.layers.pooling import AdaptiveAvgPool2d, adaptive_pool_matrix
from wavetag.models.layers.sinc import SincConv1d
from wavetag.models.layers.transformer import Attention, Block, Mlp, attention

__all__ = [
    "AdaptiveAvgPool2d",
    "Attention",
    "Block",
    "CausalConv1d",
    "Conv2dSame",
    "Inception1d",
    "Mlp",
    "SincConv1d",
    "SubSpectralNorm",
    "adaptive_pool_matrix",
    "attention",
    "conv_bn_act",
    "same_pad_amounts",
]
