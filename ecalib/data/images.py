"""The one reader of image files (classify, ImageNet folders, COCO images, detection drawings).

A file that cannot be an image (unidentifiable, empty, truncated, too many pixels to decode: a
decompression bomb) is one :class:`ImageError` line naming it, never a traceback from a decoder, and
its size is checked from the header before anything is decoded. For a data set, unreadable files are
found before training and handled by a policy (``data.bad_images``): ``refuse`` (stop, naming the
first and counting them) or ``skip`` (leave them out; the count and names are recorded with the run).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch

from ecalib.errors import UsageError
from ecalib.limits import MAX_IMAGE_PIXELS

BAD_IMAGE_POLICIES = ("refuse", "skip")
_WORKER_PREFIX = "Original Traceback"  # how torch's DataLoader re-raises an exception of a worker


class ImageError(UsageError):
    """An image file that cannot be read; the message names it."""

    def __init__(self, message: str):
        if _WORKER_PREFIX in message:  # re-raised by a DataLoader worker: keep our own line, not its traceback
            last = message.strip().splitlines()[-1]
            message = last.split(f"{type(self).__name__}: ", 1)[-1]
        super().__init__(message)


def _header(path: str | os.PathLike):
    """The PIL image of ``path`` with only its header read (nothing decoded), checked for size."""
    from PIL import Image

    if not os.path.isfile(path):
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError:
        too_many = f"{path} has over {2 * MAX_IMAGE_PIXELS} pixels; images are read up to {MAX_IMAGE_PIXELS}"
        raise ImageError(too_many) from None
    except Exception as err:  # noqa: BLE001 - PIL raises many types for bytes that are no image
        raise ImageError(f"{path} is not an image file that can be read ({_reason(err)})") from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS or width < 1 or height < 1:
        image.close()
        raise ImageError(f"{path} is {width}x{height} pixels; images are read up to {MAX_IMAGE_PIXELS} pixels")
    return image


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    if not text:
        return type(err).__name__
    # torchvision's decoders say "decode_jpeg, <source file>:<line>, <what>": keep what
    return re.sub(r"^\w+, \S+:\d+, ", "", text[0])[:160]


def open_image(path: str | os.PathLike):
    """``path`` decoded as an RGB PIL image, or one :class:`ImageError` line naming the file."""
    image = _header(path)
    try:
        with image:
            return image.convert("RGB")
    except Exception as err:  # noqa: BLE001 - truncated or corrupt data after a valid header
        raise ImageError(f"{path} cannot be decoded ({_reason(err)})") from None


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """``path`` decoded by torchvision (libjpeg-turbo) into a uint8 RGB tensor (C, H, W), after its header
    was checked; one :class:`ImageError` line naming the file otherwise."""
    from torchvision.io import ImageReadMode, decode_image, read_file

    _header(path).close()
    try:
        return decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
    except Exception as err:  # noqa: BLE001 - the decoder's errors for truncated or corrupt data
        raise ImageError(f"{path} cannot be decoded ({_reason(err)})") from None


def image_problem(path: str | os.PathLike, decode: bool = False) -> str | None:
    """Why ``path`` cannot be read as an image, or None. The header is always checked; ``decode`` also
    decodes it (JPEG at 1/8 scale, which still reads all its data), to find truncated files."""
    try:
        image = _header(path)
        with image:
            if decode:
                image.draft("RGB", (max(1, image.size[0] // 8), max(1, image.size[1] // 8)))
                image.load()
    except (ImageError, FileNotFoundError) as err:
        return str(err)
    except Exception as err:  # noqa: BLE001 - decoding failed
        return f"{path} cannot be decoded ({_reason(err)})"
    return None


def scan_images(paths: Sequence[str], policy: str) -> tuple[list[int], list[dict]]:
    """Check every image of a data set before it is used, following ``policy`` (``BAD_IMAGE_POLICIES``).

    Returns the indices of the files to keep and the skipped ones (``{"file", "reason"}``). ``refuse``
    raises one :class:`ImageError` naming the first bad file and how many there are; ``skip`` also decodes
    every file (slower), so that truncated files are left out too.
    """
    if policy not in BAD_IMAGE_POLICIES:
        raise UsageError(f"bad_images={policy!r} is not allowed; choose one of: {', '.join(BAD_IMAGE_POLICIES)}")
    decode = policy == "skip"
    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 2) * 2)) as pool:
        problems = list(pool.map(lambda p: image_problem(p, decode), paths, chunksize=64))
    bad = [i for i, problem in enumerate(problems) if problem]
    if bad and policy == "refuse":
        more = f" (and {len(bad) - 1} more bad image files)" if len(bad) > 1 else ""
        raise ImageError(
            f"{problems[bad[0]]}{more}. Remove or replace them, or leave them out with "
            f"data.bad_images=skip (recorded with the run)"
        )
    skipped = [{"file": str(paths[i]), "reason": problems[i]} for i in bad]
    return [i for i, problem in enumerate(problems) if not problem], skipped


def skipped_record(policy: str, skipped: list[dict]) -> dict:
    """What a data set's ``data_source`` records of the bad-image policy: the policy, how many files it
    left out, and the first of them with the reason."""
    return {"bad_images": policy, "skipped_images": len(skipped), "skipped": skipped[:20]}
