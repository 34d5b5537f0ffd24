#!/usr/bin/env bash
# The paper's Table 3 on a GPU in one call, and where ECA's extra training time goes:
#
#   OUT=<folder> bash benchmarks/table3_gpu.sh      # from the repository's root, about 6 minutes
#
# 1. `ecalib bench --suite table3 --budget $BUDGET` (default 4m; killed at the budget plus a minute,
#    keeping what it measured) writes $OUT/speed/<UTC time>-<device>/ (results.csv, dropped.csv,
#    budget.json, params.json, env.json): commit that folder under results/benchmarks/speed/.
# 2. benchmarks/table3_profile.py profiles one training step of ResNet-50 and of ECA-ResNet-50 with
#    each ECA path (reference, torch, triton) into $OUT/profile/ (profile.md, profile.csv).
# 3. Everything printed also goes to $OUT/table3.log: eight files in all, two folders deep at most.
#
# Nothing is fetched: ecalib runs from this tree (PYTHONPATH), and packages the machine lacks come as
# wheels from .whl/ (benchmarks/table3_wheels.sh downloads them where an index can be reached).
# Settings: BUDGET (4m), PROFILE (full; smoke: the CPU check of `make test`, budget 30s), DEVICE (cuda;
# cpu), PYTHON (python3), WHEELS (.whl). A tree copied without git records $ECALIB_GIT_COMMIT as its commit.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:?set OUT to the folder for the results}
profile=${PROFILE:-full}
budget=${BUDGET:-$([ "$profile" = full ] && echo 4m || echo 30s)}  # smoke: its profile's budget
wheels=${WHEELS:-.whl}
device=${DEVICE:-cuda}
py=${PYTHON:-python3}
mkdir -p "$out"
exec > >(tee -a "$out/table3.log") 2>&1
tee_pid=$!
export PYTHONUNBUFFERED=1
started=$SECONDS

if compgen -G "$wheels/*.whl" >/dev/null; then
    site=$(mktemp -d)/site
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$wheels"/*.whl \
        || { echo "table3_gpu: could not install the wheels of $wheels/"; exit 1; }
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$py" -c 'import torch, ecalib, pydantic, timm, scipy, pandas, tabulate
from ecalib.provenance import environment
print("table3_gpu:", environment(), flush=True)' || { echo "table3_gpu: a package is missing (see above)"; exit 1; }
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
fi

seconds=$("$py" -c "from ecalib.recipes.bench import parse_duration; print(int(parse_duration('$budget')))") || exit 2
timeout --signal=INT --kill-after=30 $((seconds + 60)) \
    "$py" -m ecalib bench --suite table3 --profile "$profile" --budget "$budget" --device "$device" --out "$out/speed"
bench=$?
echo "table3_gpu: bench exit $bench after $((SECONDS - started)) s"

args=(--device "$device" --out "$out/profile")
if [ "$profile" = smoke ]; then
    args+=(--batch-size 2 --input-size 32 --warmup 1 --repeats 2)
    export OMP_NUM_THREADS=1  # a shared CPU slows a multi-threaded step tenfold
fi
timeout --signal=INT --kill-after=30 180 "$py" benchmarks/table3_profile.py "${args[@]}"
prof=$?
echo "table3_gpu: profile exit $prof; $((SECONDS - started)) s in all"
exec >&- 2>&-  # let tee write the log's last lines before the script ends
wait "$tee_pid"
exit $((bench != 0 ? bench : prof))
