#!/usr/bin/env bash
# The ava suite once under valgrind memcheck, against a release build of the
# addon that keeps its symbols and line tables (the shipped build is stripped,
# which would leave valgrind's stacks through it unnamed).
#
#   bash scripts/valgrind-ava.sh                          # every spec but loader.spec.ts
#   bash scripts/valgrind-ava.sh __test__/memfd.spec.ts   # only the specs named
#
# Slow: node runs 20-50x slower under memcheck (see docs/notes-reliability.md
# for the time of a full run). Not meant for every CI run.
#
# How it works:
# - The addon is built with `--release` into target/valgrind, strip off and
#   line tables on, copied to target/valgrind/linux-fd.valgrind.node and loaded
#   through the generated loader's NAPI_RS_NATIVE_LIBRARY_PATH override.
# - loader.spec.ts is left out: it loads no native code (it simulates the
#   loader's platform detection in a temp dir) and the override above makes
#   its "nothing could be loaded" assertions fail.
# - ava runs its workers as child processes (workerThreads: false), one spec
#   file at a time (--concurrency=1); --trace-children=yes follows them and the
#   processes the specs spawn (node children, sh). esbuild (tsx's transformer,
#   a Go binary) is not followed.
# - V8 writes machine code at run time: --smc-check=all-non-file makes valgrind
#   notice it.
# - Each process writes its own log to target/valgrind/logs/vg.<pid>.log. An
#   error record counts as ours when its stack names the addon
#   (linux-fd.valgrind.node); the rest is reported as node/V8 noise.
#   scripts/valgrind-node.supp holds the suppressions for known noise.
#
# Exit status: 1 if any error or definite leak names the addon, else ava's own
# exit status (timing-sensitive specs may fail under the slowdown: read them).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind > /dev/null; then
  echo "valgrind not found: installing Debian's package"
  apt-get update -qq && apt-get install -y -qq valgrind
fi

out=target/valgrind
logs=$out/logs
addon=$out/linux-fd.valgrind.node

echo "=== build: cargo build --release -p linux-fd-node (symbols kept) into $out"
CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  cargo build --release -p linux-fd-node --target-dir "$out"
cp "$out/release/liblinux_fd_node.so" "$addon"

if [ $# -gt 0 ]; then
  specs=("$@")
else
  specs=()
  for f in __test__/*.spec.ts; do
    [ "$f" = __test__/loader.spec.ts ] || specs+=("$f")
  done
fi

rm -rf "$logs"
mkdir -p "$logs"
export NAPI_RS_NATIVE_LIBRARY_PATH="$PWD/$addon"

vg=(valgrind --tool=memcheck
  --trace-children=yes '--trace-children-skip=*esbuild*'
  --smc-check=all-non-file
  --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite
  --num-callers=40
  --suppressions=scripts/valgrind-node.supp
  "--log-file=$logs/vg.%p.log")
ava=(node node_modules/ava/entrypoints/cli.mjs --concurrency=1 --timeout=10m "${specs[@]}")

echo "=== run: ${vg[*]} ${ava[*]}"
echo "    (NAPI_RS_NATIVE_LIBRARY_PATH=$addon)"
t0=$SECONDS
set +e
"${vg[@]}" "${ava[@]}"
ava_rc=$?
set -e
echo "=== ava exited $ava_rc after $((SECONDS - t0))s under valgrind"

if ! node scripts/valgrind-summary.mjs "$logs" linux-fd.valgrind.node; then
  exit 1
fi
exit "$ava_rc"
