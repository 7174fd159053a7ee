#!/usr/bin/env bash
# The API load figures of README's Performance section:
#   benches/api-load.sh [MIX ...]      (default: lookup browse; see benches/api-load.lua)
# Over a copy of the 1 M-lead store of benches/import-1m.sh, runs the demo sprint (web
# server on) and, for each mix, measures for WINDOW seconds (default 10):
#   - the sprint alone: unique leads gained per second;
#   - the sprint while wrk sends searches (CONNECTIONS, default 16, over 2 threads):
#     requests/s and latency, and the leads gained per second beside it.
# Each measurement starts from a fresh copy, so every sprint has the same work ahead.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${LEADSPRINT_BENCH_WORK:-/tmp/leadsprint-bench}
window=${WINDOW:-10}
connections=${CONNECTIONS:-16}
speed=${SPEED:-10}
port=${PORT:-18080}
mixes=("$@")
[ ${#mixes[@]} -gt 0 ] || mixes=(lookup browse)
cargo build --release --quiet
[ -f "$work/data/leads.redb" ] || benches/import-1m.sh
bin=target/release/leadsprint
dir="$work/demo-1m"
url="http://127.0.0.1:$port"

unique() { curl -sf "$url/api/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["unique_leads"])'; }

# Starts the sprint on a fresh copy; returns once it is collecting.
start_sprint() {
  rm -rf "$dir"
  cp -r "$work/data" "$dir"
  touch "$dir/demo.marker"
  "$bin" --data-dir "$dir" demo --speed "$speed" --target 2000000 --bind "127.0.0.1:$port" >"$work/demo.out" 2>&1 &
  sprint=$!
  until curl -sf "$url/healthz" >/dev/null; do sleep 0.2; done
  sleep 2  # past the start-up (key set and index opened, first pages in flight)
}

stop_sprint() {
  kill -INT "$sprint" 2>/dev/null || true
  wait "$sprint" 2>/dev/null || true
}

measure() {  # $1 = mix or "alone"
  start_sprint
  local before after
  before=$(unique)
  if [ "$1" = alone ]; then
    sleep "$window"
  else
    wrk -t2 -c"$connections" -d"${window}s" --latency -s benches/api-load.lua "$url" -- "$1" >"$work/wrk-$1.txt"
  fi
  after=$(unique)
  stop_sprint
  local rate
  rate=$(python3 -c "print(round(($after - $before) / $window, 1))")
  if [ "$1" = alone ]; then
    echo "sprint alone:            $rate new leads/s"
  else
    echo "sprint + wrk ($1): $rate new leads/s; $(grep -E 'Requests/sec' "$work/wrk-$1.txt" | tr -s ' ')"
    grep -E '^ +(50|99)%' "$work/wrk-$1.txt" | tr -s ' ' | sed 's/^/    latency/'
    grep -E 'Non-2xx|Socket errors|unexpected' "$work/wrk-$1.txt" || true
  fi
}

echo "1 M leads stored, demo sprint at --speed $speed, ${window} s windows, $connections connections"
measure alone
for mix in "${mixes[@]}"; do
  measure "$mix"
done
rm -rf "$dir"
