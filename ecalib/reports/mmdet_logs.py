"""MMDetection text logs (2.x and 3.x) as tables: per iteration, per epoch, validation metrics.

2.x lines look like ``... - mmdet - INFO - Epoch [6][50/58633]\\tlr: 2.000e-02, eta: ..., loss: 0.99``
and ``Epoch(val) [12][58633]\\tbbox_mAP: 0.3410, ...``; 3.x lines like ``... - mmengine - INFO -
Epoch(train)  [1][  50/7330]  base_lr: ... lr: ...  loss: ...`` and ``Epoch(val) [1][625/625]
coco/bbox_mAP: ...``. NaN losses are kept as NaN; a resumed run is recognised by its
``resumed epoch N`` line, and :func:`combine_runs` stitches runs into one history.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ecalib.errors import UsageError

_TIME = r"(?P<time>\d{4}[-/]\d{2}[-/]\d{2} \d{2}:\d{2}:\d{2}(?:,\d+)?)"
_TRAIN = re.compile(
    _TIME
    + r" - \w+ - INFO - Epoch(?:\(train\))?\s*\[(?P<epoch>\d+)\]\[\s*(?P<iter>\d+)/(?P<total>\d+)\]\s*(?P<rest>.*)$"
)
_VAL = re.compile(_TIME + r" - \w+ - INFO - Epoch\(val\)\s*\[(?P<epoch>\d+)\]\[[^\]]*\]\s*(?P<rest>.*)$")
_KEY = re.compile(r"(?:^|(?<=[\s,]))([A-Za-z_][\w/]*): ")
_RESUMED = re.compile(r"resumed epoch (\d+), iter (\d+)")


def _pairs(text: str) -> dict[str, object]:
    """``key: value`` pairs of one log line (values may contain spaces, e.g. ``eta: 1 day, 2:03:04``)."""
    keys = list(_KEY.finditer(text))
    out: dict[str, object] = {}
    for i, match in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(text)
        raw = text[match.end() : end].strip().rstrip(",").strip()
        key = match.group(1).removeprefix("coco/")
        try:
            out[key] = float(raw)
        except ValueError:
            out[key] = raw
    return out


def _config_value(text: str, pattern: str, cast=str):
    match = re.search(pattern, text)
    return cast(match.group(1)) if match else None


@dataclass
class MmdetLog:
    path: str
    train: pd.DataFrame
    val: pd.DataFrame
    config: dict = field(default_factory=dict)
    resumed_from_epoch: int | None = None

    @property
    def first_nonfinite(self) -> dict | None:
        """The first logged iteration whose total loss is NaN or infinite."""
        if "loss" not in self.train:
            return None
        bad = self.train[~self.train["loss"].map(math.isfinite)]
        return None if bad.empty else bad.iloc[0].to_dict()

    def per_epoch(self) -> pd.DataFrame:
        """Mean of each loss term, lr range and validation metrics per epoch."""
        losses = [c for c in self.train.columns if c.startswith("loss") or c == "acc"]
        grouped = self.train.groupby("epoch")
        table = grouped[losses].mean()
        table["lr_min"], table["lr_max"] = grouped["lr"].min(), grouped["lr"].max()
        table["nan_iterations"] = grouped["loss"].apply(lambda s: int((~s.map(math.isfinite)).sum()))
        if not self.val.empty:
            table = table.join(self.val.set_index("epoch"), how="outer")
        return table


def parse_mmdet_log(path: str | Path) -> MmdetLog:
    """Read one MMDetection text log."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"log not found: {path}")
    text = path.read_text(errors="replace")
    train_rows, val_rows, resumed = [], [], None
    for line in text.splitlines():
        if m := _TRAIN.match(line):
            row = {
                "time": m["time"],
                "epoch": int(m["epoch"]),
                "iter": int(m["iter"]),
                "iters_per_epoch": int(m["total"]),
            }
            row.update({k: v for k, v in _pairs(m["rest"]).items() if isinstance(v, float) or k == "eta"})
            train_rows.append(row)
        elif m := _VAL.match(line):
            metrics = {k: v for k, v in _pairs(m["rest"]).items() if isinstance(v, float) and "mAP" in k}
            if metrics:  # 3.x also logs progress lines during validation
                val_rows.append({"epoch": int(m["epoch"]), **metrics})
        elif m := _RESUMED.search(line):
            resumed = int(m.group(1))
    if not train_rows and not val_rows:
        raise UsageError(f"{path} has no MMDetection training or validation lines")
    train = pd.DataFrame(train_rows)
    if not train.empty:
        train["global_iter"] = (train["epoch"] - 1) * train["iters_per_epoch"] + train["iter"]
    config = {
        "lr": _config_value(text, r"optimizer = dict\([^)]*?\blr=([0-9.e-]+)", float),
        "samples_per_gpu": _config_value(text, r"samples_per_gpu=(\d+)", int),
        "batch_size": _config_value(text, r"train_dataloader = dict\((?:.|\n)*?\bbatch_size=(\d+)", int),
        "total_epochs": _config_value(text, r"total_epochs = (\d+)", int)
        or _config_value(text, r"max_epochs=(\d+)", int),
        "lr_steps": _config_value(text, r"step=\[([\d, ]+)\]"),
        "warmup_iters": _config_value(text, r"warmup_iters=(\d+)", int),
        "resume_from": _config_value(text, r"resume_from = '([^']+)'"),
        "load_from": _config_value(text, r"load_from = '([^']+)'"),
        "pretrained": _config_value(text, r"pretrained='([^']+)'"),
    }
    return MmdetLog(
        str(path), train, pd.DataFrame(val_rows), {k: v for k, v in config.items() if v is not None}, resumed
    )


