"""CIFAR-10 from its genuine on-disk format, and an offline look-alike written in that format.

The python version of CIFAR-10 (torchvision's ``cifar-10-batches-py`` folder) holds five
training batches ``data_batch_1..5`` and ``test_batch``: pickles of dicts with ``data`` (uint8,
N x 3072, channel-major rows), ``labels``, ``filenames`` and ``batch_label``, plus
``batches.meta`` with ``label_names``. Both the real files and the synthetic look-alike go
through the same reader; which one was used is recorded, and neither replaces the other.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ecalib.data.synthetic import write_marker
from ecalib.errors import UsageError
from ecalib.limits import quoted

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
SYNTHETIC_MARKER = "SYNTHETIC.json"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DATA_SOURCES = ("cifar10", "synthetic")
# How the user asks for the two ways out of missing CIFAR-10: a download, or the generated look-alike.
# Each front end spells them its own way (the notebooks: papermill options; the CLI: its flags).
WAYS_OUT = {
    "python": ("download=True", "data='synthetic'"),
    "papermill": ("-p download true", "-p profile smoke"),
    "cli": ("--download", "--profile smoke"),
}


@dataclass
class ImageTensors:
    """A whole split in memory: ``images`` uint8 (N, 3, 32, 32), ``labels`` int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...] = CLASSES
    source: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.numel())


def _numpy_globals() -> dict:
    """The globals the CIFAR-10 pickles name, as the installed numpy spells them."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return {
        # the real files (Python 2, numpy 1) and files written by numpy 1 or numpy 2
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # bytes in protocol-2 pickles written by Python 3
    }


class CifarUnpickler(pickle.Unpickler):
    """Reads a CIFAR-10 batch pickle: dicts, lists, strings, numbers and numpy arrays, nothing else.

    Any other global (the way a hostile pickle runs code) is refused before it is imported or called.
    """

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="latin1")
        self.path = path
        self.allowed = _numpy_globals()

    def find_class(self, module: str, name: str):
        if (module, name) not in self.allowed:
            allowed = ", ".join(f"{m}.{n}" for m, n in self.allowed)
            raise UsageError(
                f"{self.path} is not a CIFAR-10 batch file: it names the global {module}.{name}; "
                f"only plain data and numpy arrays are read ({allowed})"
            )
        return self.allowed[module, name]


def _read_batch(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch file not found: {path}")
    with open(path, "rb") as f:
        try:
            entry = CifarUnpickler(f, path).load()
        except UsageError:
            raise
        except Exception as err:  # noqa: BLE001 - whatever the unpickler makes of these bytes: not a batch
            detail = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
            raise UsageError(f"{path} is not a CIFAR-10 batch file (unreadable pickle: {detail})") from None
    if not isinstance(entry, dict):
        raise UsageError(f"{path} is not a CIFAR-10 batch file: it holds a {type(entry).__name__}, not a dict")
    return entry


def read_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch file, checked: ``data`` a uint8 array of N rows of 3072 values, ``labels`` N whole numbers
    in ``[0, num_classes)``. Anything else is one line naming the file and what is wrong."""
    entry = _read_batch(path)
    missing = [k for k in ("data", "labels") if k not in entry]
    if missing:
        found = sorted(map(str, entry))[:6]
        raise UsageError(f"{path} is not a CIFAR-10 batch file: no {' or '.join(missing)} (it has {found})")
    data = entry["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise UsageError(f"{path}: data must be a uint8 array of N images x 3072 values (3x32x32), got a {shape}")
    try:
        labels = np.asarray(entry["labels"])
    except (ValueError, TypeError):
        labels = np.asarray([None])
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise UsageError(f"{path}: labels must be a list of whole numbers, got {quoted(entry['labels'])}")
    if len(labels) != len(data):
        raise UsageError(f"{path}: {len(labels)} labels for {len(data)} images; a batch has one label per image")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise UsageError(
            f"{path}: label {labels[bad[0]]} of image {bad[0]} is outside 0..{num_classes - 1} ({bad.size} such labels)"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def read_label_names(path: Path) -> tuple[str, ...]:
    """``label_names`` of ``batches.meta``: the ten class names of CIFAR-10."""
    names = _read_batch(path).get("label_names")
    if not isinstance(names, list) or len(names) != len(CLASSES) or not all(isinstance(n, str) for n in names):
        raise UsageError(f"{path}: label_names must list the {len(CLASSES)} class names, got {quoted(names)}")
    return tuple(names)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_cifar10_folder(folder: str | Path, train: bool) -> ImageTensors:
    """Read one split from a ``cifar-10-batches-py`` folder (real or synthetic)."""
    folder = Path(folder)
    files = TRAIN_FILES if train else (TEST_FILE,)
    classes = read_label_names(folder / META_FILE)
    images, labels = zip(*(read_batch(folder / name, len(classes)) for name in files))
    return ImageTensors(torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)), classes)


def ensure_cifar10(data_dir: str | Path, download: bool = False, ways_out: str = "python") -> Path:
    """The ``cifar-10-batches-py`` folder under ``data_dir``, downloaded there first when it is missing
    and ``download`` is true.

    Missing (or a download that fails, e.g. offline) is one :class:`UsageError` line naming the
    folder and both ways out, spelled for the front end ``ways_out`` (a key of ``WAYS_OUT``).
    """
    folder = Path(data_dir) / FOLDER
    if (folder / TRAIN_FILES[0]).exists():
        return folder
    online, offline = WAYS_OUT[ways_out]
    if not download:
        raise UsageError(
            f"CIFAR-10 is not in {folder}: {online} downloads it there (online), {offline} runs on generated data"
        )
    from torchvision.datasets import CIFAR10

    try:
        CIFAR10(str(data_dir), train=True, download=True)
    except (OSError, RuntimeError) as err:  # urllib's URLError is an OSError
        reason = str(getattr(err, "reason", err)).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(
            f"CIFAR-10 is not in {folder} and downloading it failed ({reason}): retry online, "
            f"or {offline} runs on generated data"
        ) from None
    return folder


