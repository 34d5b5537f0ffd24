"""A run's identity: the hash of every resolved setting that changes its result.

One run folder holds one run: the CLI, W&B sweep agents (which call the CLI) and the offline
``ecalib sweep`` all name a folder with :func:`run_name`, so the same settings always meet the same
folder and different settings never do. Operational settings (where and how fast it runs, how
often it is saved or logged) are left out: changing them continues the same run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

# Settings that do not change what a run computes, dropped at any depth of the mapping: where and how
# fast it runs, how often it is saved or logged, where its data folder is (the data set itself is
# data.source and, for generated data, its spec), and a study's list of seeds (a run is one seed).
OPERATIONAL = frozenset(
    {
        "device",
        "compile",
        "channels_last",
        "checkpoint_every",
        "wandb_mode",
        "wandb_project",
        "workers",
        "progress",
        "verbose",
        "dir",
        "download",
        "seeds",
    }
)
# Settings added after runs were recorded, at the value that reproduces those runs: left out of the
# identity there, so earlier runs keep their id and folder; any other value is part of it.
LATER_DEFAULTS = {"bad_images": "refuse"}
HASH_LENGTH = 10


def identity_settings(settings: Mapping) -> dict:
    """``settings`` without the operational ones, as plain JSON values (tuples become lists)."""

    def plain(value):
        if isinstance(value, Mapping):
            return {
                str(k): plain(v)
                for k, v in value.items()
                if k not in OPERATIONAL and not (k in LATER_DEFAULTS and v == LATER_DEFAULTS[k])
            }
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return json.loads(json.dumps(plain(settings), sort_keys=True, default=str))


def run_id(settings: Mapping) -> str:
    """Short hex hash of :func:`identity_settings` (key order and operational settings do not matter)."""
    text = json.dumps(identity_settings(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def run_name(settings: Mapping, *labels: object) -> str:
    """Readable folder name: the non-empty ``labels`` (task, profile, model, ``seed<k>``...) and the run id."""
    return "-".join([*(str(label) for label in labels if label not in (None, "")), run_id(settings)])


def identity_differences(stored: Mapping, new: Mapping) -> dict[str, tuple]:
    """``{dotted.key: (stored, new)}`` for every identity setting that differs (nested mappings are walked)."""
    out: dict[str, tuple] = {}

    def walk(a, b, prefix):
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{prefix}{key}.")
        elif a != b:
            out[prefix[:-1]] = (a, b)

    walk(identity_settings(stored), identity_settings(new), "")
    return out
