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

# A debug build without debug info (--debug, CARGO_PROFILE_DEV_DEBUG=0): CI
# caches nothing, so it builds cargo-mutants on every run, and the release
# build took 11 min on 2 loaded cores where this one took under 5
# (docs/testing.md, "Time"). Its own speed hardly matters: a run's time is
# the builds and tests it launches.
install_cargo_mutants() {
  if [ -x "$BIN" ] && "$BIN" mutants --version 2>/dev/null | grep -qF "$CARGO_MUTANTS_VERSION"; then
    return
  fi
  local t0=$SECONDS
  CARGO_PROFILE_DEV_DEBUG=0 cargo install cargo-mutants --locked --version "$CARGO_MUTANTS_VERSION" \
    --debug --root "$ROOT"
  printf 'cargo-mutants %s installed in %ss\n' "$CARGO_MUTANTS_VERSION" "$((SECONDS - t0))"
}

# The files whose mutants must not survive (issue 16): they grant permits,
# take tokens, settle waits, check seals or close fds.
CRITICAL_RS=(crates/core/src/fd.rs crates/core/src/eventfd.rs crates/core/src/lockwait.rs crates/node/src/handle.rs)
CRITICAL_TS=(src/waiter.ts src/eventfd.ts src/memfd.ts src/lock.ts)

