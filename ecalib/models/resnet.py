"""One ResNet family with a pluggable attention module (ECA-Net paper Fig. 2 / official eca_resnet.py).

The attention module sits after the last BN of the residual branch, before the addition.
Module names follow torchvision (``conv1``, ``layer{S}.{B}.bn2``, ``downsample.0``, ``fc``) plus
``layer{S}.{B}.eca.conv.weight``, so the official checkpoints, torchvision and MMDetection
backbones share key names.
"""

import math
from collections.abc import Sequence

import torch
from torch import nn

from ecalib.errors import UsageError
from ecalib.layers import EcaLayer, check_attention, create_attention, eca_kernel_size
from ecalib.models.interface import TimmInterface, builds_in_place, create_pool, new_head

ECA_TYPES = ("eca", "ceca")
KERNEL_TYPES = (*ECA_TYPES, "eca_ns")  # attentions with a kernel size k per stage
#: Attention attributes the scripted (TorchScript) block knows by name; see ``_AttentionBlock``.
SCRIPTED_ATTRIBUTES = ("eca", "se", "cbam", "triplet", "se_var1", "se_var2", "se_var3", "se_gc", "eca_ns")


def attention_attribute(attn: str) -> str:
    """Attribute (and state-dict key) under which a block stores its attention module."""
    return "eca" if attn in ECA_TYPES else attn


