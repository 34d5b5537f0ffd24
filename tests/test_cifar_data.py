import pickle

import pytest
import torch
import torchvision
from torchvision.transforms import functional as TF

from ecalib.data import DeviceBatches, load_cifar10, read_cifar10_folder, write_synthetic_cifar10
from ecalib.data.cifar import FOLDER, TEST_FILE, TRAIN_FILES, ensure_cifar10
from ecalib.errors import UsageError


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    write_synthetic_cifar10(root, n_train=250, n_test=60, seed=3)
    return root


def test_genuine_on_disk_format(synthetic_dir):
    folder = synthetic_dir / FOLDER
    assert sorted(p.name for p in folder.iterdir()) == sorted([*TRAIN_FILES, TEST_FILE, "batches.meta"])
    with open(folder / "data_batch_1", "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    assert set(entry) == {"batch_label", "labels", "data", "filenames"}
    assert entry["data"].dtype.name == "uint8" and entry["data"].shape == (50, 3072)


def test_torchvision_reads_the_generated_files(synthetic_dir, monkeypatch):
    # torchvision's own CIFAR10 parser (md5 check bypassed: the files are not the official ones)
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: True)
    ds = torchvision.datasets.CIFAR10(str(synthetic_dir), train=True)
    ours = read_cifar10_folder(synthetic_dir / FOLDER, train=True)
    assert len(ds) == len(ours) == 250
    img, label = ds[7]
    assert torch.equal(TF.pil_to_tensor(img), ours.images[7]) and label == int(ours.labels[7])
    assert ds.classes == list(ours.classes)


def test_load_records_the_source(synthetic_dir):
    train, test = load_cifar10(synthetic_dir, data="synthetic")
    assert train.images.shape == (250, 3, 32, 32) and test.images.shape == (60, 3, 32, 32)
    assert train.source["kind"] == "synthetic" and train.source["generator"]["seed"] == 3
    assert torch.bincount(train.labels).tolist() == [25] * 10


def test_nothing_falls_back_silently(tmp_path, synthetic_dir):
    with pytest.raises(UsageError, match="not in .*empty/cifar-10-batches-py: download=True .* data='synthetic'"):
        load_cifar10(tmp_path / "empty", data="cifar10")
    with pytest.raises(ValueError, match="synthetic look-alike"):
        load_cifar10(synthetic_dir, data="cifar10")
    with pytest.raises(ValueError, match="choose one of: cifar10, synthetic"):
        load_cifar10(synthetic_dir, data="imagenet")
    with pytest.raises(ValueError, match="generated with"):
        load_cifar10(synthetic_dir, data="synthetic", synthetic_kwargs={"n_train": 500})


def test_missing_cifar10_is_one_line_with_both_ways_out_for_each_front_end(tmp_path):
    for front_end, (online, offline) in (
        ("papermill", ("-p download true", "-p profile smoke")),
        ("cli", ("--download", "--profile smoke")),
    ):
        with pytest.raises(UsageError) as caught:
            ensure_cifar10(tmp_path, download=False, ways_out=front_end)
        message = str(caught.value)
        assert "\n" not in message and str(tmp_path / FOLDER) in message
        assert f"{online} downloads it there (online), {offline} runs on generated data" in message


def test_a_failed_download_is_one_line_without_the_chain(tmp_path, monkeypatch):
    import socket

    def offline(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)  # no network: the download fails at once
    with pytest.raises(UsageError) as caught:
        ensure_cifar10(tmp_path, download=True, ways_out="papermill")
    message = str(caught.value)
    assert message.startswith(f"CIFAR-10 is not in {tmp_path / FOLDER} and downloading it failed (")
    assert "Name or service not known" in message and message.endswith("or -p profile smoke runs on generated data")
    assert "\n" not in message and caught.value.__suppress_context__ and caught.value.__cause__ is None


def test_prepare_data_checks_real_runs_only(tmp_path):
    from ecalib.recipes import plan
    from ecalib.tasks import prepare_data

    smoke = plan("cifar10", "smoke", model="none,eca", data_dir=str(tmp_path / "syn"))
    assert [r.config.model.name for r in smoke] == ["none", "eca"]
    prepare_data(smoke, ways_out="papermill")  # synthetic: generated when a run starts, nothing now
    assert not (tmp_path / "syn").exists()
    real = plan("cifar10", model="eca", seeds=1, data_dir=str(tmp_path / "real"), download=False)
    with pytest.raises(UsageError, match="-p download true downloads it there"):
        prepare_data(real, ways_out="papermill")


