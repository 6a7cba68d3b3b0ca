#!/usr/bin/env bash
# The musl addons loaded and exercised by a musl runtime: musl Bun from npm
# through the compatibility layer of bun-musl.sh (musl's loader, Debian's
# libstdc++/libgcc_s, glibc-shim.c); x64 natively, arm64 under qemu-user.
# Not Alpine. Runs the checkout's Bun suite (__test__/bun/) with the uv guard.
#   scripts/platforms/test-bun-musl.sh [x64|arm64]...   (default both)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/platforms/env.sh
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(x64 arm64)
for arch in "${archs[@]}"; do
  case $arch in
    x64) target=x86_64-unknown-linux-musl abi=linux-x64-musl libc=x86_64-linux-musl/libc.so pkg=bun-musl ;;
    arm64) target=aarch64-unknown-linux-musl abi=linux-arm64-musl libc=aarch64-linux-musl/libc.so pkg=bun-musl-arm64 ;;
    *) echo "test-bun-musl: x64 or arm64" >&2; exit 2 ;;
  esac
  art=$ARTIFACTS/$target/linux-fd.$abi.node
  [ -f "$art" ] || { echo "test-bun-musl: no $art; run scripts/platforms/build-all.sh" >&2; exit 1; }
  file -L "$PLAT/$pkg/package/bin/bun" | grep -q 'interpreter /lib/ld-musl-' ||
    { echo "test-bun-musl: $pkg is not a musl binary" >&2; exit 1; }
  t0=$SECONDS
  # The loader's libc detection reads this glibc host's /usr/bin/ldd, so the
  # musl .node is named by NAPI_RS_NATIVE_LIBRARY_PATH here (pack-all.sh checks
  # the detection itself). Prove what is mapped: this addon, musl, no glibc.
  NAPI_RS_NATIVE_LIBRARY_PATH=$art BUN_MUSL_ARCH=$arch scripts/platforms/bun-musl.sh -e '
    const fs = require("fs")
    const lib = require("./index.js")
    const [abi, libc] = process.argv.slice(-2)
    const maps = fs.readFileSync("/proc/self/maps", "utf8")
    if (!maps.includes(`linux-fd.${abi}.node`)) throw new Error(`linux-fd.${abi}.node is not mapped`)
    if (!maps.includes(libc)) throw new Error(`${libc} is not mapped`)
    if (/-linux-gnu\/libc\.so\.6/.test(maps)) throw new Error("glibc is mapped")
    console.log(`test-bun-musl: bun ${process.versions.bun} ${process.arch} (musl) mapped linux-fd.${abi}.node and ${libc}, wait backend ${lib.waitBackend()}`)
  ' "$abi" "$libc"
  NAPI_RS_NATIVE_LIBRARY_PATH=$art LINUX_FD_FORBID_UV=1 BUN_MUSL_ARCH=$arch scripts/platforms/bun-musl.sh test ./__test__/bun/
  echo "=== test-bun-musl $arch: $((SECONDS - t0))s"
done
