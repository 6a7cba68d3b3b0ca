// Recipe: a Semaphore shared with child processes.
//
// The parent makes a Semaphore with 2 permits and starts 5 child processes,
// handing each the semaphore's fd as the child's fd 3. Every child takes a
// permit, holds it across an `await` (a 100 ms "job"), and gives it back when
// the `using` scope ends. The kernel does the counting, so at most 2 children
// can be inside at once, whichever process they are in.
//
// Each child prints when it got in and when it is about to leave (CLOCK_MONOTONIC,
// the same clock in every process); the parent checks from those times that
// no more than 2 jobs ever overlapped and that 2 did. The children start
// waiting and are let go together (a "go" on their stdin), so one slow to
// start cannot find the others done and make the check see 1.
//
//   node --import=tsx examples/semaphore-pool.ts
import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { Semaphore } from '../index.js'

const PERMITS = 2
const CHILDREN = 5

async function child(): Promise<void> {
  using sem = Semaphore.fromFd(3, { adopt: true }) // takes the inherited fd itself, close-on-exec from now on
  console.log('ready')
  await new Promise((go) => process.stdin.once('data', go)) // the parent's "go"
  process.stdin.destroy()
  {
    using permit = await sem.acquire() // waits on the event loop, no thread blocked
    console.log(`enter ${process.hrtime.bigint()}`)
    await sleep(100) // the job: the permit stays taken across the await
    console.log(`leave ${process.hrtime.bigint()}`)
  } // permit released here, even if the job threw
}

async function parent(): Promise<void> {
  using sem = new Semaphore(PERMITS)
  // Once every child is ready (or has died before it was), all are let go.
  let readies = 0
  let letGo!: () => void
  const go = new Promise<void>((resolve) => (letGo = resolve))
  const ready = (): void => {
    if (++readies === CHILDREN) letGo()
  }
  const runs = Array.from({ length: CHILDREN }, () => {
    // Same node, same flags (e.g. --import=tsx), this file, in child mode.
    const p = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'child'], {
      stdio: ['pipe', 'pipe', 'inherit', sem.fd], // stdin: the parent's "go" (below)
    })
    let out = ''
    p.stdout!.on('data', (d: Buffer) => {
      const first = !out.includes('ready')
      out += d
      if (first && out.includes('ready')) ready()
    })
    p.stdin!.on('error', () => {}) // EPIPE: the child died before its "go"
    void go.then(() => p.stdin!.end('go\n'))
    return new Promise<{ code: number | null; out: string }>((resolve) =>
      p.on('close', (code) => {
        if (!out.includes('ready')) ready()
        resolve({ code, out })
      }),
    )
  })
  const results = await Promise.all(runs)

  // Sweep the enter/leave times of all children to find the most inside at once.
  const events: [bigint, number][] = []
  for (const { out } of results) {
    for (const [, what, t] of out.matchAll(/^(enter|leave) (\d+)$/gm)) events.push([BigInt(t!), what === 'enter' ? 1 : -1])
  }
  events.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]))
  let inside = 0
  let most = 0
  for (const [, d] of events) most = Math.max(most, (inside += d))

  const allOk = results.every((r) => r.code === 0) && events.length === 2 * CHILDREN
  const permitsBack = sem.tryAcquire() && sem.tryAcquire() && !sem.tryAcquire()
  console.log(`${CHILDREN} child processes, ${PERMITS} permits: at most ${most} inside at once`)
  if (!allOk || most !== PERMITS || !permitsBack) {
    console.error(`FAIL: expected exactly ${PERMITS} at once, every child to exit 0 and every permit back`)
    process.exitCode = 1
  }
}

;(process.argv[2] === 'child' ? child() : parent()).catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
