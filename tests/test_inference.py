import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

import ecalib
from ecalib import save_official_checkpoint
from ecalib.inference import eval_transform, imagenet_class_names, predict


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def test_eval_transform_is_the_official_one():
    tf = eval_transform("eca_resnet50")
    resize, crop = tf.transforms[0], tf.transforms[1]
    assert resize.size == 256 and resize.interpolation == T.InterpolationMode.BILINEAR
    assert crop.size == (224, 224)
    assert tf.transforms[-1].mean == (0.485, 0.456, 0.406)
    assert eval_transform("eca_resnet18_cifar").transforms[1].size == (32, 32)


def test_class_names_are_offline():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench"


def test_top5_predictions_from_an_official_file(tmp_path, photo):
    model = ecalib.create_model("eca_resnet18")
    path = save_official_checkpoint(model, tmp_path / "eca_resnet18_k3577.pth.tar")
    loaded = ecalib.create_model("eca_resnet18", pretrained=path)
    preds = predict(loaded, photo)
    assert len(preds) == 5
    probs = [p.probability for p in preds]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    assert all(p.label == imagenet_class_names()[p.index] for p in preds)
    x = eval_transform(loaded)(Image.open(photo).convert("RGB")).unsqueeze(0)
    expected = loaded.eval()(x).softmax(-1)[0].topk(5)
    assert [p.index for p in preds] == expected.indices.tolist()


def test_predict_errors(tmp_path):
    model = ecalib.create_model("eca_resnet18")
    with pytest.raises(FileNotFoundError):
        predict(model, tmp_path / "none.jpg")
    (tmp_path / "bad.jpg").write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        predict(model, tmp_path / "bad.jpg")


def test_predict_custom_head_uses_indices(photo):
    model = ecalib.create_model("eca_resnet18", num_classes=3)
    preds = predict(model, photo, topk=5)
    assert len(preds) == 3 and {p.label for p in preds} == {"0", "1", "2"}
    assert model.training  # predict restores the mode
    assert torch.is_grad_enabled()  # predict's no_grad does not leak


def test_cli_classify(tmp_path, photo):
    import subprocess
    import sys

    path = save_official_checkpoint(ecalib.create_model("eca_mobilenet_v2"), tmp_path / "eca_mobilenetv2_k13.pth.tar")
    out = subprocess.run(
        [sys.executable, "-m", "ecalib", "classify", str(photo), "--checkpoint", str(path), "--topk", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == str(photo) and len(lines) == 4 and "%" in lines[1]