def test_real_data_is_checked_against_official_md5(tmp_path):
    write_synthetic_cifar10(tmp_path, n_train=50, n_test=10)
    (tmp_path / "SYNTHETIC.json").unlink()  # pretend these are real files
    with pytest.raises(ValueError, match="not the official CIFAR-10 files"):
        load_cifar10(tmp_path, data="cifar10")


def test_device_batches_crop_and_flip(synthetic_dir):
    train, _ = load_cifar10(synthetic_dir, data="synthetic")
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    batches = DeviceBatches(train, batch_size=32, mean=mean, std=std, train=True, seed=5)
    x, y = next(batches.epoch(2))
    # recompute the first sample from the same per-epoch draws
    gen = torch.Generator().manual_seed(5 * 1_000_003 + 2)
    order = torch.randperm(250, generator=gen)
    dx, dy = torch.randint(0, 9, (250,), generator=gen), torch.randint(0, 9, (250,), generator=gen)
    flip = torch.rand(250, generator=gen) < 0.5
    i = order[0]
    padded = torch.nn.functional.pad(train.images[i], (4, 4, 4, 4))
    crop = padded[:, dy[i] : dy[i] + 32, dx[i] : dx[i] + 32]
    if flip[i]:
        crop = crop.flip(-1)
    expected = (crop.float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(x[0], expected)
    assert y[0] == train.labels[i]
    # deterministic per (seed, epoch), different across epochs, every sample once per epoch
    again = torch.cat([b for _, b in batches.epoch(2)])
    assert torch.equal(
        again, torch.cat([b for _, b in DeviceBatches(train, 32, mean, std, train=True, seed=5).epoch(2)])
    )
    assert not torch.equal(again, torch.cat([b for _, b in batches.epoch(3)]))
    assert sorted(again.tolist()) == sorted(train.labels.tolist())
    assert len(batches) == 8


def test_test_batches_are_plain(synthetic_dir):
    _, test = load_cifar10(synthetic_dir, data="synthetic")
    batches = DeviceBatches(test, batch_size=25, mean=(0, 0, 0), std=(1, 1, 1))
    xs = torch.cat([x for x, _ in batches.epoch(0)])
    torch.testing.assert_close(xs, test.images.float() / 255)


class _Planted:
    """What a hostile batch file holds: unpickling it calls open(marker, 'w')."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_hostile_batch_pickle_is_refused_before_it_runs(tmp_path):
    root = tmp_path / "set"
    write_synthetic_cifar10(root, n_train=50, n_test=10)
    marker = tmp_path / "pwned"
    batch = root / FOLDER / TRAIN_FILES[2]
    with open(batch, "wb") as f:
        pickle.dump({"data": _Planted(marker), "labels": [0]}, f, protocol=2)
    with pytest.raises(ValueError, match=rf"{batch}.*the global io\.open; only plain data and numpy arrays"):
        load_cifar10(root, data="synthetic")
    assert not marker.exists()
    with pytest.raises(ValueError, match=r"data_batch_3.*io\.open"):
        read_cifar10_folder(root / FOLDER, train=True)
    assert not marker.exists()


def test_batches_as_numpy_1_and_python_2_name_their_globals_are_read(synthetic_dir, tmp_path):
    # the real files (Python 2, numpy 1) name numpy.core.multiarray; numpy 2 writes numpy._core
    import shutil

    shutil.copytree(synthetic_dir, tmp_path / "old")
    for name in (*TRAIN_FILES, TEST_FILE):
        path = tmp_path / "old" / FOLDER / name
        raw = path.read_bytes()
        path.write_bytes(raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
        assert b"numpy.core.multiarray" in path.read_bytes()
    old, new = read_cifar10_folder(tmp_path / "old" / FOLDER, True), read_cifar10_folder(synthetic_dir / FOLDER, True)
    assert torch.equal(old.images, new.images) and torch.equal(old.labels, new.labels)


def test_the_cli_names_its_own_flags_when_cifar10_is_missing(tmp_path, capsys):
    from ecalib.cli import main

    argv = ["train", "cifar10", "--model", "eca", "--data-dir", str(tmp_path), "--results-dir", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--download downloads it there (online), --profile smoke runs on generated" in err
