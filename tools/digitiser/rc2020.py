"""RC2020's CIFAR-10 training curves, digitised from its two W&B chart images (``figures/acc.png``, ``loss.png``).

:func:`digitise_rc2020` reads the pictures with :mod:`digitiser.chart` into the rows that
``tools/digitise_rc2020.py`` ships as ``ecalib/reference/rc2020_cifar10_curves.csv`` (with its provenance
``rc2020_cifar10_curves.json``); :func:`ecalib.reference.rc2020_cifar10_curves` reads the shipped data back.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .chart import ChartSpec, Series, digitise_chart, read_rgb

REPOSITORY = "digantamisra98/Reproducibilty-Challenge-ECANET"
COMMIT = "697a8ed5a3860db5b3b00a08ab79834429d480c0"
# RC2020's run groups in legend order, with the project's mechanism names; ECA is the dashed red line.
SERIES = (
    Series("triplet", "TripletCIFAR"),
    Series("cbam", "CBAMCIFAR"),
    Series("se", "SECIFAR"),
    Series("eca", "ECCIFAR", dashed=True),
    Series("none", "ResCIFAR"),
)
# metric -> (figure file, grid values top to bottom, decimals kept): the figures' own text
CHARTS = {
    "top1": ("acc.png", (80.0, 70.0, 60.0, 50.0, 40.0), 3),
    "loss": ("loss.png", (1.4, 1.2, 1.0, 0.8, 0.6), 5),
}
X_TICKS = (0.0, 10.0, 20.0, 30.0, 40.0)
N_EPOCHS = 50
COLUMNS = ["mechanism", "epoch", "metric", "mean", "band_low", "band_high", "group", "read_out"]
BAND_NOTE = (
    "The band is W&B's group band; whether it is the standard deviation, the standard error or min/max over "
    "the 5 runs is not stated in the figure."
)


def chart_spec(metric: str) -> ChartSpec:
    return ChartSpec(SERIES, CHARTS[metric][1], X_TICKS, N_EPOCHS)


def digitise_rc2020(folder) -> tuple:
    """Both charts of ``folder`` -> (rows as a DataFrame with ``COLUMNS``, {metric: ChartReading}).

    ``read_out`` says where a point's mean comes from: ``line`` (the line is visible around it), ``band centre``
    (the line is hidden under others; the band is centred on its line), ``interpolated`` (hidden, between read
    points) or ``not read`` (hidden at the start; mean and band left empty).
    """
    import pandas as pd

    frames, readings = [], {}
    for metric, (name, _, decimals) in CHARTS.items():
        reading = digitise_chart(read_rgb(Path(folder) / name), chart_spec(metric))
        p = reading.points
        frames.append(
            pd.DataFrame(
                {
                    "mechanism": p["series"],
                    "epoch": p["point"],
                    "metric": metric,
                    **{c: p[c].round(decimals) for c in ("mean", "band_low", "band_high")},
                    "group": p["group"],
                    "read_out": p["mean_source"],
                }
            )
        )
        readings[metric] = reading
    return pd.concat(frames, ignore_index=True)[COLUMNS], readings


def source_digest() -> str:
    """sha256 of the digitiser's source (this module and :mod:`digitiser.chart`)."""
    digest = hashlib.sha256()
    for name in ("chart.py", "rc2020.py"):
        digest.update(Path(__file__).with_name(name).read_bytes())
    return digest.hexdigest()


def readout_consistency(readings: dict) -> dict:
    """Per metric, how much the two segments either side of a point disagree about it (axis units)."""
    out = {}
    for metric, reading in readings.items():
        p = reading.points
        diffs = np.concatenate([p[c].to_numpy(float) for c in ("mean_lr_diff", "top_lr_diff", "bottom_lr_diff")])
        diffs = diffs[~np.isnan(diffs)]
        out[metric] = {"median": float(np.median(diffs)), "p95": float(np.quantile(diffs, 0.95))}
    return out

