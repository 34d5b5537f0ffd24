"""Write ecalib/layers/eca_auto.json (what ECA's ``auto`` runs) from committed ``ecalib bench`` result folders.

    python tools/update_eca_auto.py results/benchmarks/eca-auto

Measure first with interleaved rounds of the explicit implementations, e.g. on a CPU:

    ecalib bench --backbones resnet50 --mechanisms none eca --eca-impl reference torch \\
        --modes train --batch-size 8 --input-size 160 --steps 3 --repeats 9 --out results/benchmarks/eca-auto

Device types the folders do not cover keep their current entry.
"""

import argparse
import json
from pathlib import Path

import pandas as pd

from ecalib.bench_results import device_type, load_results
from ecalib.benchmark import median_ci

POLICY = Path(__file__).resolve().parents[1] / "ecalib" / "layers" / "eca_auto.json"
AUTO_CANDIDATES = ("reference", "torch", "triton")
GROUP_KEYS = ["device", "backbone", "precision", "compile", "batch_size", "input_size", "mode", "folder"]


def derive_auto_policy(results) -> dict:
    """What ``eca_impl='auto'`` should run per device type and mode, from interleaved bench rows.

    Rows of explicitly chosen ECA implementations (``--eca-impl reference torch [triton]``) are paired
    round by round with the ``torch`` row of the same group (same device, backbone, settings and folder).
    The choice per device type and mode is the implementation with the highest median of those paired
    ratios over all groups and rounds; the evidence keeps each median with its 95 % interval.
    """
    rows = results[(results["mechanism"] == "eca") & results["eca_impl"].isin(AUTO_CANDIDATES)]
    rows = rows[rows["eca_impl"] == rows["eca_impl_used"]]
    choices: dict = {}
    evidence: dict = {}
    for (dtype, mode), part in rows.groupby([rows["device"].map(device_type), "mode"]):
        ratios: dict[str, list[float]] = {}
        for _, group in part.groupby(GROUP_KEYS):
            torch_rows = group[group["eca_impl"] == "torch"]
            if torch_rows.empty:
                continue
            base = json.loads(torch_rows.iloc[0]["round_rates"])
            for row in group.itertuples():
                rates = json.loads(row.round_rates)
                ratios.setdefault(row.eca_impl, []).extend(r / b for r, b in zip(rates, base, strict=True))
        if not ratios:
            continue
        summary = {impl: median_ci(values) for impl, values in ratios.items()}
        best = max(summary, key=lambda impl: summary[impl][0])
        choices.setdefault(dtype, {})[mode] = best
        evidence.setdefault(dtype, {})[mode] = {
            "speed vs torch (median, 95% interval)": {impl: [round(v, 4) for v in m] for impl, m in summary.items()},
            "paired rounds": len(ratios[best]),
            "folders": sorted(set(part["folder"])),
            "commits": sorted(set(part["commit"])) if "commit" in part else [],
            # Not within noise: the winner's interval lies above 1 (vs torch), or torch beats every interval.
            "clear": summary[best][1] > 1.0
            if best != "torch"
            else all(high < 1.0 for impl, (_, _, high) in summary.items() if impl != "torch"),
        }
    return {"choices": choices, "evidence": evidence}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", help="folders holding bench result folders")
    args = parser.parse_args()
    results = [load_results(root) for root in args.roots]

    derived = derive_auto_policy(pd.concat(results, ignore_index=True))
    policy = json.loads(POLICY.read_text())
    for kind, modes in derived["choices"].items():
        policy["choices"].setdefault(kind, {}).update(modes)
        policy["evidence"][kind] = {
            "measured in": [str(Path(r)) for r in args.roots],
            **derived["evidence"][kind],
        }
    POLICY.write_text(json.dumps(policy, indent=2) + "\n")
    print(json.dumps(policy["choices"], indent=2))


if __name__ == "__main__":
    main()
