"""COCO transfer: synthetic COCO data, weight conversion, detector upgrade, Mask R-CNN, evaluation, logs."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ecalib
from ecalib import CheckpointError, save_official_checkpoint
from ecalib.detection.coco_eval import coco_metrics, paper_layout, to_coco_results
from ecalib.detection.convert import convert_backbone, load_backbone_weights, upgrade_detector
from ecalib.detection.maskrcnn import build_eca_maskrcnn
from ecalib.detection.synthetic_checkpoints import write_mmdet1_detector
from ecalib.detection.synthetic_coco import write_synthetic_coco
from ecalib.detection.visualize import draw_predictions, progress_animation, save_image
from ecalib.reference import rc2020_maskrcnn_logs
from ecalib.reports.mmdet_logs import combine_runs, parse_mmdet_log


@pytest.fixture(scope="module")
def coco_dir(tmp_path_factory):
    return write_synthetic_coco(tmp_path_factory.mktemp("coco"), train_images=8, val_images=4, size=96, seed=2)


@pytest.fixture(scope="module")
def smoke_data_base(tmp_path_factory):
    """A base data folder, shared, in which the smoke profile generates its own set once."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def official_r50(tmp_path_factory):
    """An official-format ImageNet checkpoint of ECA-ResNet-50 with the detector kernels 3377."""
    model = ecalib.create_model("eca_resnet50", k_size="3377")
    return save_official_checkpoint(
        model, tmp_path_factory.mktemp("ckpt") / "eca_resnet50_k3377.pth.tar", arch="se_resnet50"
    ), model


# -- data ------------------------------------------------------------------------------------------
def test_synthetic_coco_is_genuine_coco(coco_dir):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    ann = json.loads((coco_dir / "annotations" / "instances_train.json").read_text())
    assert {"images", "annotations", "categories"} <= set(ann)
    assert [c["name"] for c in ann["categories"]] == ["square", "triangle", "disc"]
    kinds = {type(a["segmentation"]).__name__ for a in ann["annotations"]}
    assert kinds == {"list", "dict"}  # polygons and (uncompressed) RLE
    coco = COCO(str(coco_dir / "annotations" / "instances_train.json"))
    for a in ann["annotations"]:
        m = coco.annToMask(a)
        x, y, w, h = a["bbox"]
        ys, xs = np.nonzero(m)
        assert abs(m.sum() - a["area"]) <= 1 and xs.min() >= math.floor(x) - 1 and xs.max() <= x + w + 1
        assert ys.min() >= math.floor(y) - 1 and ys.max() <= y + h + 1
        if isinstance(a["segmentation"], dict):
            assert mask_utils.frPyObjects(a["segmentation"], 96, 96)["size"] == [96, 96]
    assert json.loads((coco_dir / "SYNTHETIC.json").read_text())["generator"].endswith("write_synthetic_coco")


# -- weight correction ------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["torchvision", "mmdet"])
def test_convert_backbone_round_trip(tmp_path, official_r50, target):
    path, model = official_r50
    report = convert_backbone(path, target, tmp_path / "out.pth")
    assert report.model == "eca_resnet50" and report.k_per_stage == (3, 3, 7, 7) and report.eca_keys == 16
    assert "fc.weight" in report.dropped and "fc.bias" in report.dropped
    out = torch.load(tmp_path / "out.pth", weights_only=True)
    assert out["meta"]["k_per_stage"] == [3, 3, 7, 7] and out["meta"]["target"] == target
    prefix = "backbone.body." if target == "torchvision" else ""
    expected = {prefix + k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    if target == "torchvision":  # frozen BatchNorm keeps no counters
        expected = {k: v for k, v in expected.items() if "num_batches_tracked" not in k}
    assert set(out["state_dict"]) == set(expected)
    assert all(torch.equal(out["state_dict"][k], v) for k, v in expected.items())


def test_convert_backbone_fails_loudly(tmp_path, official_r50):
    path, model = official_r50
    state = {k: v for k, v in model.state_dict().items() if k != "layer3.4.eca.conv.weight"}
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "missing_eca.pth.tar")
    with pytest.raises(CheckpointError):
        convert_backbone(tmp_path / "missing_eca.pth.tar", "torchvision", tmp_path / "x.pth")
    assert not (tmp_path / "x.pth").exists()
    with pytest.raises(ValueError, match="torchvision, mmdet"):
        convert_backbone(path, "detectron2")
    mb = save_official_checkpoint(ecalib.create_model("eca_mobilenet_v2"), tmp_path / "mb.pth.tar")
    with pytest.raises(ValueError, match="not an ImageNet ResNet"):
        convert_backbone(mb, "mmdet")
    with pytest.raises(FileNotFoundError):
        convert_backbone(tmp_path / "none.pth.tar", "mmdet")