# The quick form's fixed sample (CI): in those files, the code that grants
# permits, takes tokens, settles waits, checks seals and closes fds.
# - crates/core: the functions matching QUICK_CORE_RE (fd close and identity
#   checks, eventfd reads and writes, the lock try);
# - src/: line ranges of the TypeScript (StrykerJS), killed by
#   __test__/mutants.spec.ts alone (a few seconds a mutant; the full specs
#   made the sample take 21 min).
QUICK_CORE_RE='GuardedFd::(close|take|confirm_lost)|FdIdentity::check|eventfd_read|eventfd_write|read_u64|short_io|try_lock'
# Each entry: file|anchor (an extended regex naming the first line)|offset
# from the anchor|line count. Anchors, not line numbers, so that an edit
# elsewhere in the file does not move the sample (resolve_ts below).
QUICK_TS=(
  'src/waiter.ts|^  #fire\(errno|0|54'                      # #fire, #drain, #shift, #unlink: a token read per waiter at the head, settles waits
  'src/waiter.ts|^  #failAll\(err|0|8'                      # #failAll
  "src/eventfd.ts|^      'Semaphore',\$|1|5"             # Semaphore's read: takes one permit, or nothing
  'src/eventfd.ts|^  tryAcquire\(\): boolean|3|4'           # tryAcquire
  'src/memfd.ts|^    const seals = native\.memfdGetSeals\(fd\)|0|3' # map(): the shrink-seal check
)
QUICK_TS_SPECS='__test__/mutants.spec.ts'
# Survivors of the TypeScript sample known to be equivalent or out of reach
# of a test (docs/testing.md says why, one by one): "file mutator
# replacement @ the mutated line's text", as the check below prints a
# survivor (the line's text, not its number, so the list survives edits
# elsewhere in the file). Any other survivor
# fails the quick form. A line number that moves makes its entry stale, and
# the survivor then fails the run until it is checked again.
TS_KNOWN=$(cat <<'KNOWN'
src/eventfd.ts EqualityOperator core.fd <= 0 @ if (core.fd < 0) throw core.unusable('eventfd_read')
src/eventfd.ts StringLiteral "" @ if (core.fd < 0) throw core.unusable('eventfd_read')
src/waiter.ts EqualityOperator this.#socket === undefined @ else if (this.#socket !== undefined) this.#onError(errno)
src/waiter.ts StringLiteral "" @ else this.#failAll(this.fail(errno, 'poll'))
src/waiter.ts ConditionalExpression true @ if (this.#socket === undefined || this.fd < 0) return this.#failAll(e)
src/waiter.ts ConditionalExpression false @ if (this.#socket === undefined || this.fd < 0) return this.#failAll(e)
src/waiter.ts LogicalOperator this.#socket === undefined && this.fd < 0 @ if (this.#socket === undefined || this.fd < 0) return this.#failAll(e)
src/waiter.ts EqualityOperator this.#socket !== undefined @ if (this.#socket === undefined || this.fd < 0) return this.#failAll(e)
src/waiter.ts EqualityOperator this.fd >= 0 @ if (this.#socket === undefined || this.fd < 0) return this.#failAll(e)
src/waiter.ts EqualityOperator this.fd <= 0 @ if (this.#socket === undefined || this.fd < 0) return this.#failAll(e)
src/waiter.ts ConditionalExpression true @ while (this.#size > 0 && this.fd >= 0) {
src/waiter.ts EqualityOperator this.fd > 0 @ while (this.#size > 0 && this.fd >= 0) {
src/waiter.ts BlockStatement {} @ } catch (e) {
src/waiter.ts ConditionalExpression true @ if (this.#size === 0) this.#stopWatch()
src/waiter.ts BlockStatement {} @ #failAll(err: unknown): void {
src/waiter.ts BlockStatement {} @ for (const w of queue) {
src/waiter.ts ConditionalExpression true @ if (this.#giveBack !== undefined) continue
src/memfd.ts ConditionalExpression false @ if (seals < 0) throw self.#fail(seals, 'fcntl')
src/memfd.ts StringLiteral "" @ if (seals < 0) throw self.#fail(seals, 'fcntl')
KNOWN
)

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

# cargo-mutants has no custom test command, and the binding's only Rust
# tests are rt/ext.rs's token checks: its mutants are killed by the ava specs. So cargo-mutants only lists
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
  # The tree's addon and generated binding, put back at the end (a release
  # rebuild would take minutes).
  local saved=$dir/saved addon
  rm -rf "$saved"; mkdir -p "$saved"
  for addon in ./*.node; do [ -e "$addon" ] && cp "$addon" "$saved/"; done
  cp binding.js binding.d.ts "$saved/"
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
  # The tree's addon and generated binding again (or a release build of the
  # unmutated source, when there was no addon before).
  if compgen -G "$saved/*.node" >/dev/null; then
    cp "$saved"/* .
  else
    npm run build:native --silent >"$dir/build.log" 2>&1
  fi
  printf 'crates/node: %s caught, %s missed, %s unviable\n' "$(wc -l <"$dir/caught.txt")" "$(wc -l <"$dir/missed.txt")" "$(wc -l <"$dir/unviable.txt")"
  [ ! -s "$dir/missed.txt" ]
}

# "file|anchor|offset|count" -> "file:start-end" (StrykerJS's --mutate
# range). Fails, naming the entry, if the anchor is not found exactly once.
resolve_ts() {
  local file anchor offset count lines
  IFS='|' read -r file anchor offset count <<<"$1"
  lines=$(grep -nE -- "$anchor" "$file" | cut -d: -f1)
  if [ "$(printf '%s\n' "$lines" | grep -c .)" != 1 ]; then
    echo "mutants: the anchor /$anchor/ matches $(printf '%s\n' "$lines" | grep -c .) lines of $file, not 1: fix QUICK_TS" >&2
    return 1
  fi
  echo "$file:$((lines + offset))-$((lines + offset + count - 1))"
}

run_ts() { # $@: files or file:lines ranges, or none for stryker.config.mjs' list
  local mutate=()
  if [ $# -gt 0 ]; then mutate=(--mutate "$(IFS=,; echo "$*")"); fi
  npx stryker run stryker.config.mjs "${mutate[@]}" || return 1
  ts_survivors
}

# Lists the survivors of the last StrykerJS run (Survived or NoCoverage), and
# fails if one is not in TS_KNOWN.
ts_survivors() {
  TS_KNOWN=$TS_KNOWN node - "${MUTANTS_REPORT:-$OUT/ts}/mutation.json" <<'EOF'
const fs = require('node:fs')
const report = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const norm = (s) => s.replace(/\s+/g, ' ').trim()
const known = new Set(process.env.TS_KNOWN.split('\n').map(norm).filter(Boolean))
let fresh = 0
const counts = {}
for (const [file, { mutants }] of Object.entries(report.files)) {
  for (const m of mutants) {
    counts[m.status] = (counts[m.status] ?? 0) + 1
    if (m.status !== 'Survived' && m.status !== 'NoCoverage') continue
    const line = (report.files[file].source ?? '').split('\n')[m.location.start.line - 1] ?? ''
    const key = norm(`${file} ${m.mutatorName} ${m.replacement ?? ''} @ ${line}`)
    const isKnown = known.has(key)
    if (!isKnown) fresh++
    console.log(`${isKnown ? 'known   ' : 'SURVIVED'} ${file}:${m.location.start.line} ${key.slice(file.length + 1, 200)}`)
  }
}
console.log(`src: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}; ${fresh} new survivor(s)`)
process.exit(fresh === 0 ? 0 : 1)
EOF
}

status=0
if $quick; then
  # The quick form (CI, about 10 minutes on 2 cores with the install): the
  # fixed sample above, in the critical files changed since the last release
  # tag (all of them while there is none). A hung test is cut at 20 s.
  mapfile -t rs < <(changed "${CRITICAL_RS[@]}")
  mapfile -t ts < <(changed "${CRITICAL_TS[@]}")
  core=()
  for f in "${rs[@]}"; do case $f in crates/core/*) core+=("$f") ;; esac; done
  # MUTANTS_QUICK_CORE=0 / MUTANTS_QUICK_TS=0 leave a part out.
  if [ ${#core[@]} -gt 0 ] && [ "${MUTANTS_QUICK_CORE:-1}" != 0 ]; then
    t0=$SECONDS
    # exit 3: some mutants timed out, which counts as caught (a hang is
    # detected). cargo-mutants also exits 3 when some timed out and others
    # were missed: stop 41's first CI passed with 3 missed mutants of the
    # new GuardedFd::close_received. So the missed list is checked too.
    CORE_EXTRA="--timeout 20 --re ${QUICK_CORE_RE}" run_core "${core[@]}" || [ $? = 3 ] || status=1
    if [ -s "$OUT/core/mutants.out/missed.txt" ]; then
      echo "mutants: crates/core mutants missed (no test failed):" >&2
      cat "$OUT/core/mutants.out/missed.txt" >&2
      status=1
    fi
    printf 'mutants, crates/core sample: %ss\n' "$((SECONDS - t0))"
  fi
  sample=()
  for r in "${QUICK_TS[@]}"; do
    for f in "${ts[@]}"; do if [ "${r%%|*}" = "$f" ]; then sample+=("$(resolve_ts "$r")") || exit 1; fi; done
  done
  if [ ${#sample[@]} -gt 0 ] && [ "${MUTANTS_QUICK_TS:-1}" != 0 ]; then
    t0=$SECONDS
    MUTANTS_SPECS=$QUICK_TS_SPECS MUTANTS_TIMEOUT_MS=30000 run_ts "${sample[@]}" || status=1
    printf 'mutants, src sample: %ss\n' "$((SECONDS - t0))"
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
