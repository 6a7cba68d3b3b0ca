#!/usr/bin/env bash
# clippy -D warnings for x86_64-unknown-linux-musl (Debian's rustc-web + clippy,
# std built from rust-web-src). Catches musl-only lints such as the deprecated
# libc::time_t alias. The core only: clippy 1.96 (Debian) has newer lints
# than the workspace's stable, and the addon crate has not been run through
# them since its rewrite (docs/platforms.md); its own libc calls are few.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/platforms/env.sh
use_debian_rust
# Its own target dir: other RUSTFLAGS or another linker in the release builds'
# dir would make each of them rebuild everything (std included) every time.
export CARGO_TARGET_DIR=$ROOT/target/platforms-test
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=musl-gcc
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C link-self-contained=no -L native=$MUSL_EXTRA"
cargo clippy -Zbuild-std=std,panic_unwind --target x86_64-unknown-linux-musl \
  -p linux-fd-core --all-targets -- -D warnings
