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

from ecalib.benchmark import derive_auto_policy, load_results

POLICY = Path(__file__).resolve().parents[1] / "ecalib" / "layers" / "eca_auto.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", help="folders holding bench result folders")
    args = parser.parse_args()
    results = [load_results(root) for root in args.roots]

    derived = derive_auto_policy(pd.concat(results, ignore_index=True))
    policy = json.loads(POLICY.read_text())
    for device_type, modes in derived["choices"].items():
        policy["choices"].setdefault(device_type, {}).update(modes)
        policy["evidence"][device_type] = {
            "measured in": [str(Path(r)) for r in args.roots],
            **derived["evidence"][device_type],
        }
    POLICY.write_text(json.dumps(policy, indent=2) + "\n")
    print(json.dumps(policy["choices"], indent=2))


if __name__ == "__main__":
    main()
