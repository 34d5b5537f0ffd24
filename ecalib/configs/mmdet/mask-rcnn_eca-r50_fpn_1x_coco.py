# Mask R-CNN with an ECA-ResNet-50-FPN backbone on COCO, 1x schedule (paper Tables 5/6).
# Inherits MMDetection's stock config; ECAResNet comes from ecalib through the registry.
#
#   make mmdet                                  # MMDetection 3.3 + mmcv 2.1 built with its ops
#   ecalib coco convert-backbone eca_resnet50_k3377.pth.tar --to mmdet -o checkpoints/eca_resnet50_k3377_mmdet.pth
#   mim train mmdet configs/mmdet/mask-rcnn_eca-r50_fpn_1x_coco.py --auto-scale-lr    (MMDetection's tools/train.py)
#   ecalib coco mmdet-train --data-dir data/coco                          (the same mmengine Runner, from ecalib)
_base_ = "mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py"

custom_imports = dict(imports=["ecalib.mmdet"], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type="ECAResNet",
        depth=50,
        k_size=(3, 3, 7, 7),  # the released Mask R-CNN backbone; use the kernels of your checkpoint
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type="BN", requires_grad=True),
        norm_eval=True,
        style="pytorch",
        init_cfg=dict(type="Pretrained", checkpoint="checkpoints/eca_resnet50_k3377_mmdet.pth"),
    )
)

# lr 0.02 is for 16 images per iteration (8 GPUs x 2); MMDetection rescales it linearly to the
# actual batch when auto_scale_lr is enabled (the reproduction ran 1 GPU x 2 at lr 0.02 and diverged).
auto_scale_lr = dict(enable=True, base_batch_size=16)