def load_cifar10(
    data_dir: str | Path, data: str = "cifar10", download: bool = False, synthetic_kwargs: dict | None = None
) -> tuple[ImageTensors, ImageTensors]:
    """Load (train, test) from ``data_dir``; ``data`` says which data set is meant.

    ``data='cifar10'``: the real files, verified against their official md5 sums (downloaded by
    torchvision when ``download=True``). ``data='synthetic'``: the look-alike of
    ``synthetic_kwargs``, generated by :func:`write_synthetic_cifar10` into a folder of its own
    under ``data_dir`` (named by the spec; reused when there), or ``data_dir`` itself when that
    already is such a set.
    """
    if data not in DATA_SOURCES:
        raise UsageError(f"data={data!r} is not allowed; choose one of: {', '.join(DATA_SOURCES)}")
    root = Path(data_dir)
    if data == "synthetic":
        from ecalib.data.synthetic import synthetic_set

        root = synthetic_set(root, "synthetic-cifar10", write_synthetic_cifar10, synthetic_kwargs)
        if not (root / FOLDER).is_dir():
            raise UsageError(f"{root} is a synthetic set but not a CIFAR-10 look-alike (no {FOLDER}/)")
        spec = json.loads((root / SYNTHETIC_MARKER).read_text())
        source = {"kind": "synthetic", "path": str(root.resolve()), "generator": spec}
    else:
        if (root / SYNTHETIC_MARKER).exists():
            raise UsageError(f"{root} holds the synthetic look-alike ({SYNTHETIC_MARKER}); use data='synthetic' for it")
        from torchvision.datasets import CIFAR10

        folder = ensure_cifar10(root, download)

        official_md5 = dict(CIFAR10.train_list + CIFAR10.test_list)
        bad = [n for n, md5 in official_md5.items() if not (folder / n).exists() or _md5(folder / n) != md5]
        if bad:
            raise UsageError(f"{folder}: {bad} missing or not the official CIFAR-10 files (md5 mismatch)")
        source = {"kind": "cifar10", "path": str(root.resolve()), "md5_verified": True}
    folder = root / FOLDER
    train, test = read_cifar10_folder(folder, True), read_cifar10_folder(folder, False)
    train.source = {**source, "split": "train", "n": len(train)}
    test.source = {**source, "split": "test", "n": len(test)}
    return train, test


def _class_images(rng: np.random.Generator, label: int, n: int, noise: float) -> np.ndarray:
    """Images of one class: an oriented grating with a class colour, random phase, jitter and noise."""
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32) / 32.0
    angle = np.pi * label / 10 + rng.normal(0, 0.08, (n, 1, 1))
    freq = 2.0 + (label % 5) + rng.normal(0, 0.2, (n, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    wave = np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)  # n, 32, 32
    hue = 2 * np.pi * label / 10
    colour = np.array([np.cos(hue), np.cos(hue - 2.1), np.cos(hue + 2.1)], dtype=np.float32)
    colour = colour[None, :] + rng.normal(0, 0.25, (n, 3))
    img = 128 + 50 * colour[:, :, None, None] * wave[:, None] + 20 * colour[:, :, None, None]
    img += rng.normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_synthetic_cifar10(
    data_dir: str | Path, n_train: int = 5000, n_test: int = 1000, seed: int = 0, noise: float = 40.0
) -> Path:
    """Write a learnable CIFAR-10 look-alike in the genuine format (5 train batches, test, meta).

    Each class is a grating with its own orientation, frequency and colour, under random phase,
    colour jitter and pixel noise. Labels are balanced. A ``SYNTHETIC.json`` marker next to the
    folder records the generator's arguments so the set is never mistaken for CIFAR-10.
    """
    if n_train < 50 or n_test < 10:
        raise UsageError(f"need n_train >= 50 and n_test >= 10, got {n_train}, {n_test}")
    root = Path(data_dir)
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def split(n):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = np.empty((n, 3, 32, 32), dtype=np.uint8)
        for c in range(10):
            idx = np.flatnonzero(labels == c)
            images[idx] = _class_images(rng, c, len(idx), noise)
        return images.reshape(n, 3072), labels.tolist()

    def dump(name, payload):
        with open(folder / name, "wb") as f:
            pickle.dump(payload, f, protocol=2)

    data, labels = split(n_train)
    for i, chunk in enumerate(np.array_split(np.arange(n_train), len(TRAIN_FILES))):
        dump(
            TRAIN_FILES[i],
            {
                "batch_label": f"synthetic training batch {i + 1} of 5",
                "labels": [labels[j] for j in chunk],
                "data": data[chunk],
                "filenames": [f"synthetic_{j:06d}.png" for j in chunk],
            },
        )
    data, labels = split(n_test)
    dump(
        TEST_FILE,
        {
            "batch_label": "synthetic testing batch 1 of 1",
            "labels": labels,
            "data": data,
            "filenames": [f"synthetic_test_{j:06d}.png" for j in range(n_test)],
        },
    )
    dump(META_FILE, {"label_names": list(CLASSES), "num_cases_per_batch": int(np.ceil(n_train / 5)), "num_vis": 3072})
    write_marker(root, "ecalib.data.write_synthetic_cifar10", n_train=n_train, n_test=n_test, seed=seed, noise=noise)
    return folder
