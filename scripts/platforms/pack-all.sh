#!/usr/bin/env bash
# Packs the four platform packages (npm/<platform>/) with their real binaries
# from .cache/artifacts (build-all.sh) and the root package as published, then
# for each target installs the root + that platform's tarball OFFLINE into a
# fresh project outside the repo and loads it through the loader, with no
# override of which .node to load:
#   linux-x64-gnu    host Node
#   linux-arm64-gnu  arm64 Node from npm under qemu-user (npm runs emulated too)
#   linux-x64-musl   musl Bun through the compatibility layer (bun-musl.sh), in
#                    a private mount namespace where /usr/bin/ldd is a musl
#                    one, which is what the loader reads to pick musl
#   linux-arm64-musl the same with arm64 musl Bun, under qemu-user
# The two musl packages are installed with --force: npm on this glibc host
# refuses a package whose "libc" is musl when it is named directly (--libc=musl
# only filters optional dependencies); --force skips that platform check only.
# The repo's npm/ dirs are not written to: they are copied to a stage first.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/platforms/env.sh
ensure_binfmt
work=$(mktemp -d "${TMPDIR:-/tmp}/linux-fd-pack-all-XXXXXX")
trap 'rm -rf "$work"' EXIT
tarballs=$work/tarballs
mkdir -p "$tarballs"
passed=0
failed=0

# --- pack ---------------------------------------------------------------------
for t in $TARGETS; do
  abi=$(abi_of "$t")
  art=$ARTIFACTS/$t/linux-fd.$abi.node
  [ -f "$art" ] || { echo "pack-all: no $art; run build-all.sh" >&2; exit 1; }
  stage=$work/stage/$abi
  mkdir -p "$stage"
  cp npm/"$abi"/package.json npm/"$abi"/README.md "$stage/"
  cp "$art" "$stage/"
  files=$(cd "$stage" && npm pack --json --pack-destination "$tarballs" | node -e '
    const [i] = JSON.parse(require("fs").readFileSync(0, "utf8"))
    console.log(i.filename + " " + i.files.map((f) => f.path).sort().join(","))')
  echo "pack-all: packed ${files% *} (${files#* })"
  [ "${files#* }" = "README.md,linux-fd.$abi.node,package.json" ] || { echo "pack-all: unexpected files" >&2; exit 1; }
done
root_tgz=$(node --input-type=module -e '
  import { execFileSync } from "node:child_process"
  import { copyFileSync, mkdirSync, writeFileSync } from "node:fs"
  import { join } from "node:path"
  import { publishedRootPackageJson, repoRoot } from "./scripts/release-manifest.mjs"
  const [work, out] = process.argv.slice(1)
  const run = (args, cwd) => JSON.parse(execFileSync("npm", args, { cwd, encoding: "utf8" }))
  const [dry] = run(["pack", "--dry-run", "--json", "--ignore-scripts"], repoRoot)
  const stage = join(work, "root-stage")
  for (const { path } of dry.files) {
    mkdirSync(join(stage, path, ".."), { recursive: true })
    copyFileSync(join(repoRoot, path), join(stage, path))
  }
  writeFileSync(join(stage, "package.json"), JSON.stringify(publishedRootPackageJson(), null, 2) + "\n")
  const [info] = run(["pack", "--json", "--ignore-scripts", "--pack-destination", out], stage)
  if (info.files.some((f) => f.path.endsWith(".node"))) throw new Error("the root tarball holds a .node")
  console.log(join(out, info.filename))
' "$work" "$tarballs")
echo "pack-all: packed ${root_tgz##*/} (root, as published)"

# --- install offline + load, per target -----------------------------------------
install_app() { # <abi> <npm flags...>: a fresh project with root + platform tarball
  local abi=$1
  shift
  local app=$work/app-$abi
  mkdir -p "$app"
  echo '{ "name": "pack-all-app", "version": "1.0.0", "private": true }' >"$app/package.json"
  cp scripts/pack-test/smoke.cjs scripts/pack-test/cjs.cjs "$app/"
  (cd "$app" && npm install --offline --no-audit --no-fund "$@" "$root_tgz" "$tarballs"/linux-fd-"$abi"-*.tgz >/dev/null)
  [ -f "$app/node_modules/linux-fd-$abi/linux-fd.$abi.node" ] ||
    { echo "pack-all: linux-fd-$abi was not installed" >&2; return 1; }
  echo "$app"
}
result() { # <label> <status>
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "pack-all: ok: $1"; else failed=$((failed + 1)); echo "pack-all: FAILED: $1"; fi
}

t0=$SECONDS
rc=0
app=$(install_app linux-x64-gnu) && (cd "$app" && PACK_TEST_PLATFORM=linux-x64-gnu node cjs.cjs) || rc=$?
result "linux-x64-gnu: installed offline, loaded by host Node $(node -v) ($((SECONDS - t0))s)" $rc

t0=$SECONDS
rc=0
arm_bin=$PLAT/node-arm64-${NODE_ARM64_VERSIONS%%.*}/package/bin
# npm itself runs on the arm64 Node, so its cpu check sees arm64 as a user's would
app=$(PATH="$arm_bin:$PATH" install_app linux-arm64-gnu) &&
  (cd "$app" && PATH="$arm_bin:$PATH" PACK_TEST_PLATFORM=linux-arm64-gnu node -e 'console.log("pack-all: running on " + process.arch + " " + process.version); require("./cjs.cjs")') || rc=$?
result "linux-arm64-gnu: installed offline by npm on arm64 Node, loaded under qemu-user ($((SECONDS - t0))s)" $rc

# A musl user's /usr/bin/ldd (Alpine's), which the loader reads to pick musl.
musl_run() { # <arch> <abi> <app> <ld-musl name>
  printf '#!/bin/sh\nexec /lib/%s --list "$@"\n' "$4" >"$work/musl-ldd"
  unshare --mount --propagation private sh -ec '
    mount --bind "$1" /usr/bin/ldd
    cd "$2"
    BUN_MUSL_ARCH=$3 PACK_TEST_PLATFORM=$4 "$5" cjs.cjs' sh "$work/musl-ldd" "$3" "$1" "$2" "$ROOT/scripts/platforms/bun-musl.sh"
}

t0=$SECONDS
rc=0
app=$(install_app linux-x64-musl --force) && musl_run x64 linux-x64-musl "$app" ld-musl-x86_64.so.1 || rc=$?
result "linux-x64-musl: installed offline (--force), loaded by musl Bun through the compatibility layer, /usr/bin/ldd a musl one ($((SECONDS - t0))s)" $rc

t0=$SECONDS
rc=0
app=$(install_app linux-arm64-musl --force) &&
  readelf -h "$app/node_modules/linux-fd-linux-arm64-musl/linux-fd.linux-arm64-musl.node" | grep -q 'Machine:.*AArch64' &&
  musl_run arm64 linux-arm64-musl "$app" ld-musl-aarch64.so.1 || rc=$?
result "linux-arm64-musl: installed offline (--force), loaded by arm64 musl Bun under qemu-user through the compatibility layer, /usr/bin/ldd a musl one ($((SECONDS - t0))s)" $rc

echo "pack-all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
