"""ECA-ResNet for MMDetection 3.x, registered without touching MMDetection's source.

A config pulls it in with ``custom_imports = dict(imports=["ecalib.mmdet"], allow_failed_imports=False)``
and uses ``backbone=dict(type="ECAResNet", depth=50, k_size=(3, 3, 7, 7), ...)``; see
``configs/mmdet/mask-rcnn_eca-r50_fpn_1x_coco.py``. Importing this module needs mmdet and mmcv
(``make mmdet``).
"""

from ecalib.mmdet.backbone import EcaPlugin, ECAResNet

__all__ = ["ECAResNet", "EcaPlugin"]
