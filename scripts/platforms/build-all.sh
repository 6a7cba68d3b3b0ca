#!/usr/bin/env bash
# Builds the addon for the four release targets into .cache/artifacts/<target>/
# (git-ignored), apart from the developer's own `npm run build` output in the
# repository root. Run scripts/platforms/setup.sh first.
#   scripts/platforms/build-all.sh                 # all four
#   scripts/platforms/build-all.sh aarch64-unknown-linux-musl ...
# No JS binding is written (--no-js), and the type definitions napi may emit go
# to the artifact directory, so the script does not depend on how the JS layer
# is generated. One cargo build at a time (2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/platforms/env.sh

targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$TARGETS"
[ -x node_modules/.bin/napi ] || { echo "build-all: run npm ci first" >&2; exit 1; }

napi_build() { # <target> [napi flags...] [-- cargo flags...]
  local target=$1
  shift
  local out=$ARTIFACTS/$target
  rm -rf "$out"
  mkdir -p "$out"
  node_modules/.bin/napi build --platform --release --no-js \
    --manifest-path crates/node/Cargo.toml --target "$target" --output-dir "$out" "$@"
  # napi's typedef output is not an artifact; keep only the .node
  find "$out" -maxdepth 1 -type f ! -name '*.node' -delete
  local f=$out/linux-fd.$(abi_of "$target").node
  [ -f "$f" ] || { echo "build-all: $f was not produced" >&2; return 1; }
  echo "build-all: $f ($(stat -c %s "$f") bytes)"
}

build_one() {
  local target=$1
  case $target in
    x86_64-unknown-linux-gnu)
      # Debian's rustc-web (one toolchain for all four release builds, and no
      # rustup needed in the workflow's debian:12 container), linked by
      # napi-rs's cross gcc against a glibc 2.17 sysroot, so the binary does
      # not need this machine's glibc 2.36.
      (
        use_debian_rust
        export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=$PLAT/napi-cross/$target/bin/$target-gcc
        napi_build "$target"
      )
      ;;
    aarch64-unknown-linux-gnu)
      # Debian's prebuilt aarch64 std (libstd-rust-web-dev:arm64), linked by
      # napi-rs's aarch64 cross gcc against its glibc 2.17 sysroot.
      # (Debian's gcc-aarch64-linux-gnu links too, but needs glibc 2.34.)
      (
        use_debian_rust
        export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=$PLAT/napi-cross/$target/bin/$target-gcc
        napi_build "$target"
      )
      ;;
    x86_64-unknown-linux-musl)
      # std built from rust-web-src; musl-gcc links. napi replaces RUSTFLAGS
      # for musl targets (and CARGO_TARGET_*_RUSTFLAGS would be ignored), so
      # every flag goes in RUSTFLAGS, with -crt-static: a cdylib needs a
      # dynamic libc, and without it rustc silently produces no .so.
      (
        use_debian_rust
        export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=musl-gcc
        export RUSTFLAGS="-C target-feature=-crt-static -C link-self-contained=no -L native=$MUSL_EXTRA"
        napi_build "$target" -- -Zbuild-std=std,panic_unwind
      )
      ;;
    aarch64-unknown-linux-musl)
      # cargo-zigbuild (napi -x), zig from PyPI as the linker and its musl
      # libc; std built from rust-web-src. CARGO must stay unset: napi would
      # run it instead of `cargo zigbuild`.
      (
        use_debian_rust
        unset CARGO
        export PATH=$PYENV_DIR/bin:$PATH
        export RUSTFLAGS="-C target-feature=-crt-static"
        napi_build "$target" -x -- -Zbuild-std=std,panic_unwind
      )
      ;;
    *) echo "build-all: unknown target $target" >&2; return 1 ;;
  esac
}

failed=()
for t in "${targets[@]}"; do
  timed "build $t" build_one "$t" || failed+=("$t")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "build-all: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "build-all: ${#targets[@]} targets built into ${ARTIFACTS#"$ROOT"/}/"
