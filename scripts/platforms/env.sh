# Shared settings for scripts/platforms/*.sh. Source it; it changes nothing on
# the machine. Paths are relative to the repository root (the caller cd's there).
#
# Versions of the tools fetched from registries (npm, PyPI). One place to bump.
NODE_ARM64_VERSIONS=${NODE_ARM64_VERSIONS:-"22.23.3 24.21.0"}
BUN_MUSL_VERSION=${BUN_MUSL_VERSION:-1.4.5}
DENO_VERSION=${DENO_VERSION:-2.9.6}
ZIGLANG_VERSION=${ZIGLANG_VERSION:-0.14.1}
CARGO_ZIGBUILD_VERSION=${CARGO_ZIGBUILD_VERSION:-0.24.1}

# @napi-rs/cross-toolchain-x64-target-<arch>: the newest each target has.
NAPI_CROSS_X64_VERSION=${NAPI_CROSS_X64_VERSION:-1.0.0}
NAPI_CROSS_ARM64_VERSION=${NAPI_CROSS_ARM64_VERSION:-1.0.3}

ROOT=$(pwd)
PLAT=$ROOT/.cache/platforms          # git-ignored (.cache/)
ARTIFACTS=$ROOT/.cache/artifacts     # <target>/linux-fd.<abi>.node
MUSL_EXTRA=$PLAT/musl-extra          # link helpers for x86_64 musl
MUSL_ROOT=$PLAT/musl-root/lib        # the Bun-musl compatibility layer
PYENV_DIR=$PLAT/py                   # venv with ziglang + cargo-zigbuild

TARGETS="x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-musl"

abi_of() {
  case $1 in
    x86_64-unknown-linux-gnu) echo linux-x64-gnu ;;
    aarch64-unknown-linux-gnu) echo linux-arm64-gnu ;;
    x86_64-unknown-linux-musl) echo linux-x64-musl ;;
    aarch64-unknown-linux-musl) echo linux-arm64-musl ;;
    *) echo "unknown target $1" >&2; return 1 ;;
  esac
}

# Debian's rustc-web toolchain, not rustup's proxies (they come first on PATH
# and have neither rust-src nor an aarch64 std). Only for the cross builds.
use_debian_rust() {
  export PATH=/usr/bin:/bin:$PATH
  export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO=/usr/bin/cargo
  export RUSTC_BOOTSTRAP=1              # -Zbuild-std on a stable compiler
  # A separate target dir: another rustc's artefacts must not mix with the
  # developer's (rustup stable) build in target/.
  export CARGO_TARGET_DIR=$ROOT/target/platforms
}

# qemu-user through binfmt_misc, so that child processes of an emulated
# program (ava's workers, /bin/sh from npm) run too. There is no systemd here.
ensure_binfmt() {
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && return 0
  mountpoint -q /proc/sys/fs/binfmt_misc ||
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] ||
    cat /usr/lib/binfmt.d/qemu-aarch64.conf >/proc/sys/fs/binfmt_misc/register
}

# Prints "<label> <seconds>s" after the command; returns its status.
timed() {
  local label=$1 t0=$SECONDS rc=0
  shift
  "$@" || rc=$?
  printf '=== %s: %ss (exit %s)\n' "$label" "$((SECONDS - t0))" "$rc"
  return $rc
}
