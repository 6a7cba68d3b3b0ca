#!/usr/bin/env bash
# The musl addon loaded and exercised by a musl runtime: musl Bun
# (@oven/bun-linux-x64-musl from npm) through the compatibility layer of
# bun-musl.sh (musl's loader, Debian's libstdc++/libgcc_s, glibc-shim.c).
# Not Alpine. Runs the checkout's Bun suite (__test__/bun/) with the uv guard.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/platforms/env.sh
art=$ARTIFACTS/x86_64-unknown-linux-musl/linux-fd.linux-x64-musl.node
[ -f "$art" ] || { echo "test-bun-musl: no $art; run scripts/platforms/build-all.sh" >&2; exit 1; }
bun=scripts/platforms/bun-musl.sh
# Prove the runtime and the addon are musl, and that the addon that loads is
# the musl one: the loader's libc detection reads this glibc host's
# /usr/bin/ldd, so the musl .node is named by NAPI_RS_NATIVE_LIBRARY_PATH.
file -L "$PLAT/bun-musl/package/bin/bun" | grep -q 'interpreter /lib/ld-musl-x86_64.so.1' ||
  { echo "test-bun-musl: bun is not a musl binary" >&2; exit 1; }
export NAPI_RS_NATIVE_LIBRARY_PATH=$art
"$bun" -e '
  const fs = require("fs")
  const lib = require("./index.js")
  const maps = fs.readFileSync("/proc/self/maps", "utf8")
  if (!maps.includes("linux-fd.linux-x64-musl.node")) throw new Error("the musl addon is not mapped")
  if (!maps.includes("x86_64-linux-musl/libc.so")) throw new Error("no musl libc mapped")
  if (maps.includes("x86_64-linux-gnu/libc.so.6")) throw new Error("glibc is mapped")
  console.log("test-bun-musl: bun " + process.versions.bun + " (musl) mapped linux-fd.linux-x64-musl.node, wait backend " + lib.waitBackend())
'
LINUX_FD_FORBID_UV=1 "$bun" test ./__test__/bun/
