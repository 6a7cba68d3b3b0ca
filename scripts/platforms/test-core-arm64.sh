#!/usr/bin/env bash
# The core crate's Rust tests for aarch64-unknown-linux-gnu, run under
# qemu-user through binfmt_misc (cargo runs the test binaries as if native).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/platforms/env.sh
use_debian_rust
ensure_binfmt
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
cargo test -p linux-fd-core --target aarch64-unknown-linux-gnu "$@"