def resolve_kernel_sizes(k_size, stage_channels: Sequence[int]) -> tuple[int, ...]:
    """Per-stage ECA kernel sizes from ``k_size``.

    Accepts ``None``/``'adaptive'`` (paper Eq. 12 on each stage's output channels), one int for
    every stage, a digit string such as ``'3557'`` (the official file-name suffix) or a sequence
    with one odd int per stage.
    """
    n = len(stage_channels)
    if k_size is None or k_size == "adaptive":
        return tuple(eca_kernel_size(c) for c in stage_channels)
    if isinstance(k_size, int):
        ks = (k_size,) * n
    elif isinstance(k_size, str) and k_size.isdigit():
        ks = tuple(int(ch) for ch in k_size)
    elif isinstance(k_size, Sequence) and not isinstance(k_size, str):
        ks = tuple(int(k) for k in k_size)
    else:
        raise UsageError(
            f"k_size must be None/'adaptive', an odd int, a digit string like '3557' or a list; got {k_size!r}"
        )
    if len(ks) != n or any(k < 1 or k % 2 == 0 for k in ks):
        raise UsageError(f"k_size needs {n} positive odd kernel sizes (one per stage), got {list(ks)}")
    return ks


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class _AttentionBlock(nn.Module):
    """Shared by both block types: attach the attention module under its key name.

    Eager code reaches it as ``getattr(self, self.attn_attr)``, so any attention type works. TorchScript
    only takes literal attribute names: the scripted path knows the names in :data:`SCRIPTED_ATTRIBUTES`
    (unset ones are ``None``, which TorchScript compiles away) and refuses any other.
    """

    expansion = 1

    def _attach_attention(self, attn: str, channels: int, attn_kwargs: dict) -> None:
        module = create_attention(attn, channels, **attn_kwargs)
        self.attn_attr = None if module is None else attention_attribute(attn)
        if module is not None:
            self.add_module(self.attn_attr, module)
        for name in SCRIPTED_ATTRIBUTES:
            if name != self.attn_attr:
                setattr(self, name, None)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():
            if self.eca is not None:
                return self.eca(x)
            if self.se is not None:
                return self.se(x)
            if self.cbam is not None:
                return self.cbam(x)
            if self.triplet is not None:
                return self.triplet(x)
            if self.se_var1 is not None:
                return self.se_var1(x)
            if self.se_var2 is not None:
                return self.se_var2(x)
            if self.se_var3 is not None:
                return self.se_var3(x)
            if self.se_gc is not None:
                return self.se_gc(x)
            if self.eca_ns is not None:
                return self.eca_ns(x)
            if self.attn_attr is not None:
                raise RuntimeError(
                    "scripted ResNet blocks reach attention modules by the names in SCRIPTED_ATTRIBUTES; add '"
                    + self.attn_attr
                    + "' there and a branch in _AttentionBlock._attend"
                )
            return x
        return x if self.attn_attr is None else getattr(self, self.attn_attr)(x)

    def _attach_drop_path(self, drop_path: float) -> None:
        # Only when on: a parameter-free module, but the default tree stays the official one.
        if drop_path > 0:
            from timm.layers import DropPath

            self.drop_path = DropPath(drop_path)
        else:
            self.drop_path = None

    def _attend_add_relu(self, out: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """``relu(drop_path(attention(out)) + identity)``; without drop path ECA fuses the rescale into the
        add (see ``EcaLayer.forward_residual``)."""
        if self.drop_path is not None:
            return self.relu(self.drop_path(self._attend(out)) + identity)
        if torch.jit.is_scripting():
            if self.eca is not None:
                return self.eca.forward_residual(out, identity)
        elif self.attn_attr is not None and isinstance(getattr(self, self.attn_attr), EcaLayer):
            return getattr(self, self.attn_attr).forward_residual(out, identity)
        return self.relu(self._attend(out) + identity)


class BasicBlock(_AttentionBlock):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> attention -> + shortcut -> ReLU."""

    expansion = 1

    def __init__(
        self,
        inplanes,
        planes,
        stride=1,
        downsample=None,
        attn="none",
        attn_kwargs=None,
        norm_layer=nn.BatchNorm2d,
        drop_path=0.0,
    ):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self._attach_attention(attn, planes, attn_kwargs or {})
        self._attach_drop_path(drop_path)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self._attend_add_relu(self.bn2(self.conv2(out)), identity)


class Bottleneck(_AttentionBlock):
    """1x1 -> 3x3 (stride here, "ResNet v1.5") -> 1x1 (x4) -> BN -> attention -> + shortcut -> ReLU."""

    expansion = 4

    def __init__(
        self,
        inplanes,
        planes,
        stride=1,
        downsample=None,
        attn="none",
        attn_kwargs=None,
        norm_layer=nn.BatchNorm2d,
        drop_path=0.0,
    ):
        super().__init__()
        width = planes
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self._attach_attention(attn, planes * self.expansion, attn_kwargs or {})
        self._attach_drop_path(drop_path)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self._attend_add_relu(self.bn3(self.conv3(out)), identity)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}
STEMS = ("imagenet", "cifar")


class ResNet(TimmInterface, nn.Module):
    """ResNet with optional attention in every block.

    Args:
        block: ``'basic'`` or ``'bottleneck'``.
        layers: blocks per stage, e.g. ``[3, 4, 6, 3]``.
        attn: one of :data:`ecalib.layers.ATTENTION_TYPES`.
        k_size: ECA kernel sizes (see :func:`resolve_kernel_sizes`); only for ``eca``/``ceca``/``eca_ns``.
        attn_kwargs: extra arguments for the attention module (``reduction``, ``spatial_kernel``...).
        stem: ``'imagenet'`` (7x7/2 conv + max-pool) or ``'cifar'`` (3x3/1 conv, no pool).
        widths: base width of each stage (64, 128, 256, 512 for the ImageNet ResNets).
        norm_layer: normalisation of the trunk, e.g. ``torchvision.ops.FrozenBatchNorm2d`` for detection.
        drop_path_rate: stochastic depth (timm's ``DropPath``) on the residual branches, rising
            linearly from 0 to this rate over the blocks as in timm's ResNet; 0 adds nothing.
        global_pool: timm's ``SelectAdaptivePool2d`` type (``'avg'``, ``'max'``, ``'catavgmax'``...).
        device, dtype: where and in which type the parameters are created (timm's factory arguments).
    """

    family = "resnet"

    @builds_in_place
    def __init__(
        self,
        block: str,
        layers: Sequence[int],
        num_classes: int = 1000,
        attn: str = "none",
        k_size=None,
        attn_kwargs: dict | None = None,
        stem: str = "imagenet",
        widths: Sequence[int] = (64, 128, 256, 512),
        in_chans: int = 3,
        drop_rate: float = 0.0,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        drop_path_rate: float = 0.0,
        global_pool: str = "avg",
    ):
        super().__init__()
        if block not in BLOCKS:
            raise UsageError(f"unknown block {block!r}; valid: {', '.join(BLOCKS)}")
        if stem not in STEMS:
            raise UsageError(f"unknown stem {stem!r}; valid: {', '.join(STEMS)}")
        if len(layers) != len(widths) or not 1 <= len(layers) <= 4:
            raise UsageError(
                f"layers {list(layers)} and widths {list(widths)} must have the same length, 1 to 4 stages"
            )
        block_cls = BLOCKS[block]
        self.attn = check_attention(attn)
        if k_size is not None and self.attn not in KERNEL_TYPES:
            raise UsageError(f"k_size only applies to attention {', '.join(KERNEL_TYPES)}, not {self.attn!r}")
        stage_channels = [w * block_cls.expansion for w in widths]
        self.k_per_stage = resolve_kernel_sizes(k_size, stage_channels) if self.attn in KERNEL_TYPES else None
        self.stem = stem
        self.depth = sum(layers) * (3 if block == "bottleneck" else 2) + 2
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.inplanes = widths[0]
        self.norm_layer = norm_layer

        # Registered in execution order: whatever runs the children in turn (torchvision's
        # IntermediateLayerGetter, timm's feature wrappers, FX) computes conv1 -> bn1 -> relu -> maxpool.
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_chans, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = conv3x3(in_chans, self.inplanes)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem == "imagenet" else nn.Identity()

        stem_reduction = 2 if stem == "imagenet" else 1
        self.feature_info = [dict(num_chs=self.inplanes, reduction=stem_reduction, module="relu")]
        reduction = stem_reduction * (2 if stem == "imagenet" else 1)
        n_total, first = sum(layers), 0
        for i, (n_blocks, width) in enumerate(zip(layers, widths)):
            stride = 1 if i == 0 else 2
            reduction *= stride
            kwargs = dict(attn_kwargs or {})
            if self.k_per_stage is not None:
                kwargs["k_size"] = self.k_per_stage[i]
            rates = [drop_path_rate * (first + b) / max(n_total - 1, 1) for b in range(n_blocks)]
            first += n_blocks
            self.add_module(f"layer{i + 1}", self._make_layer(block_cls, width, n_blocks, stride, kwargs, rates))
            self.feature_info.append(
                dict(num_chs=width * block_cls.expansion, reduction=reduction, module=f"layer{i + 1}")
            )
        self.num_stages = len(layers)
        self.num_features = widths[-1] * block_cls.expansion
        self.global_pool, self.head_hidden_size = create_pool(self.num_features, global_pool)
        self.fc = nn.Linear(self.head_hidden_size, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights()

    def _make_layer(self, block, planes, blocks, stride, attn_kwargs, drop_paths) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride), self.norm_layer(planes * block.expansion)
            )
        norm = self.norm_layer
        layers = [block(self.inplanes, planes, stride, downsample, self.attn, attn_kwargs, norm, drop_paths[0])]
        self.inplanes = planes * block.expansion
        layers += [
            block(self.inplanes, planes, 1, None, self.attn, attn_kwargs, norm, drop_paths[b]) for b in range(1, blocks)
        ]
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        # Official init: conv ~ N(0, sqrt(2 / (kh * kw * out))), BN weight 1 / bias 0;
        # ECA's Conv1d and all Linear layers keep PyTorch's defaults. Nothing to draw on the meta device.
        if self.conv1.weight.is_meta:
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, f"layer{i + 1}") for i in range(self.num_stages)]

    def _feature_levels(self) -> list[list[nn.Module]]:
        return [[self.conv1, self.bn1, self.relu], [self.maxpool, self.layer1], *([s] for s in self.stages()[1:])]

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """Parameter groups for timm's layer-wise LR decay: the stem, then each stage (coarse) or block."""
        return dict(stem=r"^conv1|^bn1", blocks=r"^layer(\d+)" if coarse else r"^layer(\d+)\.(\d+)")

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier for fine-tuning (``0`` removes it: the model returns pooled features);
        ``global_pool`` also changes the pooling (timm's types; ``''`` keeps the map). The new modules
        take the model's device, dtype and train/eval mode."""
        self.num_classes = num_classes
        if global_pool is not None:
            pool, _ = create_pool(self.num_features, global_pool)
            self.global_pool = new_head(self, pool)
        self.head_hidden_size = self.num_features * self.global_pool.feat_mult()
        fc = nn.Linear(self.head_hidden_size, num_classes) if num_classes > 0 else nn.Identity()
        self.fc = new_head(self, fc)

    def _prune_after(self, level: int) -> None:
        # empty stages, not Identity, so that gradient checkpointing still walks them
        for stage in range(level + 1, self.num_stages + 1):
            setattr(self, f"layer{stage}", nn.Sequential())
        if level == 0:
            self.maxpool = nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_scripting():  # TorchScript reaches the stages by literal names
            x = self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
            if hasattr(self, "layer2"):
                x = self.layer2(x)
            if hasattr(self, "layer3"):
                x = self.layer3(x)
            if hasattr(self, "layer4"):
                x = self.layer4(x)
            return x
        return self._run_levels(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)
        if self.drop_rate > 0:
            x = nn.functional.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
