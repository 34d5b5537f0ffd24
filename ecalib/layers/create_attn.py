"""Select a channel/spatial attention module by name (one factory for every block type)."""

from torch import nn

from ecalib.errors import UsageError
from ecalib.layers.cbam import Cbam
from ecalib.layers.eca import CecaLayer, EcaLayer
from ecalib.layers.se import SqueezeExcite
from ecalib.layers.se_variants import EcaNonShared, SeGroupConv, SeVar1, SeVar2, SeVar3
from ecalib.layers.triplet import TripletAttention

#: The attentions of the paper's ablation (Sec. 3.2, Table 2) besides SE and ECA.
ABLATION_TYPES = ("se_var1", "se_var2", "se_var3", "se_gc", "eca_ns")
ATTENTION_TYPES = ("none", "se", "cbam", "triplet", "eca", "ceca", *ABLATION_TYPES)

_BUILDERS = {
    "se": SqueezeExcite,
    "cbam": Cbam,
    "triplet": TripletAttention,
    "eca": EcaLayer,
    "ceca": CecaLayer,
    "se_var1": SeVar1,
    "se_var2": SeVar2,
    "se_var3": SeVar3,
    "se_gc": SeGroupConv,
    "eca_ns": EcaNonShared,
}


def check_attention(name: str) -> str:
    """Return ``name`` normalised to lower case, or raise listing the valid names."""
    key = str(name).lower()
    if key not in ATTENTION_TYPES:
        raise UsageError(f"unknown attention {name!r}; valid names: {', '.join(ATTENTION_TYPES)}")
    return key


def create_attention(name: str, channels: int, **kwargs) -> nn.Module | None:
    """Build attention ``name`` for ``channels`` channels; ``None`` for ``'none'``.

    Keyword arguments go to the module: ``k_size`` for ECA/CECA (omit it for the adaptive
    rule) and ECA-NS, ``reduction`` for SE/CBAM, ``spatial_kernel`` for CBAM, ``kernel_size`` for
    Triplet, ``groups`` for SE-GC.
    """
    key = check_attention(name)
    if key == "none":
        return None
    return _BUILDERS[key](channels=channels, **kwargs)
