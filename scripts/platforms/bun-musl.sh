#!/usr/bin/env bash
# Runs musl Bun (from npm, installed by setup.sh) on this glibc machine through
# the compatibility layer: musl's own loader, Debian's glibc-built
# libstdc++/libgcc_s, and glibc-shim.c preloaded. It is not Alpine.
#   BUN_MUSL_ARCH=x64    @oven/bun-linux-x64-musl, run natively (default)
#   BUN_MUSL_ARCH=arm64  @oven/bun-linux-aarch64-musl, under qemu-user
# The preload and library path are set for Bun alone: exported, they would
# break every glibc program (and, for arm64, the x86_64 qemu itself, hence -E).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
case ${BUN_MUSL_ARCH:-x64} in
  x64)
    lib=$here/.cache/platforms/musl-root/lib
    LD_PRELOAD=$lib/libglibc-shim.so LD_LIBRARY_PATH=$lib \
      exec "$here/.cache/platforms/bun-musl/package/bin/bun" "$@"
    ;;
  arm64)
    lib=$here/.cache/platforms/musl-root-arm64/lib
    exec qemu-aarch64 -E "LD_PRELOAD=$lib/libglibc-shim.so" -E "LD_LIBRARY_PATH=$lib" \
      "$here/.cache/platforms/bun-musl-arm64/package/bin/bun" "$@"
    ;;
  *) echo "bun-musl: BUN_MUSL_ARCH is x64 or arm64" >&2; exit 2 ;;
esac
