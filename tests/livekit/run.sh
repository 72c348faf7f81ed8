#!/usr/bin/env bash
# Drives the LiveKit emulator flavor (`siptrunk-operator emulator --flavor livekit`) with the
# official Python server SDK (PyPI livekit-api) as the client: a real client nobody here wrote
# must agree with the stand-in. Installs the pinned SDK into .venv-livekit by itself.
#   bash tests/livekit/run.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REQS=tests/livekit/requirements.txt
PYTHON=${PYTHON:-python3}
VENV=.venv-livekit
STAMP=$VENV/.requirements

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if ! cmp -s "$REQS" "$STAMP"; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
  cp "$REQS" "$STAMP"
fi

cargo build --locked --quiet --bin siptrunk-operator
BIN=${CARGO_TARGET_DIR:-target}/debug/siptrunk-operator
exec "$VENV/bin/python" tests/livekit/test_sdk.py "$BIN"
