#!/usr/bin/env bash
# Runs __test__/deno/smoke.test.mjs under Deno (@deno/linux-x64-glibc from npm,
# installed into .cache/platforms/deno/ by scripts/platforms/setup.sh) and
# requires exit code 0: every case passed AND Deno exited cleanly. The addon
# must already be built (npm run build); the test loads the package entry.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/platforms/env.sh
deno=$PLAT/deno/package/deno
# Same place and version as setup.sh; installed here too, so that this script
# alone needs neither root nor the cross toolchains (the workflow's deno job).
if [ "$("$deno" --version 2>/dev/null | head -1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
  rm -rf "$PLAT/deno"
  mkdir -p "$PLAT/deno"
  (cd "$PLAT/deno" && npm pack -q "@deno/linux-x64-glibc@$DENO_VERSION" >/dev/null && tar xzf ./*.tgz && rm -f ./*.tgz)
  echo "$DENO_VERSION" >"$PLAT/deno/.version"
fi
[ -f linux-fd.linux-x64-gnu.node ] || { echo "deno-test: no linux-fd.linux-x64-gnu.node; run npm run build first" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "deno-test: $("$deno" --version | head -1)"
rc=0
"$deno" run --allow-all __test__/deno/smoke.test.mjs 2>&1 | tee "$out" || rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
  if grep -q 'Cannot create a handle without a HandleScope' "$out"; then
    echo "deno-test: FAILED: Deno died at exit (code $rc): a Node-API call that needs a HandleScope ran in a cleanup hook (docs/platforms.md, 'Deno')" >&2
  else
    echo "deno-test: FAILED with exit code $rc" >&2
  fi
  exit 1
fi
grep -Eq '^[0-9]+ passed, 0 failed$' "$out" || { echo "deno-test: no clean 'N passed, 0 failed' line" >&2; exit 1; }
echo "deno-test: passed, exit code 0"
