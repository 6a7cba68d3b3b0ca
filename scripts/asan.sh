#!/usr/bin/env bash
# AddressSanitizer and LeakSanitizer over the native code, on the stable
# toolchain.
#
#   bash scripts/asan.sh          # all three stages below
#   bash scripts/asan.sh core     # stages 1 and 2 only (the Rust tests)
#   bash scripts/asan.sh ava      # stage 3 only
#
# 1. ASan: `cargo test -p linux-fd-core` built with -Zsanitizer=address
#    (which on x86_64 Linux also runs LeakSanitizer at exit of each test binary).
# 2. LSan alone: the same tests with -Zsanitizer=leak.
# 3. The addon (crates/node) built with -Zsanitizer=address and loaded into an
#    uninstrumented node through gcc's ASan runtime (LD_PRELOAD), under the ava
#    suite. Leak detection is off there: node itself is not built for it.
#
# -Z flags are unstable options. RUSTC_BOOTSTRAP=1 is rustc's documented escape
# hatch that lets a stable compiler accept them (the Rust compiler's own build
# uses it); this toolchain's rust-std ships the sanitizer runtimes
# (lib/rustlib/<target>/lib/librustc-*_rt.{asan,lsan}.a). Nothing here changes
# the normal build: every build goes to its own target dir (target/asan,
# target/lsan) with an explicit --target, so build scripts and proc-macros stay
# uninstrumented.
#
# Exit status: non-zero if any stage fails or a sanitizer reports an error.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
host=$(rustc -vV | sed -n 's/^host: //p')
sysroot_lib="$(rustc --print sysroot)/lib/rustlib/$host/lib"
export RUSTC_BOOTSTRAP=1

for rt in asan lsan; do
  if ! ls "$sysroot_lib"/librustc-*_rt."$rt".a > /dev/null 2>&1; then
    echo "asan.sh: this toolchain's rust-std has no $rt runtime for $host: cannot run" >&2
    exit 1
  fi
done

if [ "$what" = all ] || [ "$what" = core ]; then
  echo "=== 1. ASan (+ its leak check): RUSTFLAGS=-Zsanitizer=address cargo test -p linux-fd-core --target $host --target-dir target/asan"
  t0=$SECONDS
  ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1 \
    RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
    cargo test -p linux-fd-core --target "$host" --target-dir target/asan
  echo "=== 1. ASan: passed in $((SECONDS - t0))s"

  echo "=== 2. LSan: RUSTFLAGS=-Zsanitizer=leak cargo test -p linux-fd-core --target $host --target-dir target/lsan"
  t0=$SECONDS
  RUSTFLAGS="-Zsanitizer=leak" RUSTDOCFLAGS="-Zsanitizer=leak" \
    cargo test -p linux-fd-core --target "$host" --target-dir target/lsan
  echo "=== 2. LSan: passed in $((SECONDS - t0))s"
fi

if [ "$what" = all ] || [ "$what" = ava ]; then
  # gcc's ASan runtime as a shared library: rustc links its own runtime only
  # into executables, so a cdylib leaves the __asan_* symbols to the process.
  libasan=$(gcc -print-file-name=libasan.so)
  if [ ! -e "$libasan" ]; then
    echo "gcc's libasan.so not found: installing Debian's libasan8"
    apt-get update -qq && apt-get install -y -qq libasan8
    libasan=$(gcc -print-file-name=libasan.so)
  fi
  echo "=== 3. the addon under ASan in node: RUSTFLAGS=-Zsanitizer=address cargo build -p linux-fd-node --target $host --target-dir target/asan"
  t0=$SECONDS
  RUSTFLAGS="-Zsanitizer=address" cargo build -p linux-fd-node --target "$host" --target-dir target/asan
  addon=target/asan/linux-fd.asan.node
  cp "target/asan/$host/debug/liblinux_fd_node.so" "$addon"
  # (no grep -q: it would close the pipe early and fail under pipefail)
  if [ "$(nm -D --undefined-only "$addon" | grep -c __asan_report_load)" -eq 0 ]; then
    echo "asan.sh: $addon is not instrumented" >&2
    exit 1
  fi
  # loader.spec.ts is left out: it loads no native code, and the
  # NAPI_RS_NATIVE_LIBRARY_PATH override makes its "nothing found" checks fail.
  specs=()
  for f in __test__/*.spec.ts; do
    [ "$f" = __test__/loader.spec.ts ] || specs+=("$f")
  done
  logs=target/asan/ava-logs
  rm -rf "$logs"
  mkdir -p "$logs"
  echo "    LD_PRELOAD=$libasan NAPI_RS_NATIVE_LIBRARY_PATH=$addon ASAN_OPTIONS=detect_leaks=0:log_path=$logs/asan"
  echo "    node node_modules/ava/entrypoints/cli.mjs --concurrency=1 ${specs[*]}"
  set +e
  LD_PRELOAD="$libasan" NAPI_RS_NATIVE_LIBRARY_PATH="$PWD/$addon" \
    ASAN_OPTIONS="detect_leaks=0:log_path=$PWD/$logs/asan" \
    node node_modules/ava/entrypoints/cli.mjs --concurrency=1 "${specs[@]}"
  ava_rc=$?
  set -e
  if compgen -G "$logs/asan.*" > /dev/null; then
    echo "=== 3. ASan reported errors (ava exited $ava_rc):" >&2
    cat "$logs"/asan.* >&2
    exit 1
  fi
  if [ "$ava_rc" -ne 0 ]; then
    echo "=== 3. ava failed ($ava_rc) with no ASan report" >&2
    exit "$ava_rc"
  fi
  echo "=== 3. the ava suite under ASan: passed, no ASan report, in $((SECONDS - t0))s"
fi
