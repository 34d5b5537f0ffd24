"""Generated data sets get a folder of their own per spec, under one base data_dir."""

import json

import pytest

from ecalib.data import load_cifar10
from ecalib.data.synthetic import MARKER, synthetic_set
from ecalib.recipes import resolve
from ecalib.tasks import coco, imagenet


def test_cifar10_smoke_then_full_share_a_base_folder(tmp_path):
    base = tmp_path / "data"
    sets = {}
    for profile in ("smoke", "full", "smoke"):
        run = resolve("cifar10", profile, model="eca", data="synthetic", data_dir=str(base))
        d = run.config.data
        train, test = load_cifar10(d.dir, d.source, False, d.synthetic)
        folder = train.source["path"]
        marker = json.loads((base / folder / MARKER).read_text())
        assert (len(train), len(test)) == (marker["n_train"], marker["n_test"]) == tuple(d.synthetic.values())
        sets.setdefault(profile, (folder, (base / folder / MARKER).stat().st_mtime_ns))
        assert sets[profile] == (folder, (base / folder / MARKER).stat().st_mtime_ns)  # reused, not rewritten
    smoke, full = sets["smoke"][0], sets["full"][0]
    assert smoke != full and {p.name for p in base.iterdir()} == {
        "synthetic-cifar10-n_train320-n_test160-seed0-noise40",
        "synthetic-cifar10-n_train5000-n_test1000-seed0-noise40",
    }
    assert str(base.resolve()) in smoke


def test_imagenet_and_coco_sets_per_spec(tmp_path):
    base = tmp_path / "data"
    run = resolve("imagenet", "smoke", model="eca_resnet18", data_dir=str(base), wandb_mode="disabled")
    other = resolve("imagenet", "smoke", model="eca_resnet18", data_dir=str(base), wandb_mode="disabled")
    folder = imagenet.data_folder(run)
    assert folder == imagenet.data_folder(other) and str(folder).startswith(
        str(base / "synthetic-imagenet-num_classes4")
    )
    imagenet.TASK.prepare(run)
    written = (folder / MARKER).stat().st_mtime_ns
    imagenet.TASK.prepare(other)
    assert (folder / MARKER).stat().st_mtime_ns == written
    from ecalib.data.imagefolder import write_synthetic_imagefolder

    bigger = synthetic_set(base, "synthetic-imagenet", write_synthetic_imagefolder, {"num_classes": 3})
    assert bigger != folder and len(list((bigger / "val").iterdir())) == 3

    run = resolve("coco", "smoke", data_dir=str(base), wandb_mode="disabled")
    coco.TASK.prepare(run)
    assert json.loads((coco.data_folder(run) / MARKER).read_text())["train_images"] == 16
    assert sorted(p.name.split("-")[1] for p in base.iterdir()) == ["coco", "imagenet", "imagenet"]


def test_a_folder_that_is_a_set_is_used_only_when_it_agrees(tmp_path):
    from ecalib.data import write_synthetic_cifar10

    write_synthetic_cifar10(tmp_path, n_train=50, n_test=10)
    assert len(load_cifar10(tmp_path, "synthetic", synthetic_kwargs={"n_train": 50})[0]) == 50
    with pytest.raises(ValueError, match="generated with .* not {'n_train': 500}"):
        load_cifar10(tmp_path, "synthetic", synthetic_kwargs={"n_train": 500})
    with pytest.raises(ValueError, match=r"no argument\(s\) \['n_trian'\]; allowed: n_train, n_test"):
        load_cifar10(tmp_path / "new", "synthetic", synthetic_kwargs={"n_trian": 50})
