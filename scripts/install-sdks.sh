#!/bin/sh
# Installs Svix's official Python and JavaScript SDKs, at pinned versions, for the tests that
# drive hookd with them (crates/hookd/tests/sdks.rs), and schemathesis, which fuzzes hookd with
# Svix's OpenAPI document (crates/hookd/tests/fuzz.rs): a Python virtual environment with `svix`
# and `schemathesis` from PyPI under target/sdks/python, and `svix` from npm under
# target/sdks/node. Does nothing when the pinned versions are already there. Needs python3
# (with venv) and npm; prints the variables the tests read, for `eval`.
set -eu
cd "$(dirname "$0")/.."
PYTHON_SDK=2.9.1
SCHEMATHESIS=4.32.5
JS_SDK=2.5.0
root=target/sdks
mkdir -p "$root"

python_dir="$root/python"
if [ "$(cat "$python_dir/.versions" 2>/dev/null)" != "$PYTHON_SDK $SCHEMATHESIS" ]; then
    rm -rf "$python_dir"
    python3 -m venv "$python_dir" >&2
    "$python_dir/bin/pip" install --quiet --disable-pip-version-check "svix==$PYTHON_SDK" "schemathesis==$SCHEMATHESIS" >&2
    echo "$PYTHON_SDK $SCHEMATHESIS" > "$python_dir/.versions"
fi

node_dir="$root/node"
if [ "$(cat "$node_dir/.svix-version" 2>/dev/null)" != "$JS_SDK" ]; then
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    npm install --prefix "$node_dir" --no-audit --no-fund --silent "svix@$JS_SDK" >&2
    echo "$JS_SDK" > "$node_dir/.svix-version"
fi

echo "export HOOKD_SDK_PYTHON='$PWD/$python_dir/bin/python'"
echo "export HOOKD_SDK_NODE_PATH='$PWD/$node_dir/node_modules'"
echo "export HOOKD_SCHEMATHESIS='$PWD/$python_dir/bin/st'"
