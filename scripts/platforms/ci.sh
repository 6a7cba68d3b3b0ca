#!/usr/bin/env bash
# Issue 12 in one run: the four targets built, checked and tested on this
# machine, and Deno. Called by .ci/run after `npm ci` and `npm test` (which
# leaves the developer's x64 build, used by the Deno stage, in the root).
# Prints each stage's time and a summary; exits non-zero if any stage failed
# (every stage still runs, so one failure does not hide another).
#   ARM64_NODE_FULL="22 24"  arm64 Node lines that run ava + stress + pack (default both)
#   ARM64_FULL_STAGES / ARM64_LIGHT_STAGES  the stages of each kind of line
#                            (defaults "ava stress pack" and "stress pack"; the
#                            stages are test-node-arm64.sh's: ava, ava-arch,
#                            stress, pack). .ci/run sets all four variables.
#   ARM64_NODE_LIGHT=""      arm64 Node lines that run stress + pack only (no ava),
#                            e.g. ARM64_NODE_FULL=22 ARM64_NODE_LIGHT=24 to save
#                            one emulated ava run (docs/platforms.md, "Measured")
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/platforms/env.sh
start=$SECONDS
summary=()
failed=0
stage() { # <name> <command...>
  local name=$1 t0=$SECONDS rc=0
  shift
  printf '\n=== platforms: %s (t=%ss)\n' "$name" "$((SECONDS - start))"
  "$@" || rc=$?
  local line
  line=$(printf '%-52s %5ss  %s' "$name" "$((SECONDS - t0))" "$([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)")")
  summary+=("$line")
  echo "=== platforms: $line"
  [ $rc -eq 0 ] || failed=$((failed + 1))
  return 0
}

stage "setup (toolchains, runtimes)" bash scripts/platforms/setup.sh
stage "clippy -D warnings, x86_64 musl (core)" bash scripts/platforms/clippy-musl.sh
stage "build the four targets" bash scripts/platforms/build-all.sh
stage "check-elf (machine, glibc, NEEDED)" node scripts/platforms/check-elf.mjs
stage "core tests, x86_64 musl (static, native)" bash scripts/platforms/test-core-musl.sh
stage "core tests, aarch64 gnu (qemu-user)" bash scripts/platforms/test-core-arm64.sh
stage "Bun suite, musl Bun x64 + arm64 (compat layer)" bash scripts/platforms/test-bun-musl.sh
full_stages=${ARM64_FULL_STAGES:-ava stress pack}
light_stages=${ARM64_LIGHT_STAGES:-stress pack}
for major in ${ARM64_NODE_FULL-$(for v in $NODE_ARM64_VERSIONS; do printf '%s ' "${v%%.*}"; done)}; do
  stage "arm64 Node $major: $full_stages (qemu-user)" env STAGES="$full_stages" bash scripts/platforms/test-node-arm64.sh "$major"
done
for major in ${ARM64_NODE_LIGHT:-}; do
  stage "arm64 Node $major: $light_stages (qemu-user)" env STAGES="$light_stages" bash scripts/platforms/test-node-arm64.sh "$major"
done
stage "pack all four, install offline, load" bash scripts/platforms/pack-all.sh
if [ ! -f linux-fd.linux-x64-gnu.node ]; then
  stage "npm run build (for the Deno stage)" npm run build
fi
stage "Deno smoke test, exit code 0" bash scripts/deno-test.sh

printf '\n=== platforms: summary (%ss in all)\n' "$((SECONDS - start))"
printf '  %s\n' "${summary[@]}"
[ $failed -eq 0 ] || { echo "=== platforms: $failed stage(s) failed"; exit 1; }
echo "=== platforms: all stages passed"
