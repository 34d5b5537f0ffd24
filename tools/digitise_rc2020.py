"""Digitise RC2020's CIFAR-10 figures into ecalib/reference/rc2020_cifar10_curves.{csv,json}.

    python tools/digitise_rc2020.py [--figures ../shared/reference/rc2020_figures]

The pictures are read, not shipped; the JSON records where they came from, the method, the read-out error
measured on synthetic charts with known values, and the digitiser's source digest and git commit.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from digitiser import rc2020 as rc
from digitiser.synthetic import rc2020_like_errors

from ecalib.provenance import git_commit
from ecalib.reference import RC2020_CURVES_CSV, RC2020_CURVES_JSON

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "ecalib" / "reference"
FIGURES = ROOT.parent / "shared" / "reference" / "rc2020_figures"  # ../shared from the project root
SYNTHETIC_SEEDS = (0, 1, 2)


def synthetic_error(metric: str) -> dict:
    """Absolute read-out errors (axis units) over the synthetic charts of SYNTHETIC_SEEDS."""
    errs = [rc2020_like_errors(metric, seed) for seed in SYNTHETIC_SEEDS]
    out = {}
    for what in ("mean", "band"):
        cols = ["err_mean"] if what == "mean" else ["err_low", "err_high"]
        for name, select in (("all_epochs", lambda e: e), ("epochs_3_on", lambda e: e[e["epoch"] >= 3])):
            a = np.abs(np.concatenate([select(e)[cols].to_numpy().ravel() for e in errs]))
            a = a[~np.isnan(a)]
            out[f"{what}_{name}"] = {k: float(f(a)) for k, f in (("median", np.median), ("max", np.max))} | {
                "p95": float(np.quantile(a, 0.95))
            }
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    rows, readings = rc.digitise_rc2020(args.figures)
    rows.to_csv(OUT / RC2020_CURVES_CSV, index=False)
    provenance = {
        "source": "RC2020 reproduction, CIFAR-10, ResNet-18, mean training curves over 5 runs per mechanism",
        "repository": rc.REPOSITORY,
        "commit": rc.COMMIT,
        "files": {m: f"figures/{name}" for m, (name, _, _) in rc.CHARTS.items()},
        "groups": {s.key: s.group for s in rc.SERIES},
        "metrics": {"top1": "test top-1 accuracy (%)", "loss": "test loss"},
        "band_note": rc.BAND_NOTE,
        "method": (
            "tools/digitiser/chart.py: y axis fitted to the detected horizontal grid lines and their printed "
            "values, x axis to the detected tick marks and their labels (epochs 0..49); band opacity and "
            "drawing order estimated from the picture's colours; per segment between epochs the straight "
            "lines of each colour (Hough + total least squares), solid Triplet vs dashed ECA told apart by "
            "the covered fraction of their length and continuity (Viterbi); band edges from the anti-aliased "
            "pixels between band plateaus; a hidden line read as its (symmetric) band's centre."
        ),
        "read_out": {
            "line": "line visible around the point",
            "band centre": "line hidden under others; the mean is the centre of its band",
            "interpolated": "hidden between read epochs; linear interpolation",
            "not read": "hidden at the start of the curve; left empty",
        },
        "estimated_error": {
            "units": "axis units (top1: % points; loss: loss)",
            "synthetic_charts": {m: synthetic_error(m) for m in rc.CHARTS},
            "synthetic_seeds": list(SYNTHETIC_SEEDS),
            "rc2020_left_right_disagreement": rc.readout_consistency(readings),
            "note": (
                "Synthetic: RC2020-like charts rendered with matplotlib (same size, colours, grid, dashed vs "
                "solid red, bands, lines hidden under others) and digitised back. The first epochs, where the "
                "curves are steep and crowded, are the least certain (a hidden or swapped same-coloured line)."
            ),
        },
        "calibration": {m: r.calibration for m, r in readings.items()},
        "legend": {m: r.legend for m, r in readings.items()},
        "colour_model": {m: r.colour_model for m, r in readings.items()},
        "notes": {m: r.notes for m, r in readings.items()},
        "digitiser": {
            "tool": "tools/digitise_rc2020.py",
            "modules": ["tools/digitiser/chart.py", "tools/digitiser/rc2020.py"],
            "source_sha256": rc.source_digest(),
            "git_commit": git_commit(ROOT),
        },
    }
    (OUT / RC2020_CURVES_JSON).write_text(json.dumps(provenance, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} rows to {OUT / RC2020_CURVES_CSV} and {OUT / RC2020_CURVES_JSON}")


if __name__ == "__main__":
    main()
