"""RC2020's digitised CIFAR-10 curves: the digitiser on a synthetic chart, on the real figures, the shipped data
and the book's summary."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecalib.reference import rc2020_cifar10_curves
from ecalib.reports.rc2020 import catch_up_epoch, summarise_rc2020_curves

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from digitiser.rc2020 import digitise_rc2020  # noqa: E402
from digitiser.synthetic import rc2020_like_errors  # noqa: E402

FIGURES = ROOT.parent / "shared" / "reference" / "rc2020_figures"  # ../shared from the project root, also in CI
# Points read from the figures by pixel inspection, independently of the digitiser (how: the file's header)
READOUTS = Path(__file__).parent / "data" / "rc2020_curve_readouts.csv"
# About 5 px of each figure (acc.png 0.055 % per px, loss.png 0.0015 per px): a read-out's own error (2 px,
# 3 px more at a line's first point) plus the digitiser's
TOL_READOUT = {"top1": 0.3, "loss": 0.0075}
MECHANISMS = {"none", "se", "cbam", "triplet", "eca"}
# Tolerances (top-1 % points) measured on the seed-0 synthetic chart: from epoch 3 on the worst point is
# 0.25 (mean) / 0.36 (band edge), the median 0.016; the steep, crowded first epochs, where the dashed ECA line
# is drawn on another line, are worse (up to 0.52 / 0.93).
TOL_MEAN, TOL_BAND, TOL_START, TOL_MEDIAN = 0.3, 0.4, 1.0, 0.03


@pytest.fixture(scope="module")
def synthetic():
    return rc2020_like_errors("top1", seed=0)


@pytest.fixture(scope="module")
def real():
    if not (FIGURES / "acc.png").exists():
        message = f"RC2020 figures not here ({FIGURES}); they are not shipped (only the numbers are)"
        if os.environ.get("ECALIB_REQUIRE_FIGURES"):  # CI has ../shared
            pytest.fail(message)
        pytest.skip(message)
    return digitise_rc2020(FIGURES)


def test_synthetic_chart_read_back_within_tolerance(synthetic):
    assert set(synthetic["mechanism"]) == MECHANISMS
    assert (synthetic["read_out"] != "not read").all()
    for mech, e in synthetic.groupby("mechanism"):
        later = e[e["epoch"] >= 3]
        assert later["err_mean"].abs().max() <= TOL_MEAN, mech
        assert later[["err_low", "err_high"]].abs().to_numpy().max() <= TOL_BAND, mech
        assert e[["err_mean", "err_low", "err_high"]].abs().to_numpy().max() <= TOL_START, mech
    assert synthetic[["err_mean", "err_low", "err_high"]].abs().median().max() <= TOL_MEDIAN


def test_real_figures_grid_legend_and_shipped_csv(real):
    rows, readings = real
    for metric, grid in (("top1", [80, 70, 60, 50, 40]), ("loss", [1.4, 1.2, 1.0, 0.8, 0.6])):
        cal = readings[metric].calibration
        assert cal["grid_values"] == grid
        assert np.ptp(cal["grid_spacing_px"]) < 0.05  # evenly spaced detected grid rows
        assert cal["grid_fit_max_residual"] < 1e-3 * abs(grid[0] - grid[1])
        assert cal["x_tick_fit_max_residual_px"] < 0.1
        hues = {entry["key"]: (entry["hue"], entry["dashed_swatch"]) for entry in readings[metric].legend}
        assert hues == {
            "triplet": ("red", False),
            "cbam": ("magenta", False),
            "se": ("teal", False),
            "eca": ("red", True),
            "none": ("blue", False),
        }
        assert readings[metric].notes == []
    _assert_agrees_with_readouts(rows)


def _assert_agrees_with_readouts(curves: pd.DataFrame) -> None:
    readouts = pd.read_csv(READOUTS, comment="#")
    both = readouts.merge(curves, on=["metric", "mechanism", "epoch"], how="left", validate="one_to_one")
    assert set(readouts["mechanism"]) == MECHANISMS and set(readouts["metric"]) == set(TOL_READOUT)
    off = (both["mean"] - both["value"]).abs() > both["metric"].map(TOL_READOUT)
    assert not (off | both["mean"].isna()).any(), both[off | both["mean"].isna()].to_string()


def test_shipped_curves_agree_with_independent_readouts():
    _assert_agrees_with_readouts(rc2020_cifar10_curves())


def test_shipped_curves():
    df = rc2020_cifar10_curves()
    assert list(df.columns[:6]) == ["mechanism", "epoch", "metric", "mean", "band_low", "band_high"]
    assert len(df) == 5 * 50 * 2 and not df.duplicated(["mechanism", "epoch", "metric"]).any()
    assert set(df["mechanism"]) == MECHANISMS and set(df["epoch"]) == set(range(50))
    read = df[df["read_out"] != "not read"]
    assert len(df) - len(read) <= 2  # only hidden first points may be missing
    assert read[["mean", "band_low", "band_high"]].notna().all().all()
    assert ((read["band_low"] <= read["mean"]) & (read["mean"] <= read["band_high"])).all()
    top1, loss = read[read["metric"] == "top1"], read[read["metric"] == "loss"]
    assert top1[["band_low", "band_high"]].stack().between(30, 100).all()
    assert loss[["band_low", "band_high"]].stack().between(0, 3).all()
    prov = df.attrs["provenance"]
    for key in ("repository", "commit", "files", "method", "estimated_error", "band_note", "digitiser", "groups"):
        assert key in prov
    assert prov["commit"] == "697a8ed5a3860db5b3b00a08ab79834429d480c0"
    assert "not stated" in prov["band_note"]
    assert prov["digitiser"]["git_commit"]
    assert df.groupby("mechanism")["group"].first().to_dict() == prov["groups"]


def _curves(values: dict[str, tuple[list, list]]) -> pd.DataFrame:
    """Hand-made top-1 (mean, half band) and a flat loss per mechanism."""
    rows = []
    for mech, (mean, half) in values.items():
        for e, (m, h) in enumerate(zip(mean, half)):
            rows.append((mech, e, "top1", m, m - h, m + h))
            rows.append((mech, e, "loss", 1.0 - m / 100, 1.0 - m / 100 - 0.01, 1.0 - m / 100 + 0.01))
    return pd.DataFrame(rows, columns=["mechanism", "epoch", "metric", "mean", "band_low", "band_high"])


def test_summary_on_hand_made_curves():
    df = _curves(
        {
            "none": ([50, 60, 69, 70, 72, 72], [1] * 6),
            # baseline within the band from epoch 2, but dips below it at epoch 3: caught up at 4
            "eca": ([55, 65, 70, 72, 73, 73], [1] * 6),
            # baseline at/above the mean from epoch 1 on
            "se": ([52, 58, 65, 68, 71, 71.5], [0.5] * 6),
            # baseline below the band at the last epoch: never
            "cbam": ([56, 66, 72, 75, 76, 74], [1] * 6),
        }
    )
    s = summarise_rc2020_curves(df)
    assert s.loc["eca", "baseline_catch_up_epoch"] == 4
    assert s.loc["se", "baseline_catch_up_epoch"] == 1
    assert np.isnan(s.loc["cbam", "baseline_catch_up_epoch"]) and np.isnan(s.loc["none", "baseline_catch_up_epoch"])
    assert s.loc["cbam", "best_top1"] == 76 and s.loc["cbam", "best_top1_epoch"] == 4
    assert (s.loc["eca", ["final_top1", "final_top1_low", "final_top1_high"]] == [73, 72, 74]).all()
    assert s.loc["none", "final_loss"] == pytest.approx(0.28)
    assert s.loc["none", "final_loss_low"] == pytest.approx(0.27)
    # a value not read counts as not caught up
    base = pd.Series([1.0, np.nan, 2.0, 2.0])
    assert catch_up_epoch(base, pd.Series([0.0, 0.0, 0.0, 0.0])) == 2
