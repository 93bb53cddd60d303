#!/usr/bin/env bash
# The published dial-a-ride benchmarks, as reported in docs/benchmarks.md:
# Cordeau (2006) a/b sets at 30 s an instance, then Cordeau & Laporte (2003) pr01-pr20 at
# 60 s. Each instance uses both cores (the portfolio of two searches), so the sets run one
# after the other: about 43 minutes. Tables to OUT/*.md, solutions to
# OUT/solutions/<instance>.json. SEEDS=3 solves each instance with three seeds and reports
# the mean and the best (three times as long).
#   [SEEDS=N] bash benchmarks/darp.sh [SHARED_DARP_DIR] [OUT]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
darp="${1:-$here/../shared/benchmarks/darp}"
out="${2:-$here/benchmarks/darp-results}"
pts="${PTS:-$here/.venv/bin/pts}"
mkdir -p "$out"
"$pts" bench darp "$darp"/cordeau2006/*.txt --time-limit 30 --seeds "${SEEDS:-1}" --solutions "$out/solutions" \
    > "$out/cordeau2006.md"
"$pts" bench darp "$darp"/cordeau-laporte2003/*.txt --time-limit 60 --seeds "${SEEDS:-1}" --solutions "$out/solutions" \
    > "$out/cordeau-laporte2003.md"
cat "$out/cordeau2006.md" "$out/cordeau-laporte2003.md"
