#!/usr/bin/env bash
# The one test command (README, CI): formatting, lints, and the whole test suite, which runs
# every integration test on SQLite and on PostgreSQL.
#
# PostgreSQL: HOOKD_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
# The script reaches the server or starts the local cluster. If it stays unreachable the
# PostgreSQL tests are skipped with a message locally, and fail under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

export HOOKD_TEST_DATABASE_URL="${HOOKD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

step() { printf '\n==> %s\n' "$*"; }

pg_up() { pg_isready -q -d "$HOOKD_TEST_DATABASE_URL" 2>/dev/null; }

ensure_postgres() {
  if ! command -v pg_isready >/dev/null; then
    echo "pg_isready not found; assuming PostgreSQL is reachable if it is"
    return 0
  fi
  if pg_up; then return 0; fi
  if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
    step "starting the local PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_up && return 0; sleep 1; done
  fi
  if [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL is unreachable at $HOOKD_TEST_DATABASE_URL and CI=true: failing" >&2
    exit 1
  fi
  echo "WARNING: PostgreSQL is unreachable at $HOOKD_TEST_DATABASE_URL; its tests will be skipped" >&2
}

drop_stale_test_databases() {
  pg_up || return 0
  psql "$HOOKD_TEST_DATABASE_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'hookd_test_%'" |
    while read -r db; do psql "$HOOKD_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null; done
}

step "PostgreSQL"
ensure_postgres
drop_stale_test_databases

if [ -x scripts/install-browser.sh ]; then
  step "headless Chromium for the browser test"
  scripts/install-browser.sh
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (cargo prints one per test binary, the last often a
# doc-test run with nothing in it).
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
exit "$status"
