"""MMDetection 3.x integration (run after `make mmdet`; skipped, with the reason, without it)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

mmdet = pytest.importorskip("mmdet", reason="MMDetection is not installed: run `make mmdet`")
pytest.importorskip("mmcv.ops", reason="mmcv was built without its ops: run `make mmdet`")

import ecalib  # noqa: E402
from ecalib.detection.convert import convert_backbone, upgrade_detector  # noqa: E402
from ecalib.detection.synthetic_checkpoints import (  # noqa: E402
    write_mmdet1_detector,
    write_official_imagenet_checkpoint,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "mmdet" / "mask-rcnn_eca-r50_fpn_1x_coco.py"
pytestmark = pytest.mark.mmdet


def load_config(**backbone):
    from mmengine.config import Config

    cfg = Config.fromfile(str(CONFIG))
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.update(backbone)
    return cfg


def test_backbone_builds_through_the_registry():
    from mmdet.registry import MODELS

    import ecalib.mmdet  # noqa: F401

    backbone = MODELS.build(dict(type="ECAResNet", depth=50, k_size="3557"))
    assert backbone.k_per_stage == (3, 5, 5, 7)
    assert backbone.layer4[2].eca.kernel_size == 7 and backbone.layer2[0].eca.kernel_size == 5
    ours = {k for k in ecalib.create_model("eca_resnet50").state_dict() if not k.startswith("fc.")}
    assert set(backbone.state_dict()) == ours  # the same key names as the official checkpoints
    feats = backbone(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [256, 512, 1024, 2048]
    with pytest.raises(ValueError, match="depth 50, 101 or 152"):
        MODELS.build(dict(type="ECAResNet", depth=18))


def test_config_inherits_the_stock_mask_rcnn():
    cfg = load_config()
    assert cfg.model.type == "MaskRCNN" and cfg.model.backbone.type == "ECAResNet"
    assert cfg.custom_imports.imports == ["ecalib.mmdet"] and cfg.auto_scale_lr == dict(enable=True, base_batch_size=16)
    assert cfg.optim_wrapper.optimizer.lr == 0.02 and cfg.train_cfg.max_epochs == 12
    assert [s.milestones for s in cfg.param_scheduler if s.type == "MultiStepLR"] == [[8, 11]]


def test_converted_weights_load_with_every_eca_key(tmp_path):
    from mmdet.registry import MODELS
    from mmengine.runner import load_checkpoint

    official = write_official_imagenet_checkpoint(tmp_path / "eca_resnet50_k3377.pth.tar", k_size="3377")
    report = convert_backbone(official, "mmdet", tmp_path / "eca_resnet50_k3377_mmdet.pth")
    backbone = MODELS.build(dict(type="ECAResNet", depth=50, k_size=report.k_per_stage))
    load_checkpoint(backbone, str(tmp_path / "eca_resnet50_k3377_mmdet.pth"), strict=True)
    source = ecalib.load_official_checkpoint(official).state_dict()
    eca = [k for k in backbone.state_dict() if k.endswith("eca.conv.weight")]
    assert len(eca) == 16
    assert all(torch.equal(backbone.state_dict()[k], source[k]) for k in eca)
    # init_cfg=Pretrained in the config does the same through init_weights()
    backbone = MODELS.build(
        dict(
            type="ECAResNet",
            depth=50,
            k_size=(3, 3, 7, 7),
            init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "eca_resnet50_k3377_mmdet.pth")),
        )
    )
    backbone.init_weights()
    assert torch.equal(backbone.layer3[1].eca.conv.weight, source["layer3.1.eca.conv.weight"])


def test_full_detector_forward_on_cpu(tmp_path):
    from mmdet.apis import inference_detector, init_detector

    model = init_detector(load_config(), checkpoint=None, device="cpu")
    image = (np.random.default_rng(0).random((96, 128, 3)) * 255).astype(np.uint8)
    result = inference_detector(model, image)
    pred = result.pred_instances
    assert pred.bboxes.shape[1] == 4 and len(pred.scores) == len(pred.labels)
    assert hasattr(pred, "masks")


def test_upgraded_release_loads_strictly_into_mmdet3(tmp_path):
    from mmdet.registry import MODELS

    write_mmdet1_detector(tmp_path / "mmdet1.pth", k_size="3377")
    report = upgrade_detector(tmp_path / "mmdet1.pth", tmp_path / "mmdet3.pth")
    cfg = load_config(k_size=report["k_per_stage"])
    model = MODELS.build(cfg.model)
    state = torch.load(tmp_path / "mmdet3.pth", weights_only=True)["state_dict"]
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    assert not unexpected, unexpected[:5]
    assert all("num_batches_tracked" in k for k in missing), missing[:5]
    model.load_state_dict(state, strict=False)
    assert torch.equal(model.roi_head.bbox_head.fc_cls.weight, state["roi_head.bbox_head.fc_cls.weight"])
    assert model.roi_head.bbox_head.fc_reg.weight.shape == (320, 1024)


def test_training_with_mmdetections_runner_and_its_log(tmp_path):
    from ecalib.mmdet.train import latest_log, train_with_mmdet
    from ecalib.recipes import resolve
    from ecalib.reports.mmdet_logs import parse_mmdet_log

    data = tmp_path / "data"  # the smoke profile generates its own set (16 training images) in there
    official = write_official_imagenet_checkpoint(tmp_path / "eca_resnet50_k3377.pth.tar", k_size="3377")
    run = resolve(
        "coco/maskrcnn_1x_mmdet",
        "smoke",
        data_dir=str(data),
        epochs=1,
        batch_size=2,
        lr=0.001,
        backbone_weights=str(official),
    )
    work_dir = train_with_mmdet(run, tmp_path / "results")
    assert (work_dir / "epoch_1.pth").exists() and (work_dir / "backbone_mmdet.pth").exists()
    log = parse_mmdet_log(latest_log(work_dir))
    assert log.config["batch_size"] == 2 and len(log.train) == 8
    # The lr given (0.001 at batch 2), not the recipe's 0.02 x 2/16 = 0.0025: mmengine's 4-iteration LinearLR
    # warm-up from 0.1 % (full lr at iteration 4, index 3), then flat.
    expected = [0.001 * (0.001 + 0.999 * min(i, 3) / 3) for i in range(8)]
    assert log.train["lr"].tolist() == pytest.approx(expected, rel=0.02, abs=1e-6)
    assert json.loads((work_dir / "params.json").read_text())["lr"] == 0.001
    assert list(log.val["epoch"]) == [1] and "segm_mAP" in log.val
