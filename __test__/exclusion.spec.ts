import test from 'ava'

// Exclusion across processes with 2 and 3 permits (issue 16), each with a
// control that must fail. CHILDREN processes share one Semaphore (fd 3) and
// one MemFile (fd 4) whose shared mapping holds two Int32 words updated with
// Atomics: 0 = how many are inside now, 1 = the most ever seen inside. Each
// child loops: acquire, inside++, record the max, hold the permit across a
// ~2 ms await, inside--, release. With P permits the max must be exactly P:
// never above (the semaphore bounds) and reached (it saturates, since there
// are more children than permits and all start together). The control gives
// the same children P + 1 permits and applies the P-permit check, which must
// fail: proof that the check can see an overlap.
//
// Serial: children on 2 cores; concurrent tests would only slow them.
import { MemFile, Semaphore } from '../index.js'
import { runNode } from './helpers/child.js'
import { SLOWDOWN } from './helpers/emulation.js'

const CHILDREN = 6
const ITERS = 60
const HOLD_MS = 2

// Word 2 counts children ready; each waits for all before its first acquire,
// so the permits are contended from the start. Word 3 counts entries.
const CHILD = `
const sem = lfd.Semaphore.fromFd(3, { adopt: true })
const mf = lfd.MemFile.fromFd(4, { adopt: true })
const w = new Int32Array(mf.map({ writable: true }))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
;(async () => {
  Atomics.add(w, 2, 1)
  while (Atomics.load(w, 2) < ${CHILDREN}) await sleep(1)
  for (let i = 0; i < ${ITERS}; i++) {
    const permit = await sem.acquire()
    const now = Atomics.add(w, 0, 1) + 1
    Atomics.add(w, 3, 1)
    for (let max = Atomics.load(w, 1); now > max; ) {
      const prev = Atomics.compareExchange(w, 1, max, now)
      if (prev === max) break
      max = prev
    }
    await sleep(${HOLD_MS})
    Atomics.sub(w, 0, 1)
    permit.release()
  }
})().catch((e) => { console.error(e); process.exit(1) })
`

interface Seen {
  /** Most children inside at once. */
  max: number
  /** Inside at the end (must be 0). */
  inside: number
  /** Entries counted (must be CHILDREN x ITERS). */
  entries: number
}

/** Runs the children over a semaphore of `semPermits`; returns what the shared words saw. */
async function run(semPermits: number): Promise<Seen> {
  const sem = new Semaphore(semPermits)
  const mf = MemFile.create('exclusion')
  try {
    mf.truncate(16)
    // map() needs the file sealed against shrinking (its SIGBUS guard)
    mf.addSeals({ shrink: true })
    const results = await Promise.all(
      Array.from({ length: CHILDREN }, () => runNode(CHILD, { extraFds: [sem.fd, mf.fd], timeoutMs: 60_000 * SLOWDOWN })),
    )
    for (const r of results) {
      if (r.code !== 0) throw new Error(`child exited ${r.code ?? r.signal}: ${r.stderr}`)
    }
    const w = new Int32Array(mf.map())
    return { max: w[1], inside: w[0], entries: w[3] }
  } finally {
    sem.close()
    mf.close()
  }
}

/** The P-permit checks: at most P inside at once, and P reached; everyone done and out. */
function exclusionHolds(permits: number, seen: Seen): boolean {
  return seen.max === permits && seen.inside === 0 && seen.entries === CHILDREN * ITERS
}

for (const permits of [2, 3]) {
  test.serial(`${permits} permits: ${CHILDREN} processes never have more than ${permits} inside, and reach ${permits}`, async (t) => {
    const seen = await run(permits)
    t.deepEqual(seen, { max: permits, inside: 0, entries: CHILDREN * ITERS })
    t.true(exclusionHolds(permits, seen))
  })

  test.serial(`control: ${permits + 1} permits fail the ${permits}-permit checks (max ${permits + 1})`, async (t) => {
    const seen = await run(permits + 1)
    t.is(seen.max, permits + 1, 'the control saturates its permits')
    t.false(exclusionHolds(permits, seen), `the ${permits}-permit checks cannot see an overlap`)
  })
}
