"""RC2020's digitised CIFAR-10 curves (:func:`ecalib.reference.rc2020_cifar10_curves`) summarised for the book."""

from __future__ import annotations

import numpy as np
import pandas as pd


def catch_up_epoch(base: pd.Series, low: pd.Series) -> float:
    """First epoch from which ``base`` stays at or above ``low`` (both indexed by epoch) up to the last epoch.

    NaN when it falls below ``low`` at the last epoch; a missing value (not read) counts as below.
    """
    ok = (base >= low.reindex(base.index)).to_numpy()
    if not ok[-1]:
        return np.nan
    failed = np.flatnonzero(~ok)
    return float(base.index[failed[-1] + 1] if failed.size else base.index[0])


def summarise_rc2020_curves(df: pd.DataFrame, baseline: str = "none") -> pd.DataFrame:
    """Per mechanism: final (last epoch) top-1 and loss with band, best top-1 and its epoch, catch-up epoch.

    ``baseline_catch_up_epoch`` is the first epoch e from which, at every epoch e' >= e up to the last one, the
    baseline's mean top-1 lies within the mechanism's band or at/above its mean, i.e. (band_low <= mean)
    baseline_mean(e') >= band_low(e'); NaN if the baseline is below the band at the last epoch, and for the
    baseline itself. The band's meaning (std, standard error or min/max) is not stated by RC2020.
    """
    top1, loss = (
        df[df["metric"] == m].pivot(index="epoch", columns="mechanism", values=["mean", "band_low", "band_high"])
        for m in ("top1", "loss")
    )
    last = top1.index.max()
    rows = []
    for mech in top1["mean"].columns:
        mean = top1["mean"][mech]
        rows.append(
            {
                "mechanism": mech,
                "final_top1": top1.loc[last, ("mean", mech)],
                "final_top1_low": top1.loc[last, ("band_low", mech)],
                "final_top1_high": top1.loc[last, ("band_high", mech)],
                "final_loss": loss.loc[loss.index.max(), ("mean", mech)],
                "final_loss_low": loss.loc[loss.index.max(), ("band_low", mech)],
                "final_loss_high": loss.loc[loss.index.max(), ("band_high", mech)],
                "best_top1": mean.max(),
                "best_top1_epoch": int(mean.idxmax()),
                "baseline_catch_up_epoch": (
                    np.nan if mech == baseline else catch_up_epoch(top1["mean"][baseline], top1["band_low"][mech])
                ),
            }
        )
    return pd.DataFrame(rows).set_index("mechanism")


def rounded(table: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """``table``'s numbers rounded once, correctly (Python's ``round`` of the stored binary value), for every page
    that shows them: 74.175 (stored as 74.17499...) is 74.17 everywhere, never 74.17 in one place and 74.18
    (pandas' ``round``) in another."""
    return table.map(lambda v: round(float(v), digits) if isinstance(v, (float, np.floating)) and pd.notna(v) else v)
