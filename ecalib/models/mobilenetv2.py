"""ECA-MobileNetV2 as in the official ``eca_mobilenetv2.py`` (paper Sec. 4.1, Table 3).

Faithful details that differ from torchvision's MobileNetV2: the attention module is the last
element of each inverted residual's ``conv`` sequence (``features.1.conv.3``,
``features.{2..17}.conv.4``); ECA uses k = 1 for blocks whose settings-table width c < 96 and
k = 3 otherwise; Dropout 0.25; channel widths ``int(c * width_mult)`` with no rounding to a
multiple of 8; last channel ``1280 * max(1, width_mult)``; pooling by two means over W then H.
"""

import torch
from torch import nn

from ecalib.errors import UsageError
from ecalib.layers import check_attention, create_attention, eca_kernel_size
from ecalib.models.interface import TimmInterface, builds_in_place, create_pool, new_head

# t (expansion), c (output channels), n (repeats), s (stride of the first repeat)
INVERTED_RESIDUAL_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def official_mobilenet_k(c: int) -> int:
    """The official rule: k = 1 when the table width is below 96, else 3."""
    return 1 if c < 96 else 3


class ConvBNReLU(nn.Sequential):
    def __init__(self, in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1, groups: int = 1):
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_planes, out_planes, kernel_size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_planes),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, attention: nn.Module | None):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(inp, hidden, kernel_size=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        if attention is not None:
            layers.append(attention)
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class OfficialMeanPool(nn.Module):
    """The official head's pooling, ``x.mean(3).mean(2)`` (global_pool='avg'); timm's pool API."""

    pool_type = "avg"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(-1).mean(-1)

    def feat_mult(self) -> int:
        return 1

    def is_identity(self) -> bool:
        return False


def _mobilenet_pool(num_features: int, pool_type: str) -> tuple[nn.Module, int]:
    return (OfficialMeanPool(), num_features) if pool_type == "avg" else create_pool(num_features, pool_type)


class MobileNetV2(TimmInterface, nn.Module):
    """MobileNetV2 with optional attention at the end of every inverted residual.

    Args:
        attn: ``'eca'`` (the paper's model), ``'none'`` or ``'se'`` (``reduction`` 8 in Table 3).
        k_size: ECA kernels; ``'official'`` (k = 1 if c < 96 else 3), ``'adaptive'`` (Eq. 12 on the
            block's output channels) or one odd int for every block.
        global_pool: ``'avg'`` is the official mean over W then H; other timm pool types
            (``'max'``, ``'catavgmax'``...) use timm's ``SelectAdaptivePool2d``.
        device, dtype: where and in which type the parameters are created (timm's factory arguments).
    """

    family = "mobilenet_v2"
    stem = "imagenet"
    depth = None
    __jit_unused_properties__ = ["k_per_stage"]  # TorchScript compiles properties unless listed here

    @builds_in_place
    def __init__(
        self,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        attn: str = "eca",
        k_size="official",
        attn_kwargs: dict | None = None,
        drop_rate: float = 0.25,
        in_chans: int = 3,
        global_pool: str = "avg",
    ):
        super().__init__()
        self.attn = check_attention(attn)
        if self.attn in ("eca", "ceca") and not (
            k_size in ("official", "adaptive") or (isinstance(k_size, int) and k_size > 0 and k_size % 2)
        ):
            raise UsageError(f"k_size must be 'official', 'adaptive' or a positive odd int, got {k_size!r}")
        input_channel = int(32 * width_mult)
        self.num_features = int(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [ConvBNReLU(in_chans, input_channel, stride=2)]
        self.feature_info = []
        self.block_kernel_sizes = []  # one k per block (ECA only)
        reduction = 2
        for t, c, n, s in INVERTED_RESIDUAL_SETTINGS:
            output_channel = int(c * width_mult)
            for i in range(n):
                stride = s if i == 0 else 1
                if stride == 2:  # the block before a down-sampling one ends a feature level
                    self.feature_info.append(
                        dict(num_chs=input_channel, reduction=reduction, module=f"features.{len(features) - 1}")
                    )
                    reduction *= 2
                kwargs = dict(attn_kwargs or {})
                if self.attn in ("eca", "ceca"):
                    k = {"official": official_mobilenet_k(c), "adaptive": eca_kernel_size(output_channel)}.get(
                        k_size, k_size
                    )
                    kwargs["k_size"] = k
                    self.block_kernel_sizes.append(k)
                attention = create_attention(self.attn, output_channel, **kwargs)
                features.append(InvertedResidual(input_channel, output_channel, stride, t, attention))
                input_channel = output_channel
        features.append(ConvBNReLU(input_channel, self.num_features, kernel_size=1))
        self.feature_info.append(
            dict(num_chs=self.num_features, reduction=reduction, module=f"features.{len(features) - 1}")
        )
        self.features = nn.Sequential(*features)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.global_pool, self.head_hidden_size = _mobilenet_pool(self.num_features, global_pool)
        self.classifier = self._make_classifier(num_classes)
        self._init_weights()

    def _make_classifier(self, num_classes: int) -> nn.Module:
        if num_classes <= 0:
            return nn.Identity()
        return nn.Sequential(nn.Dropout(self.drop_rate), nn.Linear(self.head_hidden_size, num_classes))

    def _init_weights(self) -> None:
        # Official init; ECA's Conv1d keeps PyTorch's default. Nothing to draw on the meta device.
        if self.features[0][0].weight.is_meta:
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    @property
    def k_per_stage(self) -> tuple[int, ...] | None:
        """Distinct ECA kernel sizes in block order (``(1, 3)`` for the released "k13" model)."""
        if not self.block_kernel_sizes:
            return None
        return tuple(dict.fromkeys(self.block_kernel_sizes))

    def _feature_levels(self) -> list[list[list[nn.Module]]]:
        """Each level is one run of blocks (registered children of ``features``); after pruning, the
        levels past the end are empty."""
        ends = [int(level["module"].split(".")[1]) for level in self.feature_info]
        starts = [0] + [e + 1 for e in ends[:-1]]
        blocks = list(self.features)
        return [[blocks[start : end + 1]] for start, end in zip(starts, ends)]

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """Parameter groups for timm's layer-wise LR decay: the stem conv, then each inverted residual."""
        return dict(stem=r"^features\.0\.", blocks=r"^features\.(\d+)")

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier (``0`` removes it) and, with ``global_pool``, the pooling; the new modules
        take the model's device, dtype and train/eval mode."""
        self.num_classes = num_classes
        if global_pool is not None:
            pool, _ = _mobilenet_pool(self.num_features, global_pool)
            self.global_pool = new_head(self, pool)
        self.head_hidden_size = self.num_features * self.global_pool.feat_mult()
        self.classifier = new_head(self, self._make_classifier(num_classes))

    def _prune_after(self, level: int) -> None:
        end = int(self.feature_info[level]["module"].split(".")[1])
        self.features = self.features[: end + 1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():
            return self.features(x)
        return self._run_levels(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
