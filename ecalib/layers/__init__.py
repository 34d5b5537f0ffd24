"""Attention modules: ECA (and CECA) plus SE, CBAM and Triplet attention for comparison."""

from ecalib.layers.cbam import Cbam, ChannelGate, SpatialGate
from ecalib.layers.create_attn import ATTENTION_TYPES, check_attention, create_attention
from ecalib.layers.eca import ECA_IMPLS, CecaLayer, EcaLayer, eca_kernel_size, set_eca_impl
from ecalib.layers.se import SqueezeExcite
from ecalib.layers.triplet import TripletAttention

__all__ = [
    "ATTENTION_TYPES",
    "ECA_IMPLS",
    "Cbam",
    "CecaLayer",
    "ChannelGate",
    "EcaLayer",
    "SpatialGate",
    "SqueezeExcite",
    "TripletAttention",
    "check_attention",
    "create_attention",
    "eca_kernel_size",
    "set_eca_impl",
]
