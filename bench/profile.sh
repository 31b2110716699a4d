#!/usr/bin/env bash
# Profile the bridge under the benchmark's cumulative and delta load with py-spy (pip install py-spy):
# writes bench/results/profile-{cumulative,delta}.{txt,svg} and prints the hottest functions.
# Extra arguments go to `python -m bench` (e.g. --gateways 16, --change-fraction 0.3, --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m bench --parts profile --profile --output bench/results/profile.json "$@"
