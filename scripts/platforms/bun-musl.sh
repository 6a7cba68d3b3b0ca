#!/usr/bin/env bash
# Runs musl Bun (@oven/bun-linux-x64-musl from npm, installed by setup.sh) on
# this glibc machine through the compatibility layer: musl's loader, Debian's
# libstdc++/libgcc_s, and glibc-shim.c preloaded. The two variables are set for
# this one process only: exported, they would break every glibc program.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
lib=$here/.cache/platforms/musl-root/lib
LD_PRELOAD=$lib/libglibc-shim.so LD_LIBRARY_PATH=$lib \
  exec "$here/.cache/platforms/bun-musl/package/bin/bun" "$@"
