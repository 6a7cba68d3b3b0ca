#!/usr/bin/env bash
# Runs __test__/bun/*.test.ts under Bun. Bun's official binary comes from the
# npm registry as @oven/bun-linux-x64 and goes into .cache/bun/ (git-ignored);
# nothing is installed globally. The addon must already be built.
set -euo pipefail
cd "$(dirname "$0")/.."
BUN_VERSION=${BUN_VERSION:-1.4.5}
bun=.cache/bun/node_modules/@oven/bun-linux-x64/bin/bun

if [ "$("$bun" --version 2>/dev/null)" != "$BUN_VERSION" ]; then
  rm -rf .cache/bun
  npm install --prefix .cache/bun --no-save --no-package-lock --no-audit --no-fund \
    "@oven/bun-linux-x64@$BUN_VERSION" >/dev/null
fi
if ! ls linux-fd.linux-x64-gnu.node >/dev/null 2>&1; then
  echo "bun-test: no linux-fd.linux-x64-gnu.node; run npm run build first" >&2
  exit 1
fi
# The addon aborts if any uv_* lookup is reached while LINUX_FD_FORBID_UV is
# set (crates/node/src/uv.rs). Control first: under Node a wait does reach
# libuv, so the guard must fire there, or its silence under Bun proves nothing.
mkdir -p .cache/bun
if LINUX_FD_FORBID_UV=1 node -e "new (require('./index.js').Semaphore)(0).acquire()" 2>.cache/bun/control.err; then
  echo "bun-test: the uv guard did not fire under Node" >&2
  exit 1
fi
grep -q 'a uv_\* function was reached' .cache/bun/control.err
echo "bun-test: control ok (under Node the guard fires: $(head -1 .cache/bun/control.err))"
echo "bun-test: bun $("$bun" --version), with LINUX_FD_FORBID_UV=1"
LINUX_FD_FORBID_UV=1 "$bun" test ./__test__/bun/
