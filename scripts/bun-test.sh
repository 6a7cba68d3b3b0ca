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
echo "bun-test: bun $("$bun" --version)"
"$bun" test ./__test__/bun/
