#!/usr/bin/env bash
# Lead-to-lead merges per second (README's Performance section):
#   benches/merge-bridges.sh [PEOPLE]   (default 200,000)
# Imports PEOPLE people as two leads each (a URL-only and an email-only record),
# then times the import of one bridging record per person: each merges two leads.
set -euo pipefail
cd "$(dirname "$0")/.."
people=${1:-200000}
work=${LEADSPRINT_BENCH_WORK:-/tmp/leadsprint-bench}
bin=${LEADSPRINT_BIN:-target/release/leadsprint}
mkdir -p "$work"
[ -n "${LEADSPRINT_BIN:-}" ] || cargo build --release --quiet
base="$work/bridges-base-$people.csv"
bridges="$work/bridges-$people.csv"
[ -f "$bridges" ] || python3 benches/gen-bridges.py "$people" "$base" "$bridges"
rm -rf "$work/bridge-data"
"$bin" --data-dir "$work/bridge-data" import "$base" | grep -E "new unique"
start=$(date +%s.%N)
"$bin" --data-dir "$work/bridge-data" import "$bridges" | grep -E "records read|leads merged"
end=$(date +%s.%N)
python3 - "$start" "$end" "$people" <<'PY'
import sys
start, end, people = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"bridging import: {end - start:.2f} s, {people / (end - start):,.0f} lead-to-lead merges per second")
PY
"$bin" --data-dir "$work/bridge-data" stats --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print({k: s[k] for k in ["unique_leads", "aliases", "leads_merged"]})'
