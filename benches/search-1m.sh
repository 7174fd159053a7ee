#!/usr/bin/env bash
# The search benchmark of README's Performance section:
#   benches/search-1m.sh [ROWS]     (default 1,000,000 rows; reuses benches/import-1m.sh's data)
# 1. times `leadsprint reindex` (index build from the store);
# 2. runs benches/search.rs: p50/p99 of ten typical queries, top-20 ranked, totals counted;
# 3. loads the same leads into a throwaway PostgreSQL (tsvector + GIN, 'simple'
#    configuration) and runs the eight twin queries of benches/sql/search-q*.sql
#    (count + ranked top-20, like ours) with pgbench over the local socket; prints both
#    side by side with the ratio. Needs PostgreSQL's binaries (Debian: postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
work=${LEADSPRINT_BENCH_WORK:-/tmp/leadsprint-bench}
runs=${PG_RUNS:-20}
mkdir -p "$work"
if [ -z "${PG_ONLY:-}" ]; then
  cargo build --release --quiet
  cargo bench --bench search --no-run --quiet 2>/dev/null
fi
csv="$work/leads-$rows.csv"
[ -f "$csv" ] || python3 benches/gen-leads.py "$rows" 0.3 "$csv"
if [ ! -f "$work/data/leads.redb" ]; then
  target/release/leadsprint --data-dir "$work/data" import "$csv" | tail -3
fi
if [ -z "${PG_ONLY:-}" ]; then  # PG_ONLY=1 reuses the last run's figures for our side
  /usr/bin/time -f "reindex: %e s wall, %U s user, %S s sys, %M KB peak RSS" \
    target/release/leadsprint --data-dir "$work/data" reindex
  du -sh "$work/data/search"
  LEADSPRINT_BENCH_DATA_DIR="$work/data" cargo bench --quiet --bench search 2>/dev/null | tee "$work/search-ours.txt"
fi

echo "--- PostgreSQL $(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1) full-text search over the same leads"
[ -f "$work/leads.csv" ] || target/release/leadsprint --data-dir "$work/data" export csv --out "$work/leads.csv"
# shellcheck source=benches/pg-cluster.sh
source benches/pg-cluster.sh "$work/pg" 55433
trap pg_stop EXIT
started=$(date +%s.%N)
(cd "$work" && psql -q -v ON_ERROR_STOP=1 -d postgres -f "$OLDPWD/benches/sql/search-load.sql")
echo "load + index: $(python3 -c "import time; print(round(time.time() - $started, 1))") s"
rm -f "$work"/pgbench_q*
for q in benches/sql/search-q*.sql; do
  n=$(basename "$q" .sql | tr -dc 0-9)
  (cd "$work" && pgbench -n -d postgres -f "$OLDPWD/$q" -t "$runs" -l --log-prefix="pgbench_q$n" >"pgbench_q$n.out" 2>&1) ||
    { echo "pgbench failed on $q:"; cat "$work/pgbench_q$n.out"; exit 1; }
done
python3 - "$work" <<'PY'
import glob, re, sys
work = sys.argv[1]
ours = {}
for line in open(f"{work}/search-ours.txt"):
    m = re.match(r"^(\S.{0,11}?)\s{2,}.*?(\d+)\s+([\d.]+)\s+([\d.]+)$", line.rstrip())
    if m:
        ours[m.group(1).strip()] = (float(m.group(3)), float(m.group(4)))
print(f"{'query':<12} {'ours p50':>9} {'ours p99':>9} {'pg p50':>9} {'pg p99':>9} {'ratio p50':>10}")
for n in range(1, 9):
    name = open(f"benches/sql/search-q{n}.sql").readline()[3:].split(":")[0].strip()
    lat = sorted(int(l.split()[2]) / 1000 for f in glob.glob(f"{work}/pgbench_q{n}.[0-9]*") for l in open(f))
    p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, len(lat) * 99 // 100)]
    o50, o99 = ours.get(name, (float("nan"), float("nan")))
    print(f"{name:<12} {o50:>9.3f} {o99:>9.3f} {p50:>9.3f} {p99:>9.3f} {p50 / o50:>9.1f}x")
PY
