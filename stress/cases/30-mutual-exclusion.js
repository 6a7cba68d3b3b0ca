'use strict'
// Cross-process invariants: 8 processes each run 10,000 acquire / critical
// section / release on one Semaphore, and inside the critical section touch
// a shared MemFile mapping.
//
// - 1 permit: each increments a shared counter without atomics (read, work,
//   write back), so any overlap loses increments: the counter must end at
//   exactly processes x iterations. A shared "inside" word (also plain
//   read/write) must read 0 on entry.
// - 3 permits: each process raises its own flag on entry and counts the
//   raised flags (seq-cst Atomics on the mapping, so no reordering hides an
//   overlap); the maximum seen must be <= 3, and > 1 (the permits are used).
//
// A control run gives the 1-permit code a semaphore with 8 permits, and must
// see lost increments or overlaps: proof that the checks can fail.
//
// Processes mix the three ways to acquire: await acquire() (the event-loop
// path), acquireSync() (blocking in the kernel) and tryAcquire() polling.
const lfd = require('../..')

const PROCS = 8

const CHILD = `
const [permits, iters, id] = process.argv.slice(1).map(Number)
const sem = lfd.Semaphore.fromFd(3, { adopt: true })
const mf = lfd.MemFile.fromFd(4, { adopt: true })
const w = new Int32Array(mf.map({ writable: true }))
// words: 0 counter, 1 inside, 2 max inside (1 permit), 3 entries that saw inside != 0,
// 4 processes started, 8.. flags (one per process), 32+id max flags seen by this process
const acquire = async (i) => {
  switch (i % 10) {
    case 0: sem.acquireSync(); return
    case 1: while (!sem.tryAcquire()) await new Promise((r) => setImmediate(r)); return
    default: await sem.acquire()
  }
}
;(async () => {
  // Start together: each process counts itself in and waits for the rest,
  // so that they overlap in time however slowly they were spawned. A child's
  // whole run takes about 60 ms in the quick form; in one CI run the control
  // saw no overlap in 8,000 sections, the children having run one by one.
  Atomics.add(w, 4, 1)
  while (Atomics.load(w, 4) < ${PROCS}) await new Promise((r) => setTimeout(r, 1))
  let maxSeen = 0
  for (let i = 0; i < iters; i++) {
    await acquire(i)
    if (permits === 1) {
      if (w[1] !== 0) w[3]++
      w[1] = w[1] + 1
      const c = w[0]
      // widen the window: every 8th pass holds the permit across a loop turn
      if ((i & 7) === 0) await new Promise((r) => setImmediate(r))
      w[0] = c + 1
      w[1] = w[1] - 1
    } else {
      Atomics.store(w, 8 + id, 1)
      let n = 0
      for (let p = 0; p < ${PROCS}; p++) n += Atomics.load(w, 8 + p)
      if (n > maxSeen) maxSeen = n
      if ((i & 7) === 0) await new Promise((r) => setImmediate(r))
      n = 0
      for (let p = 0; p < ${PROCS}; p++) n += Atomics.load(w, 8 + p)
      if (n > maxSeen) maxSeen = n
      Atomics.store(w, 8 + id, 0)
    }
    sem.release()
    if ((i & 63) === 0) await new Promise((r) => setImmediate(r)) // let others in
  }
  w[32 + id] = maxSeen
  console.log('done')
})().catch((e) => { console.error(e); process.exit(1) })
`

module.exports = {
  name: 'mutual-exclusion',
  title: `${PROCS} processes x acquire/critical section/release on one Semaphore (1 and 3 permits)`,
  async run({ quick, log, util }) {
    const { runNode, check, fdCount, fdTable, fdDiff } = util
    const ITERS = quick ? 1_000 : 10_000
    const fds0 = fdCount()
    const table0 = fdTable()
    const held = []
    const figures = {}
    for (const [permits, semPermits] of [[1, 1], [3, 3], [1, PROCS]]) {
      const control = semPermits !== permits
      const sem = new lfd.Semaphore(semPermits)
      const mf = lfd.MemFile.create('stress-mutex', { sealable: true })
      mf.truncate(4096)
      mf.addSeals({ shrink: true, grow: true })
      const t0 = Date.now()
      const kids = []
      for (let id = 0; id < PROCS; id++) {
        kids.push(runNode(CHILD, { extraFds: [sem.fd, mf.fd], scriptArgs: [permits, ITERS, id], timeoutMs: 600_000 }))
      }
      const results = await Promise.all(kids.map((k) => k.done))
      const secs = (Date.now() - t0) / 1000
      for (const [i, r] of results.entries()) {
        check(r.code === 0 && r.signal === null, `child ${i} exited ${r.code}/${r.signal}: ${r.stderr}`)
      }
      const w = new Int32Array(mf.map())
      let permitsLeft = 0
      while (sem.tryAcquire()) permitsLeft++
      check(permitsLeft === semPermits, `${semPermits}-permit semaphore ends with ${permitsLeft} permits`)
      const total = PROCS * ITERS
      if (control) {
        const lost = total - w[0]
        check(lost > 0 || w[3] > 0, `control: with ${semPermits} permits the 1-permit checks saw nothing wrong`)
        log(`control, 1-permit code on ${semPermits} permits: counter ${w[0]} of ${total} (${lost} increments lost), ${w[3]} entries saw another inside`)
        held.push(`control: the same code on an ${semPermits}-permit semaphore lost ${lost} increments and saw ${w[3]} overlaps, so the checks above can fail`)
        figures.control = { total, counter: w[0], overlaps: w[3] }
      } else if (permits === 1) {
        check(w[0] === total, `counter is ${w[0]}, expected ${total}: increments were lost to an overlap`)
        check(w[3] === 0, `${w[3]} entries found another process inside`)
        check(w[1] === 0, `inside word ends at ${w[1]}`)
        log(`1 permit: ${PROCS} x ${ITERS} = ${total} critical sections in ${secs.toFixed(1)} s (${((secs * 1e6) / total).toFixed(0)} µs each): counter ${w[0]}, entries that saw another inside: ${w[3]}, permits left ${permitsLeft}`)
        held.push(`1 permit, ${PROCS} processes x ${ITERS}: non-atomic counter = ${w[0]} exactly, no entry ever saw another process inside, 1 permit left`)
        figures.onePermit = { total, counter: w[0], overlaps: w[3], secs }
      } else {
        const maxes = Array.from(w.subarray(32, 32 + PROCS))
        const max = Math.max(...maxes)
        check(max <= permits, `${max} processes were inside at once with ${permits} permits`)
        check(max > 1, `never more than ${max} inside: the ${permits} permits were not used concurrently`)
        log(`${permits} permits: ${total} critical sections in ${secs.toFixed(1)} s: most inside at once ${max} (per process: ${maxes.join(' ')}), permits left ${permitsLeft}`)
        held.push(`${permits} permits, ${PROCS} processes x ${ITERS}: at most ${max} inside at once (bound ${permits}), ${permitsLeft} permits left`)
        figures.threePermits = { total, maxInside: max, secs }
      }
      mf.close()
      sem.close()
    }
    check(fdCount() === fds0, `fds ${fds0} at start, ${fdCount()} at end: ${fdDiff(table0, fdTable())}`)
    return { held, figures }
  },
}
