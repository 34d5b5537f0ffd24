"""ecalib: faithful ECA-Net models (CVPR 2020), official checkpoints and the tools to check the paper."""

import warnings

from ecalib.version import __version__

# timm imports huggingface_hub, which imports tqdm.auto: in a Jupyter kernel without ipywidgets that warns
# "IProgress not found" on every page although the bars fall back to text; ecalib's pages need no widgets.
warnings.filterwarnings("ignore", message="IProgress not found")

from ecalib.checkpoint import CheckpointError  # noqa: E402
from ecalib.layers import EcaLayer, create_attention, eca_kernel_size  # noqa: E402
from ecalib.models import create_model, list_models, model_info  # noqa: E402
from ecalib.models.factory import load_official_checkpoint  # noqa: E402
from ecalib.models.official import read_official_checkpoint, save_official_checkpoint  # noqa: E402

__all__ = [
    "CheckpointError",
    "EcaLayer",
    "__version__",
    "create_attention",
    "create_model",
    "eca_kernel_size",
    "list_models",
    "load_official_checkpoint",
    "model_info",
    "read_official_checkpoint",
    "save_official_checkpoint",
]
