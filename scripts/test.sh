#!/usr/bin/env bash
# The one test command (README, CI): formatting, lints, and the whole test suite, which runs
# every integration test on SQLite and on PostgreSQL. Every test binary runs even when an
# earlier one fails (--no-fail-fast); the closing line counts passed, failed and skipped tests.
#
# What it sets up, and what it does where it cannot:
# - the Rust toolchain of rust-toolchain.toml (rustup installs it; where rustup cannot
#   download, an installed stable of the same version is linked under that name);
# - PostgreSQL: HOOKD_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
#   The script reaches the server or starts the local cluster;
# - headless Chromium for the browser tests: installed with apt-get when running as root on
#   Debian/Ubuntu, or when HOOKD_INSTALL_BROWSER=1 (scripts/install-browser.sh);
# - Svix's Python and JavaScript SDKs and schemathesis, pinned, under target/sdks
#   (scripts/install-sdks.sh, with python3 and npm);
# Outside CI, a test that cannot run (no PostgreSQL, no browser, no SDKs) is skipped with a
# SKIPPED line and counted as skipped. Under CI=true nothing may be skipped: any of these is a failure.
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
  if in_ci; then
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

in_ci() { [ "${CI:-}" = "true" ]; }

# rust-toolchain.toml names an exact version; a machine that cannot download it but has that
# version installed as "stable" links it under the pinned name instead.
ensure_toolchain() {
  command -v rustup >/dev/null || return 0
  local want
  want=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
  if rustup toolchain list | grep -q "^$want-"; then return 0; fi
  if rustc +stable --version 2>/dev/null | grep -q "^rustc $want "; then
    step "linking the installed stable toolchain as $want (rust-toolchain.toml)"
    rustup toolchain link "$want" "$(rustc +stable --print sysroot)"
  fi
  # Otherwise rustup installs it on first use.
}

ensure_browser() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then return 0; fi
  if in_ci || [ "${HOOKD_INSTALL_BROWSER:-}" = 1 ] || { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }; then
    step "installing headless Chromium for the browser tests"
    if scripts/install-browser.sh; then return 0; fi
    if in_ci; then echo "Chromium could not be installed and CI=true: failing" >&2; exit 1; fi
  fi
  echo "NOTE: Chromium and chromedriver are not installed; the browser tests will be skipped (HOOKD_INSTALL_BROWSER=1 to install them with apt-get)" >&2
}

ensure_sdks() {
  local exports
  if exports=$(scripts/install-sdks.sh); then
    eval "$exports"
    return 0
  fi
  if in_ci; then echo "Svix's SDKs could not be installed and CI=true: failing" >&2; exit 1; fi
  echo "NOTE: Svix's Python and JavaScript SDKs and schemathesis could not be installed (python3 with venv, and npm, are needed); their tests will be skipped" >&2
}

step "Rust toolchain"
ensure_toolchain

step "PostgreSQL"
ensure_postgres
drop_stale_test_databases

step "headless Chromium for the browser tests"
ensure_browser

step "Svix's Python and JavaScript SDKs, schemathesis"
ensure_sdks

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
log=$(mktemp)
export HOOKD_TEST_SKIPS
HOOKD_TEST_SKIPS=$(mktemp)
trap 'rm -f "$log" "$HOOKD_TEST_SKIPS"' EXIT
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (cargo prints one per test binary, the last often a
# doc-test run with nothing in it). A test that skipped itself at run time (tests/common's
# `skip`) passed as far as libtest knows; it is counted as skipped instead.
skipped_at_run_time=$(sort -u "$HOOKD_TEST_SKIPS" | wc -l)
if [ "$skipped_at_run_time" -gt 0 ]; then
  printf '\nskipped at run time:\n'
  sort -u "$HOOKD_TEST_SKIPS" | sed 's/^/  /'
fi
awk -v skipped="$skipped_at_run_time" '
     /^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", passed - skipped, failed, ignored + skipped }' "$log"
exit "$status"
