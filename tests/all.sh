#!/usr/bin/env bash
# Runs every test of the project: Rust unit, integration and end-to-end suites (against the
# stand-ins, or a real cluster when SIPTRUNK_E2E_KUBECONFIG is set), lints, the CRD freshness
# check, and the chart tests with the real Helm engine. Installs what it needs by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check (rustfmt.toml)"
cargo fmt --check

step "cargo build (all targets)"
cargo build --all-targets --locked

step "cargo test"
cargo test --locked --all-targets --no-fail-fast -- --test-threads 2

step "cargo clippy (warnings are errors)"
cargo clippy --locked --all-targets -- -D warnings

step "the operator alone: build, unit tests and clippy without the stand-ins (what the image builds)"
cargo build --locked --no-default-features --bin siptrunk-operator
cargo test --locked --no-default-features --lib -- --test-threads 2
cargo clippy --locked --no-default-features --lib --bins -- -D warnings

step "LiveKit emulator flavor driven by the official Python server SDK (livekit-api)"
bash tests/livekit/run.sh

step "crds/ equals 'siptrunk-operator crd'"
diff -u crds/siptrunk.dev.yaml <(cargo run --locked --quiet -- crd) && echo "crds/ is fresh"

step "chart tests (Helm v4 engine, Kubernetes schemas, Argo CD Lua, promtool)"
bash tests/chart/run.sh
