"""Attention modules: ECA (and CECA) plus SE, CBAM and Triplet attention for comparison, and the variants of
the paper's ablation (SE-Var1/2/3, SE-GC, ECA-NS)."""

from ecalib.layers.cbam import Cbam, ChannelGate, SpatialGate
from ecalib.layers.create_attn import ABLATION_TYPES, ATTENTION_TYPES, check_attention, create_attention
from ecalib.layers.eca import ECA_IMPLS, CecaLayer, EcaLayer, eca_kernel_size, set_eca_impl
from ecalib.layers.se import SqueezeExcite
from ecalib.layers.se_variants import EcaNonShared, SeGroupConv, SeVar1, SeVar2, SeVar3
from ecalib.layers.triplet import TripletAttention

__all__ = [
    "ABLATION_TYPES",
    "ATTENTION_TYPES",
    "ECA_IMPLS",
    "Cbam",
    "CecaLayer",
    "ChannelGate",
    "EcaLayer",
    "EcaNonShared",
    "SeGroupConv",
    "SeVar1",
    "SeVar2",
    "SeVar3",
    "SpatialGate",
    "SqueezeExcite",
    "TripletAttention",
    "check_attention",
    "create_attention",
    "eca_kernel_size",
    "set_eca_impl",
]