def combine_runs(logs: list[MmdetLog]) -> MmdetLog:
    """One history from a run and its resumptions: a later log replaces the earlier one from the
    epoch after the one it resumed from (what it re-trained supersedes what was logged before)."""
    logs = sorted(logs, key=lambda log: log.resumed_from_epoch or 0)
    train, val = logs[0].train, logs[0].val
    for log in logs[1:]:
        cut = log.resumed_from_epoch or 0
        train = pd.concat([train[train["epoch"] <= cut], log.train], ignore_index=True)
        val = pd.concat([val[val["epoch"] <= cut], log.val], ignore_index=True) if not val.empty else log.val
    return MmdetLog(" + ".join(log.path for log in logs), train, val, logs[-1].config, logs[-1].resumed_from_epoch)


def rc2020_evidence(
    run1: MmdetLog, run2: MmdetLog, reference_lr: float = 0.02, reference_batch: int = 16
) -> pd.DataFrame:
    """The reproduction's two Mask R-CNN logs, read as evidence: what lr was configured, what was
    logged, where the losses went NaN, and what the linear scaling rule would have asked for."""
    batch = run1.config.get("samples_per_gpu", 0)
    bad = run1.first_nonfinite or {}
    epochs2 = run2.per_epoch()
    resumed = run2.resumed_from_epoch or 0
    first_resumed = epochs2.loc[resumed + 1] if resumed + 1 in epochs2.index else None
    rows = [
        ("run 1", "configured lr", run1.config.get("lr")),
        ("run 1", "images per iteration (1 GPU x samples_per_gpu)", batch),
        ("run 1", "lr by the linear scaling rule for that batch", reference_lr * batch / reference_batch),
        ("run 1", "first non-finite loss: epoch", bad.get("epoch")),
        ("run 1", "first non-finite loss: iteration", bad.get("iter")),
        ("run 1", "lr logged at that iteration", bad.get("lr")),
        ("run 2", "resumed from the checkpoint of epoch", resumed),
        ("run 2", "configured lr (the announced fix)", run2.config.get("lr")),
        ("run 2", f"lr logged in epoch {resumed + 1}", None if first_resumed is None else first_resumed["lr_max"]),
        (
            "run 2",
            "final bbox mAP (epoch 12)",
            epochs2["bbox_mAP"].dropna().iloc[-1] if "bbox_mAP" in epochs2 else None,
        ),
        (
            "run 2",
            "final segm mAP (epoch 12)",
            epochs2["segm_mAP"].dropna().iloc[-1] if "segm_mAP" in epochs2 else None,
        ),
    ]
    return pd.DataFrame(rows, columns=["log", "quantity", "value"])
