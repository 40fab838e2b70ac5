#!/usr/bin/env bash
# Runs the test suite: sets up libtorch (idempotently), then every crate's tests on the CPU.
# GPU-only tests are #[ignore]d here; scripts/device.sh runs them on the GPU machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/setup.sh"
echo "test: cargo test --workspace (CPU; tiny models)" >&2
cargo test --workspace "$@"
