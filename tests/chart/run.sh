#!/usr/bin/env bash
# Chart, Dockerfile and Argo CD health-check tests.
#   bash tests/chart/run.sh [pytest args...]
# Installs what it needs on a fresh machine: the Python packages pinned in
# tests/chart/requirements.txt (into .venv, or pip --user when a venv cannot
# be made) and lua5.4 from Debian when it is missing (root only).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REQS=tests/chart/requirements.txt
PYTHON=${PYTHON:-python3}

if ! command -v lua5.4 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "run.sh: installing lua5.4" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq lua5.4 >/dev/null
  else
    echo "run.sh: lua5.4 missing and cannot apt-get it; the Argo CD health tests will be skipped" >&2
  fi
fi

VENV=.venv
STAMP=$VENV/.chart-requirements
if [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
  PY=$VENV/bin/python
  if ! cmp -s "$REQS" "$STAMP"; then
    "$PY" -m pip install -q --disable-pip-version-check -r "$REQS"
    cp "$REQS" "$STAMP"
  fi
else
  echo "run.sh: no venv module; installing with pip --user" >&2
  PY=$PYTHON
  "$PY" -m pip install -q --disable-pip-version-check --user -r "$REQS"
fi

exec "$PY" -m pytest -q -p no:cacheprovider tests/chart "$@"
