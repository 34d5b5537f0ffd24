"""Reference numbers: the paper's tables, the official README and RC2020, as shipped CSV data.

``paper_tables.csv`` has one row per (source, table, task, backbone, method, metric, value),
values as printed (``24.37M``, ``3.86G``, ``77.42``). ``rc2020_cifar10_curves.csv`` holds RC2020's CIFAR-10
curves read from its figures by the chart digitiser of ``tools/digitiser`` (``tools/digitise_rc2020.py``
writes it and its provenance ``rc2020_cifar10_curves.json``).
"""

from __future__ import annotations

import csv
import json
import re
from functools import lru_cache
from importlib import resources

from ecalib.errors import UsageError

RC2020_CURVES_CSV, RC2020_CURVES_JSON = "rc2020_cifar10_curves.csv", "rc2020_cifar10_curves.json"
UNIT_SCALE = {"": 1.0, "K": 2.0**10, "M": 2.0**20, "G": 2.0**30}
_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*([KMG]?)\s*$")


@lru_cache(maxsize=1)
def paper_table_rows() -> tuple[dict[str, str], ...]:
    """All rows of ``paper_tables.csv`` as dicts."""
    with resources.files(__package__).joinpath("paper_tables.csv").open(encoding="utf-8") as f:
        return tuple(csv.DictReader(f))


def paper_table():
    """``paper_tables.csv`` as a pandas DataFrame."""
    import pandas as pd

    return pd.DataFrame(paper_table_rows())


def reference_metrics(source: str, backbone: str, method: str) -> dict[str, str]:
    """Metric -> printed value for one row group, e.g. ``('official README', 'ECA-Net50', 'ECA')``."""
    rows = [r for r in paper_table_rows() if (r["source"], r["backbone"], r["method"]) == (source, backbone, method)]
    if not rows:
        raise UsageError(f"no reference rows for source={source!r}, backbone={backbone!r}, method={method!r}")
    return {r["metric"]: r["value"] for r in rows}


def parse_binary_quantity(text: str) -> float | None:
    """``'24.37M'`` -> 24.37 * 2**20 (the paper's binary units, official issue #35); ``'N/A'`` -> None."""
    match = _NUMBER.match(text)
    if match is None:
        return None
    value, unit = match.groups()
    return float(value) * UNIT_SCALE[unit]


def rc2020_cifar10_bands() -> list[dict[str, str]]:
    """RC2020's CIFAR-10 end values as ranges over all mechanisms, read by eye from its two charts (its README
    shows the charts and states no numbers; :func:`rc2020_cifar10_curves` has them digitised)."""
    with resources.files(__package__).joinpath("rc2020_cifar10.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def rc2020_maskrcnn_logs() -> list:
    """Paths of the reproduction's two Mask R-CNN training logs (MMDetection 2.7, shipped as reference data)."""
    folder = resources.files(__package__).joinpath("rc2020_maskrcnn_logs")
    return sorted(str(p) for p in folder.iterdir() if p.name.endswith(".log"))


def rc2020_cifar10_curves():
    """RC2020's CIFAR-10 curves digitised from its figures: one row per (mechanism, epoch, metric), with
    ``attrs['provenance']`` the JSON (source, method, estimated read-out error).

    Mechanisms are the project's names (none, se, cbam, triplet, eca), ``group`` RC2020's run group; epochs
    0..49; metrics ``top1`` (test top-1 %) and ``loss`` (test loss); ``read_out`` says where a point's mean
    comes from (``line``, ``band centre``, ``interpolated``, ``not read``). The band's meaning is not stated
    in the figure (see the provenance's ``band_note``).
    """
    import pandas as pd

    folder = resources.files(__package__)
    with folder.joinpath(RC2020_CURVES_CSV).open(encoding="utf-8") as f:
        df = pd.read_csv(f)
    with folder.joinpath(RC2020_CURVES_JSON).open(encoding="utf-8") as f:
        df.attrs["provenance"] = json.load(f)
    return df
