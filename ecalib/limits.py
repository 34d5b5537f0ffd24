"""Bounds on what ecalib reads from users' files and values, each written once, and the small readers
that apply them (a value quoted short, a JSON object read within a size).

They keep a hostile or mistaken input (a billion-laughs YAML, a 60000 x 60000 PNG, a class count of
four million) from taking minutes and gigabytes before anything is checked: the readers refuse it
in one line that names the file or value and the bound.
"""

from __future__ import annotations

# Outputs of a classifier or detector (ImageNet-21k has 21,841 classes, LVIS 1,203 categories).
MAX_CLASSES = 30_000
# Pixels of one image: Pillow's own decompression-bomb threshold (PIL.Image.MAX_IMAGE_PIXELS).
MAX_IMAGE_PIXELS = 89_478_485
# Recipe and sweep files: bytes, nesting, and values after YAML aliases are expanded.
MAX_RECIPE_BYTES = 1 << 20
MAX_RECIPE_DEPTH = 20
MAX_RECIPE_VALUES = 20_000
# Nesting of a checkpoint's payload (the official layout needs 4 levels; MMDetection's meta a few more).
MAX_CHECKPOINT_DEPTH = 32
# Bytes of a JSON file of a result folder (params.json, env.json, final.json).
MAX_RESULT_JSON_BYTES = 16 << 20
# Characters of a user's value quoted back in an error message.
MAX_QUOTED = 80
# A run's settings: its seed (torch's generator takes 64 bits), epochs and learning rate.
MAX_SEED = 2**63 - 1
MAX_EPOCHS = 100_000
MAX_LR = 10.0


def quoted(value: object, limit: int = MAX_QUOTED) -> str:
    """``repr(value)``, shortened to about ``limit`` characters (error messages stay one short line)."""
    import reprlib

    short = reprlib.Repr()
    short.maxstring, short.maxother, short.maxlist, short.maxdict, short.maxlevel = limit, limit, 6, 6, 3
    text = short.repr(value)
    return text if len(text) <= limit + 10 else text[:limit] + "..."


def json_object(path, max_bytes: int | None = None) -> dict:
    """The JSON object in ``path``; a ``ValueError`` saying why not (too large, not JSON, nested too deep
    for the parser, not an object), for the caller to turn into its own one-line error."""
    import json
    from pathlib import Path

    path = Path(path)
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise ValueError(f"{path.name} is larger than {max_bytes} bytes")
    try:
        value = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as err:
        raise ValueError(f"{path.name} is not valid JSON ({str(err).splitlines()[0][:100]})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path.name} holds a {type(value).__name__}, not a JSON object")
    return value
