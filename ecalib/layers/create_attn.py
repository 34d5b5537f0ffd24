"""Select a channel/spatial attention module by name (one factory for every block type)."""

from torch import nn

from ecalib.errors import UsageError
from ecalib.layers.cbam import Cbam
from ecalib.layers.eca import CecaLayer, EcaLayer
from ecalib.layers.se import SqueezeExcite
from ecalib.layers.triplet import TripletAttention

ATTENTION_TYPES = ("none", "se", "cbam", "triplet", "eca", "ceca")

_BUILDERS = {
    "se": SqueezeExcite,
    "cbam": Cbam,
    "triplet": TripletAttention,
    "eca": EcaLayer,
    "ceca": CecaLayer,
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
    rule), ``reduction`` for SE/CBAM, ``spatial_kernel`` for CBAM, ``kernel_size`` for Triplet.
    """
    key = check_attention(name)
    if key == "none":
        return None
    return _BUILDERS[key](channels=channels, **kwargs)
