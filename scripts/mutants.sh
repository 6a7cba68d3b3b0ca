#!/usr/bin/env bash
# Mutation testing (issue 16): cargo-mutants over the Rust crates, StrykerJS
# over src/*.ts. Results and survivors are recorded in docs/testing.md.
#
#   bash scripts/mutants.sh              full run: core, node, ts
#   bash scripts/mutants.sh core|node|ts only that part (full)
#   bash scripts/mutants.sh --quick      the CI form: the critical files changed
#                                        since the last release tag (none yet:
#                                        a fixed sample of them), within 10 minutes
#   bash scripts/mutants.sh --install    only install cargo-mutants
#
# cargo-mutants is installed from crates.io into .cache/cargo-bin (git-ignored),
# once per version; StrykerJS comes from the npm devDependencies.
# Reports: .cache/mutants/<part>/ (cargo-mutants' mutants.out, Stryker's HTML).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_MUTANTS_VERSION=27.1.0
ROOT=.cache/cargo-bin
BIN=$ROOT/bin/cargo-mutants
OUT=.cache/mutants

install_cargo_mutants() {
  if [ -x "$BIN" ] && "$BIN" mutants --version 2>/dev/null | grep -qF "$CARGO_MUTANTS_VERSION"; then
    return
  fi
  cargo install cargo-mutants --locked --version "$CARGO_MUTANTS_VERSION" --root "$ROOT"
}

# The files whose mutants must not survive (issue 16): they grant permits,
# take tokens, settle waits, check seals or close fds.
CRITICAL_RS=(crates/core/src/fd.rs crates/core/src/lockwait.rs crates/node/src/handle.rs)
CRITICAL_TS=(src/waiter.ts src/eventfd.ts)
[ -s src/memfd.ts ] && grep -q 'class MemFile' src/memfd.ts && CRITICAL_TS+=(src/memfd.ts)

quick=false
part=all
case "${1:-}" in
  --quick) quick=true ;;
  --install) install_cargo_mutants; exit 0 ;;
  core|node|ts) part=$1 ;;
  '') ;;
  *) echo "usage: $0 [--quick|--install|core|node|ts]" >&2; exit 2 ;;
esac

# Files for the quick form: the critical ones changed since the last release
# tag, or all of them when there is no tag yet.
changed() {
  local tag
  if tag=$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null); then
    git diff --name-only "$tag" -- "$@"
  else
    printf '%s\n' "$@"
  fi
}

mkdir -p "$OUT"
start=$SECONDS

run_core() { # $@: files (relative to the repo), or none for the whole crate
  install_cargo_mutants
  local args=()
  for f in "$@"; do args+=(--file "$f"); done
  # cargo test over crates/core only; the config is .cargo/mutants.toml.
  # CORE_EXTRA: more cargo-mutants options (the quick form's sample).
  # shellcheck disable=SC2086
  "$BIN" mutants --package linux-fd-core "${args[@]}" --output "$OUT/core" --no-shuffle -j 1 ${CORE_EXTRA:-}
}