def test_cli_convert_backbone(tmp_path, official_r50):
    path, _ = official_r50
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecalib",
            "coco",
            "convert-backbone",
            str(path),
            "--to",
            "mmdet",
            "-o",
            str(tmp_path / "mm.pth"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "k per stage 3377" in out.stdout and "16 ECA kernels" in out.stdout


def test_upgrade_detector(tmp_path):
    write_mmdet1_detector(tmp_path / "mask_rcnn_ecanet50_k3377_bs8_lr0.01.pth")
    old = torch.load(tmp_path / "mask_rcnn_ecanet50_k3377_bs8_lr0.01.pth", weights_only=True)
    report = upgrade_detector(tmp_path / "mask_rcnn_ecanet50_k3377_bs8_lr0.01.pth", tmp_path / "upgraded.pth")
    assert report["classes"] == 80 and report["k_per_stage"] == (3, 3, 7, 7)
    new = torch.load(tmp_path / "upgraded.pth", weights_only=True)["state_dict"]
    o = old["state_dict"]
    assert not any(k.startswith(("bbox_head.", "mask_head.")) for k in new)
    cls = new["roi_head.bbox_head.fc_cls.weight"]
    assert cls.shape == (81, 1024) and torch.equal(cls[-1], o["bbox_head.fc_cls.weight"][0])
    assert torch.equal(cls[:80], o["bbox_head.fc_cls.weight"][1:])
    assert new["roi_head.bbox_head.fc_reg.weight"].shape == (320, 1024)
    assert torch.equal(new["roi_head.bbox_head.fc_reg.weight"], o["bbox_head.fc_reg.weight"][4:])
    assert new["roi_head.mask_head.conv_logits.weight"].shape == (80, 256, 1, 1)
    assert torch.equal(new["backbone.layer4.2.eca.conv.weight"], o["backbone.layer4.2.eca.conv.weight"])
    with pytest.raises(CheckpointError, match="already upgraded"):
        upgrade_detector(tmp_path / "upgraded.pth")
    torch.save({"state_dict": {"fc.weight": torch.zeros(2)}}, tmp_path / "cls.pth")
    with pytest.raises(CheckpointError, match="not an MMDetection 1.x two-stage detector"):
        upgrade_detector(tmp_path / "cls.pth")


# -- detector ----------------------------------------------------------------------------------------
def test_maskrcnn_builder(tmp_path, official_r50):
    path, model = official_r50
    detector = build_eca_maskrcnn(4, backbone_weights=path, min_size=96, max_size=96)
    assert detector.k_per_stage == (3, 3, 7, 7)
    body = detector.backbone.body
    torch.testing.assert_close(body.layer2[1].eca.conv.weight, model.layer2[1].eca.conv.weight)
    assert not body.conv1.weight.requires_grad and not body.layer1[0].conv1.weight.requires_grad
    assert not body.layer1[0].eca.conv.weight.requires_grad and body.layer2[0].conv1.weight.requires_grad
    from torchvision.ops import FrozenBatchNorm2d

    assert isinstance(body.layer3[0].bn1, FrozenBatchNorm2d)
    converted = convert_backbone(path, "torchvision", tmp_path / "tv.pth")
    weights, k = load_backbone_weights(converted.output)
    assert k == (3, 3, 7, 7) and "layer1.0.eca.conv.weight" in weights
    with pytest.raises(ValueError, match="k_size='3557'"):
        build_eca_maskrcnn(4, k_size="3557", backbone_weights=path)
    assert build_eca_maskrcnn(4, k_size="5555", min_size=96, max_size=96).k_per_stage == (5, 5, 5, 5)
    detector.eval()
    with torch.no_grad():
        out = detector([torch.rand(3, 96, 96)])[0]
    assert set(out) == {"boxes", "labels", "scores", "masks"}


def _official_style_weights(model: torch.nn.Module, seed: int) -> dict:
    """Random weights for every tensor, BN scales from [-1, 1] (the stem's included): a trained net's signs."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
        elif key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=g) + 0.5
        elif key.endswith(("bn1.weight", "bn2.weight", "bn3.weight", "downsample.1.weight")):
            state[key] = torch.rand(value.shape, generator=g) * 2 - 1
        elif value.dim() > 1:  # conv, fc and attention weights: the official init's scale, redrawn
            state[key] = torch.randn(value.shape, generator=g) * value.std().clamp_min(1e-3) * 0.5
        else:
            state[key] = torch.randn(value.shape, generator=g) * 0.1
    return state


def _detector_backbones() -> list[str]:
    infos = map(ecalib.model_info, ecalib.list_models())
    return [i.name for i in infos if i.family == "resnet" and i.stem == "imagenet"]


def test_detector_backbone_list_is_every_imagenet_resnet():
    from ecalib.layers import ABLATION_TYPES

    # 5 depths x (none, SE, CBAM, Triplet, ECA, ECA adaptive, CECA), and ResNet-50 with each Table 2 variant
    assert len(_detector_backbones()) == 5 * 7 + len(ABLATION_TYPES)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", _detector_backbones())
def test_detector_trunk_computes_the_classifier_trunk(backbone):
    """FPN inputs (layer1..4 through torchvision's IntermediateLayerGetter) equal the classifier's stages,
    also with negative stem BN scales, where running max-pool before BN + ReLU gives another function."""
    classifier = ecalib.create_model(backbone).eval()
    assert (classifier.bn1.weight >= 0).all()  # the default init hides a wrong stem order
    classifier.load_state_dict(_official_style_weights(classifier, seed=len(backbone)))
    assert (classifier.bn1.weight < 0).any()
    detector = build_eca_maskrcnn(3, backbone=backbone, k_size=classifier.k_per_stage, min_size=64, max_size=64).eval()
    trunk = {k: v for k, v in classifier.state_dict().items() if not k.startswith("fc.") and "num_batches" not in k}
    detector.backbone.body.load_state_dict(trunk)
    classifier, detector = classifier.double(), detector.double()  # deep random nets amplify rounding
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        got = list(detector.backbone.body(x).values())
        h = classifier.maxpool(classifier.relu(classifier.bn1(classifier.conv1(x))))
        expected = []
        for stage in classifier.stages():
            h = stage(h)
            expected.append(h)
    for level, (a, b) in enumerate(zip(got, expected, strict=True)):
        error = ((a - b).norm() / b.norm()).item()
        assert error < 1e-9, f"{backbone} layer{level + 1}: relative L2 difference {error:.3g}"


def test_coco_metrics_on_perfect_and_empty_results(coco_dir):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    gt = COCO(str(coco_dir / "annotations" / "instances_val.json"))
    perfect = []
    for ann in gt.loadAnns(gt.getAnnIds()):
        rle = gt.annToRLE(ann)
        rle["counts"] = rle["counts"].decode("ascii")
        perfect.append(
            {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
                "bbox": ann["bbox"],
                "score": 1.0,
                "segmentation": rle,
            }
        )
    for iou_type in ("bbox", "segm"):
        metrics = coco_metrics(gt, perfect, iou_type)
        assert set(metrics) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}
        assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)
    assert coco_metrics(gt, [], "bbox")["AP"] == 0.0
    assert isinstance(gt.loadAnns(gt.getAnnIds())[0]["segmentation"], (list, dict))  # gt left untouched
    table = paper_layout({"bbox_AP": 0.341, "segm_AP": 0.314})
    assert table.loc["bbox", "AP"] == pytest.approx(34.1) and list(table.columns)[-1] == "APl"
    # model-output conversion: xyxy -> xywh, masks -> RLE
    out = {
        "boxes": torch.tensor([[10.0, 20.0, 30.0, 60.0]]),
        "scores": torch.tensor([0.9]),
        "labels": torch.tensor([2]),
        "masks": torch.zeros(1, 1, 96, 96),
    }
    out["masks"][0, 0, 20:60, 10:30] = 1
    (record,) = to_coco_results([out], [7])
    assert record["bbox"] == [10.0, 20.0, 20.0, 40.0] and record["category_id"] == 2
    assert mask_utils.area(record["segmentation"]) == 800


def test_visualization_files(tmp_path):
    image = torch.full((3, 64, 64), 0.5)
    prediction = {
        "boxes": torch.tensor([[5.0, 5.0, 40.0, 40.0], [1.0, 1.0, 3.0, 3.0]]),
        "scores": torch.tensor([0.9, 0.1]),
        "labels": torch.tensor([1, 2]),
        "masks": torch.zeros(2, 1, 64, 64),
    }
    prediction["masks"][0, 0, 10:30, 10:30] = 1
    drawn = draw_predictions(image, prediction, {1: "square", 2: "triangle"}, title="epoch 1")
    assert drawn.dtype == torch.uint8 and drawn.shape == (3, 78, 64)  # caption strip on top
    body = drawn[:, 14:]
    assert not torch.equal(body[:, 20, 20], torch.tensor([127, 127, 127], dtype=torch.uint8))  # mask tint
    assert torch.equal(body[:, 2, 2], torch.tensor([127, 127, 127], dtype=torch.uint8))  # low score not drawn
    frames = [
        save_image(draw_predictions(image, prediction, title=f"epoch {i}"), tmp_path / f"f{i}.png") for i in range(3)
    ]
    gif = progress_animation(frames, tmp_path / "progress.gif")
    from PIL import Image

    with Image.open(gif) as img:
        assert img.format == "GIF" and img.n_frames == 3


# -- the reproduction's logs --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rc2020_logs():
    return [parse_mmdet_log(p) for p in rc2020_maskrcnn_logs()]


def test_log_parser_on_the_reproductions_logs(rc2020_logs):
    run1, run2 = rc2020_logs
    assert run1.config["lr"] == 0.02 and run1.config["samples_per_gpu"] == 2
    bad = run1.first_nonfinite
    assert (bad["epoch"], bad["iter"], bad["lr"]) == (6, 27850, 0.02)
    assert run1.val["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert run2.config["lr"] == 0.0025 and run2.resumed_from_epoch == 5
    epochs = combine_runs(rc2020_logs).per_epoch()
    assert list(epochs.index) == list(range(1, 13))
    assert epochs.loc[12, "bbox_mAP"] == 0.341 and epochs.loc[12, "segm_mAP"] == 0.314
    assert epochs.loc[1, "bbox_mAP"] == 0.126 and epochs.loc[9, "segm_mAP_l"] == 0.359
    # the announced fix (lr 0.0025) never applied: resumed epochs still log the old optimizer lr
    assert set(epochs.loc[6:8, "lr_max"]) == {0.02} and set(epochs.loc[9:11, "lr_max"]) == {0.002}
    assert epochs.loc[12, "lr_max"] == 0.0002
    assert epochs["nan_iterations"].sum() == 0  # run 1's NaN epoch was superseded by run 2
    assert run1.per_epoch().loc[6, "nan_iterations"] > 0


def test_log_parser_reads_mmdet3_lines(tmp_path):
    log = tmp_path / "20240101_000000.log"
    log.write_text(
        "2024/01/01 10:00:00 - mmengine - INFO - Epoch(train)  [1][  50/7330]  base_lr: 2.0000e-02 lr: 1.9820e-03"
        "  eta: 1 day, 2:03:04  time: 0.5018  data_time: 0.0100  memory: 3000  loss: 2.0123  loss_rpn_cls: 0.6000"
        "  loss_rpn_bbox: 0.1000  loss_cls: 1.0000  acc: 90.0000  loss_bbox: 0.2000  loss_mask: 0.1123\n"
        "2024/01/01 10:00:30 - mmengine - INFO - Epoch(train)  [1][ 100/7330]  base_lr: 2.0000e-02 lr: 3.9800e-03"
        "  eta: 1 day, 2:00:00  time: 0.5000  data_time: 0.0100  memory: 3000  loss: nan  loss_rpn_cls: nan"
        "  loss_rpn_bbox: nan  loss_cls: nan  acc: 0.0000  loss_bbox: nan  loss_mask: nan\n"
        "2024/01/01 12:00:00 - mmengine - INFO - Epoch(val) [1][625/625]    coco/bbox_mAP: 0.0120  coco/bbox_mAP_50:"
        " 0.0300  coco/segm_mAP: 0.0110  data_time: 0.0020  time: 0.1000\n"
    )
    parsed = parse_mmdet_log(log)
    assert parsed.train["lr"].tolist() == [0.001982, 0.00398] and parsed.train.loc[0, "eta"] == "1 day, 2:03:04"
    assert parsed.first_nonfinite["iter"] == 100
    assert parsed.val.loc[0, "bbox_mAP"] == 0.012 and parsed.val.loc[0, "segm_mAP"] == 0.011
    with pytest.raises(ValueError, match="no MMDetection"):
        (tmp_path / "empty.log").write_text("nothing\n")
        parse_mmdet_log(tmp_path / "empty.log")


# -- training end to end --------------------------------------------------------------------------------
@pytest.mark.slow
def test_short_cpu_training_evaluation_and_visualization(tmp_path, coco_dir, smoke_data_base):
    # the smoke profile's own set (a set of another spec given as data_dir is refused)
    from ecalib.recipes import resolve
    from ecalib.tasks import coco, train

    run = resolve("coco", "smoke", data="synthetic", data_dir=str(smoke_data_base), epochs=2, wandb_mode="disabled")
    assert "linear scaling: 0.02 x 2/16" in run.lr_rule
    result = train(run, tmp_path, progress=False, verbose=False)
    history = result.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    for iou_type in ("bbox", "segm"):
        for metric in ("AP", "AP50", "AP75", "APs", "APm", "APl"):
            assert f"{iou_type}_{metric}" in result.final
    assert (result.run_dir / "progress.gif").exists() and len(list((result.run_dir / "frames").glob("*.png"))) == 2
    params = json.loads((result.run_dir / "params.json").read_text())
    assert params["data_source"]["kind"] == "synthetic" and params["num_classes"] == 4
    metrics = coco.evaluate(result.run_dir / "checkpoints" / "checkpoint.pth.tar", coco_dir)
    assert metrics["images"] == 4 and "segm_AP" in metrics
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecalib",
            "coco",
            "visualize",
            str(coco_dir / "val" / "images" / "val_000001.jpg"),
            "--checkpoint",
            str(result.run_dir / "checkpoints" / "checkpoint.pth.tar"),
            "--output-dir",
            str(tmp_path),
            "--score-threshold",
            "0.0",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "val_000001_detections.png").exists()


def test_recipe_and_lr_scaling():
    """The recipe file against MMDetection's 1x schedule and the paper's lr (0.01 at batch 8)."""
    from ecalib.recipes import resolve

    cfg = resolve("coco", data_dir="/data/coco", batch_size=16).train_config()
    assert (cfg.epochs, cfg.milestones, cfg.lr, cfg.warmup_iters, cfg.weight_decay) == (12, [8, 11], 0.02, 500, 1e-4)
    assert resolve("coco", data_dir="/d", batch_size=8).config.optimizer.lr == pytest.approx(0.01)  # the paper's
    assert resolve("coco", data_dir="/d", batch_size=2).config.optimizer.lr == pytest.approx(0.0025)  # not RC2020's
    with pytest.raises(ValueError, match=r"data.dir \(--data-dir\) is required"):
        resolve("coco")
    with pytest.raises(ValueError, match="not an ImageNet ResNet"):
        resolve("coco", model="eca_mobilenet_v2", data_dir="/d")


def test_the_smoke_profile_shrinks_the_detector_heads():
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    from ecalib.recipes import resolve
    from ecalib.tasks.coco import detector_kwargs

    run = resolve("coco", "smoke", model="resnet18")
    smoke = build_eca_maskrcnn(91, backbone="resnet18", **detector_kwargs(run))
    default = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)  # torchvision's own defaults
    for model, (pre, post, rois, dets) in ((smoke, (300, 150, 64, 20)), (default, (2000, 2000, 512, 100))):
        assert model.rpn._pre_nms_top_n["training"] == pre and model.rpn._post_nms_top_n["training"] == post
        assert model.roi_heads.fg_bg_sampler.batch_size_per_image == rois
        assert model.roi_heads.detections_per_img == dets
    assert detector_kwargs(resolve("coco", model="resnet18", data_dir="x")).keys() == {"min_size", "max_size"}


@pytest.mark.slow
def test_workers_option_trains(tmp_path, smoke_data_base, capsys):
    from ecalib.cli import main
    from ecalib.recipes import resolve

    assert resolve("coco", data_dir="/data/coco", workers=3).config.data.workers == 3
    args = ["coco", "train", "--profile", "smoke", "--data", "synthetic", "--data-dir", str(smoke_data_base)]
    args += ["--epochs", "1"]
    args += ["--results-dir", str(tmp_path), "--wandb-mode", "disabled", "--no-progress", "--workers", "1"]
    assert main(args) == 0
    run_dir = Path(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"])
    params = json.loads((run_dir / "params.json").read_text())
    assert params["experiment"]["data"]["workers"] == 1 and "workers" not in params  # recorded once
