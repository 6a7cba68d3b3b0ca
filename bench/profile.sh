#!/usr/bin/env bash
# Where the time of a sync call goes: samples `perf record -e cpu-clock`
# (a software clock, so it works on VMs without hardware counters) over a
# loop of one operation, and prints the share of each shared object: the
# kernel and libc are what C pays too; node (V8 + Node-API), the JIT'ed JS
# and the addon are the overhead of calling from JavaScript.
#
# Usage: bash bench/profile.sh [op ...]   ops: eventfd, semaphore, counter, flock, memfd, create
# (create: new EventCounter().close()). For per-instruction detail, see
# bench/instructions.js (callgrind).
# Needs perf (Debian: linux-perf); prints a note and exits 0 without it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! perf stat -e cpu-clock true >/dev/null 2>&1; then
  echo "perf is not available here (Debian: apt-get install linux-perf); skipping the profile"
  exit 0
fi
ops=("${@:-eventfd semaphore flock memfd}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/loop.js" <<'JS'
const lfd = require(process.argv[2])
const fs = require('node:fs')
const op = process.argv[3]
const N = op === 'create' ? 150_000 : 1_500_000
const efd = lfd.eventfd(0, lfd.EFD_NONBLOCK)
const sem = new lfd.Semaphore(0)
const ctr = new lfd.EventCounter(0)
const lockFd = fs.openSync(process.argv[4], 'w')
const bodies = {
  eventfd: () => { lfd.eventfdWrite(efd, 1); lfd.eventfdRead(efd) },
  semaphore: () => { sem.release(); sem.tryAcquire() },
  counter: () => { ctr.add(1); ctr.tryTake() },
  create: () => new lfd.EventCounter().close(),
  flock: () => { lfd.flock(lockFd, lfd.LOCK_EX); lfd.flock(lockFd, lfd.LOCK_UN) },
  memfd: () => fs.closeSync(lfd.memfdCreate('p')),
}
const body = bodies[op]
for (let i = 0; i < N / 10; i++) body()
const t0 = process.hrtime.bigint()
for (let i = 0; i < N; i++) body()
console.log(`${op}: ${(Number(process.hrtime.bigint() - t0) / N).toFixed(0)} ns per iteration under perf`)
JS
for op in ${ops[*]}; do
  perf record -q -e cpu-clock -F 4000 -o "$tmp/perf.data" node "$tmp/loop.js" "$PWD/index.js" "$op" "$tmp/lock" 2>/dev/null
  perf report -i "$tmp/perf.data" --no-children --sort dso -g none 2>/dev/null |
    awk -v op="$op" '/^ +[0-9.]+%/ { pct=$1; sub(/%/, "", pct); $1=""; sub(/^ +/, ""); name=$0;
        g = (name ~ /kernel/) ? "kernel" : (name ~ /libc/) ? "libc" : (name ~ /linux-fd/) ? "addon" : (name ~ /JIT/) ? "JIT JS" : (name ~ /^node$/) ? "node (V8, Node-API)" : "other";
        s[g] += pct }
      END { printf "  %-9s", op; for (g in s) printf "  %s %.1f%%", g, s[g]; printf "\n" }'
done