# cargo-mutants has no custom test command, and the binding has no Rust
# tests: its mutants are killed by the ava specs. So cargo-mutants only lists
# them (with their diffs), and this loop applies each one in place, builds
# the addon (debug), runs the specs with --fail-fast, and puts the file back
# (also on Ctrl-C). A mutant that does not build is "unviable".
NODE_SPECS=${MUTANTS_NODE_SPECS:-__test__/fd-ownership.spec.ts __test__/eventfd.spec.ts __test__/event-counter.spec.ts __test__/mutants.spec.ts}
run_node() { # $@: files, or none for the whole crate
  install_cargo_mutants
  local args=() dir=$OUT/node
  for f in "$@"; do args+=(--file "$f"); done
  mkdir -p "$dir"
  # NODE_EXTRA: more cargo-mutants options for the listing (e.g. --re fd_handle_close).
  # shellcheck disable=SC2086
  "$BIN" mutants --list --json --diff --package linux-fd-node "${args[@]}" ${NODE_EXTRA:-} >"$dir/mutants.json"
  : >"$dir/caught.txt"; : >"$dir/missed.txt"; : >"$dir/unviable.txt"
  npm run build:ts --silent
  # ava's --match patterns (MUTANTS_MATCH, as in stryker.config.mjs), to
  # leave out tests that cannot run on this checkout.
  local match=()
  if [ -n "${MUTANTS_MATCH:-}" ]; then match=(--match "$MUTANTS_MATCH"); fi
  # Baseline: the specs must pass on the unmutated tree, or every mutant
  # would look caught.
  # shellcheck disable=SC2086
  npx napi build --platform --manifest-path crates/node/Cargo.toml --output-dir . --js binding.js --dts binding.d.ts >"$dir/build.log" 2>&1
  # shellcheck disable=SC2086
  if ! npx ava $NODE_SPECS "${match[@]}" >"$dir/baseline.log" 2>&1; then
    echo "crates/node: the specs fail on the unmutated tree (see $dir/baseline.log)" >&2
    return 1
  fi
  local n i name file
  n=$(node -e 'console.log(require(process.argv[1]).length)' "$PWD/$dir/mutants.json")
  echo "crates/node: $n mutants; specs: $NODE_SPECS"
  for ((i = 0; i < n; i++)); do
    # name, file, and the diff with its +++ line naming the file, for patch
    name=$(node -e 'const m = require(process.argv[1])[process.argv[2]]; console.log(`${m.file}:${m.span.start.line}:${m.span.start.column}: ${m.name.replace(/^[^:]*:\d+:\d+: /, "")}`)' "$PWD/$dir/mutants.json" "$i")
    file=$(node -e 'console.log(require(process.argv[1])[process.argv[2]].file)' "$PWD/$dir/mutants.json" "$i")
    node -e 'const m = require(process.argv[1])[process.argv[2]]; process.stdout.write(m.diff.replace(/^\+\+\+ .*$/m, `+++ ${m.file}`))' "$PWD/$dir/mutants.json" "$i" >"$dir/mutant.diff"
    cp "$file" "$dir/original.rs"
    trap 'cp "$dir/original.rs" "$file"' EXIT INT TERM
    patch -s -p0 <"$dir/mutant.diff"
    local t0=$SECONDS verdict
    if ! npx napi build --platform --manifest-path crates/node/Cargo.toml --output-dir . --js binding.js --dts binding.d.ts >"$dir/build.log" 2>&1; then
      verdict=unviable
    elif npx ava --fail-fast $NODE_SPECS "${match[@]}" >"$dir/test.log" 2>&1; then
      verdict=missed
    else
      verdict=caught
    fi
    cp "$dir/original.rs" "$file"
    trap - EXIT INT TERM
    echo "$name" >>"$dir/$verdict.txt"
    printf '%-8s %s (%ss)\n' "$verdict" "$name" "$((SECONDS - t0))"
  done
  # The tree's addon and generated binding again, from the unmutated source.
  npm run build:native --silent >"$dir/build.log" 2>&1
  printf 'crates/node: %s caught, %s missed, %s unviable\n' "$(wc -l <"$dir/caught.txt")" "$(wc -l <"$dir/missed.txt")" "$(wc -l <"$dir/unviable.txt")"
  [ ! -s "$dir/missed.txt" ]
}

run_ts() { # $@: files or file:lines ranges, or none for stryker.config.mjs' list
  local mutate=()
  if [ $# -gt 0 ]; then mutate=(--mutate "$(IFS=,; echo "$*")"); fi
  npx stryker run stryker.config.mjs "${mutate[@]}"
}

status=0
if $quick; then
  # The quick form (CI, within 10 minutes on 2 cores): the critical core
  # files changed since the last release tag (all of them while there is
  # none), every other mutant (--shard 0/2: fixed, the same each run), a
  # hung test cut at 20 s; and the waiter's settle, abort and close code
  # (src/waiter.ts lines 200-300) when that file changed. The binding is
  # left to full runs for now (docs/testing.md, "The CI quick form").
  mapfile -t rs < <(changed "${CRITICAL_RS[@]}")
  mapfile -t ts < <(changed "${CRITICAL_TS[@]}")
  core=()
  for f in "${rs[@]}"; do case $f in crates/core/*) core+=("$f") ;; esac; done
  if [ ${#core[@]} -gt 0 ]; then CORE_EXTRA='--shard 0/2 --timeout 20' run_core "${core[@]}" || status=1; fi
  # MUTANTS_QUICK_TS=0 leaves StrykerJS out (it took 29 min for that range).
  if [ "${MUTANTS_QUICK_TS:-1}" != 0 ]; then
    for f in "${ts[@]}"; do
      if [ "$f" = src/waiter.ts ]; then run_ts 'src/waiter.ts:200-300' || status=1; fi
    done
  fi
else
  case $part in
    all) run_core || status=1; run_node || status=1; run_ts || status=1 ;;
    core) run_core ;;
    node) run_node ;;
    ts) run_ts ;;
  esac
fi
printf 'mutants: %ss\n' "$((SECONDS - start))"
exit $status
