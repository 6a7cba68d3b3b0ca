#!/usr/bin/env bash
# The core crate's Rust tests as static x86_64 musl binaries, run natively.
# std is built from rust-web-src (-Zbuild-std); linked by musl-gcc, non-PIE.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/platforms/env.sh
use_debian_rust
# Its own target dir: other RUSTFLAGS or another linker in the release builds'
# dir would make each of them rebuild everything (std included) every time.
export CARGO_TARGET_DIR=$ROOT/target/platforms-test
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=musl-gcc
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C link-self-contained=no -L native=$MUSL_EXTRA -C relocation-model=static"
t=x86_64-unknown-linux-musl
cargo test -Zbuild-std=std,panic_unwind -p linux-fd-core --target $t --no-run 2>&1 | tail -3
# Prove what runs: every core test binary is a static musl executable.
# (cargo prints each test binary's path with --no-run --message-format=json)
bins=$(cargo test -Zbuild-std=std,panic_unwind -p linux-fd-core --target $t --no-run --message-format=json 2>/dev/null |
  node -e 'for (const l of require("fs").readFileSync(0, "utf8").split("\n")) { try { const m = JSON.parse(l); if (m.executable && m.profile && m.profile.test) console.log(m.executable) } catch {} }')
[ -n "$bins" ] || { echo "test-core-musl: no test binary found" >&2; exit 1; }
for b in $bins; do
  desc=$(file -b "$b")
  case $desc in
    *"statically linked"*) echo "test-core-musl: ${b##*/}: ${desc%%, with debug_info*}" ;;
    *) echo "test-core-musl: ${b##*/} is not static: $desc" >&2; exit 1 ;;
  esac
done
# Nothing is skipped: at_most_253_fds failed here with ENOMEM from musl's
# sendmsg wrapper (docs/platforms.md, "musl: sendmsg of 253 fds") until the
# core made the system call itself on musl.
cargo test -Zbuild-std=std,panic_unwind -p linux-fd-core --target $t --no-fail-fast
