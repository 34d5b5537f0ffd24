"""Facts about ecalib's model variants that the networks themselves do not carry.

The block layouts behind each depth, the released checkpoints (file, per-stage ECA kernels), the
exact parameter counts of the official models, the rows of the paper's and the official README's
tables a variant reproduces, and the naming scheme (attention prefix + backbone). The variants
themselves are timm entrypoints in :mod:`ecalib.models.ecalib_timm`; :mod:`ecalib.models.registry`
joins the two.
"""

from functools import cache

from ecalib.layers.create_attn import ATTENTION_TYPES

# depth -> (block, blocks per stage)
RESNET_LAYOUTS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
# depth -> (block, blocks per stage, stage widths) of the CIFAR-stem ResNets
CIFAR_RESNET_LAYOUTS = {20: ("basic", (3, 3, 3), (16, 32, 64)), 18: ("basic", (2, 2, 2, 2), (64, 128, 256, 512))}

# Per-stage k of the released ImageNet checkpoints (their file-name suffix).
RELEASED_K = {18: (3, 5, 7, 7), 34: (3, 3, 5, 7), 50: (3, 5, 5, 7), 101: (3, 3, 5, 7), 152: (3, 3, 5, 7)}
# Per-stage k of the ECA-ResNet-50 backbones in the released COCO detectors (their file names, official README)
RELEASED_DETECTOR_K = {"Mask R-CNN": (3, 3, 7, 7), "RetinaNet": (3, 3, 7, 7), "Faster R-CNN": (5, 5, 5, 5)}
RELEASED_FILES = {
    **{f"eca_resnet{d}": f"eca_resnet{d}_k{''.join(map(str, k))}.pth.tar" for d, k in RELEASED_K.items()},
    "eca_mobilenet_v2": "eca_mobilenetv2_k13.pth.tar",
}
# Exact parameter counts at 1000 classes: the released files' own, and the torchvision baselines'.
OFFICIAL_PARAMS = {
    "eca_resnet18": 11_689_556,
    "eca_resnet34": 21_797_744,
    "eca_resnet50": 25_557_112,
    "eca_resnet101": 44_549_317,
    "eca_resnet152": 60_193_042,
    "eca_mobilenet_v2": 3_504_903,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "mobilenet_v2": 3_504_872,
}
README_NAMES = {18: "ECA-Net18", 34: "ECA-Net34", 50: "ECA-Net50", 101: "ECA-Net101", 152: "ECA-Net152"}
PAPER_METHODS = {"none": "ResNet", "se": "SENet", "cbam": "CBAM", "eca": "ECA-Net"}
# A variant's name is its attention's prefix + backbone (``se_resnet50``, ``resnet20_cifar``).
PREFIX = {"none": "", **{attn: f"{attn}_" for attn in ATTENTION_TYPES if attn != "none"}}
# (source, backbone, method) rows of ecalib.reference's tables that a variant reproduces
REFERENCE_ROWS = {
    **{
        f"{PREFIX[attn]}resnet{d}": (("paper", f"ResNet-{d}", method),)
        for d in RESNET_LAYOUTS
        for attn, method in PAPER_METHODS.items()
        if attn != "eca"
    },
    **{
        f"eca_resnet{d}": (("official README", README_NAMES[d], "ECA"), ("paper", f"ResNet-{d}", PAPER_METHODS["eca"]))
        for d in RESNET_LAYOUTS
    },
    "eca_mobilenet_v2": (("official README", "ECA-MobileNet_v2", "ECA"), ("paper", "MobileNetV2", "ECA-Net")),
    "mobilenet_v2": (("paper", "MobileNetV2", "MobileNetV2"),),
    "se_mobilenet_v2": (("paper", "MobileNetV2", "SE (r=8)"),),
}

# timm's own ECA-ResNets: different networks, listed by ecalib.list_models(source='timm') and built by timm
TIMM_ECA_RESNETS = (
    "ecaresnet26t",
    "ecaresnet50d",
    "ecaresnet50d_pruned",
    "ecaresnet50t",
    "ecaresnet101d",
    "ecaresnet101d_pruned",
    "ecaresnet200d",
    "ecaresnet269d",
    "ecaresnetlight",
)
TIMM_ECA_NOTES = (
    "timm's ECA-ResNet: a different network (deep/tiered stem, avg-pool downsampling, "
    "adaptive k with a minimum of 3); only the ECA module math is shared with the paper."
)


@cache
def reference_rows(name: str) -> tuple[tuple[str, str, str], ...]:
    """The table rows of ``name`` that :mod:`ecalib.reference` ships (rows it lacks are left out); the table is
    read only for a model that names rows."""
    if name not in REFERENCE_ROWS:
        return ()
    from ecalib.reference import paper_table_rows

    present = {(r["source"], r["backbone"], r["method"]) for r in paper_table_rows()}
    return tuple(row for row in REFERENCE_ROWS.get(name, ()) if row in present)
