#!/bin/sh
# Installs headless Chromium and chromedriver from Debian's packages, for the browser tests of
# the inbox page and the dashboard (crates/hookd/tests/browser.rs). Does nothing when they are present.
set -eu
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver
