#!/bin/sh
# Installs headless Chromium and chromedriver from Debian's packages, for the browser tests of
# the inbox page and the dashboard (crates/hookd/tests/browser.rs). Does nothing when they are
# present. Needs root and apt-get; elsewhere it says what to install and exits 1.
set -eu
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: needs root and apt-get; install Chromium and chromedriver with your system's packages (both on PATH as chromium and chromedriver)" >&2
    exit 1
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver
