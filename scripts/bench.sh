#!/usr/bin/env bash
# Runs the load tests whose results BENCHMARKS.md records, one after the other, with the
# release build. Each run is bounded by its --timeout; everything stays on 127.0.0.1.
#
#   scripts/bench.sh            all targets
#   scripts/bench.sh NAME...    some of: sqlite-100k fanout-10 steady-1k postgres-100k backlog-1m
#                               isolation-sqlite isolation-postgres publish-keyed publish-keyless
#                               fanout-10-2k fanout-10-2k-filter (the same with a payload filter)
#                               plain-1 transform-1 (the same with a small transformation)
#                               ingest-1 (plain-1 posted to a github source) ingest-keyed
#                               (publish-keyed posted to a github source) tenants-10k (10,000
#                               endpoints over 1,000 applications, 10 per message) drain-1m
#                               (1,000,000 deliveries held back, then drained)
#
# Every publish carries an Idempotency-Key, as the SDKs send, except in publish-keyless.
#
# PostgreSQL: HOOKD_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres);
# the bench creates a scratch database there and drops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

PG="${HOOKD_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BIN=target/release/hookd

run() {
  printf '\n$ hookd bench %s\n' "$*"
  "$BIN" bench "$@" || echo "(exit status $?)"
}

target() {
  case "$1" in
    sqlite-100k) run --messages 100000 --timeout 900s ;;
    fanout-10) run --messages 20000 --endpoints 10 ;;
    tenants-10k) run --messages 20000 --endpoints 10000 --apps 1000 --timeout 900s ;;
    fanout-10-2k) run --messages 10000 --endpoints 10 --payload-bytes 2048 ;;
    transform-1) run --messages 10000 --transformation 'function handler(w) { w.payload.via = "js"; w.headers["x-via"] = "js"; return w; }' ;;
    plain-1) run --messages 10000 ;;
    ingest-1) run --messages 10000 --ingest ;;
    ingest-keyed) run --messages 20000 --endpoint-down --ingest ;;
    fanout-10-2k-filter) run --messages 10000 --endpoints 10 --payload-bytes 2048 --filter "payload.seq >= 0 && payload.pad.size() > 100" ;;
    steady-1k) run --messages 30000 --rate 1000 ;;
    postgres-100k) run --messages 100000 --database-url "$PG" --timeout 900s ;;
    backlog-1m) run --messages 1000000 --endpoint-down --timeout 3600s ;;
    drain-1m) run --messages 1000000 --drain --timeout 3600s ;;
    isolation-sqlite) run --messages 6000 --rate 200 --hanging-endpoints 100 ;;
    isolation-postgres) run --messages 6000 --rate 200 --hanging-endpoints 100 --database-url "$PG" ;;
    publish-keyed) run --messages 20000 --endpoint-down ;;
    publish-keyless) run --messages 20000 --endpoint-down --no-idempotency-key ;;
    *) echo "unknown target $1" >&2; exit 2 ;;
  esac
}

cargo build --release -p hookd
echo "machine: $(nproc) cores, $(free -h | awk '/^Mem:/ {print $2}') memory, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ $# -eq 0 ]; then
  set -- sqlite-100k fanout-10 steady-1k postgres-100k backlog-1m isolation-sqlite isolation-postgres
fi
for t in "$@"; do target "$t"; done
