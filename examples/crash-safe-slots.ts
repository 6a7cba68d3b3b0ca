// Recipe: N slots that a process gives back by dying, for where a Semaphore
// will not do.
//
// An eventfd has no undo: a permit taken by a process that is then killed
// (or by a worker that is terminated) is never released, and the semaphore
// is a permit short for good. A kernel lock is released when its holder
// dies. So N slots can be N one-byte OFD locks on one file: slot i is byte
// i, and holding a slot is holding that byte's lock.
//
// First 2 child processes take both slots and stop working (they hang); the
// parent kills each with SIGKILL while it holds its slot. With a Semaphore,
// nothing could get in after that. Then 4 more children run a 100 ms job
// each: they can only get in because the kernel freed the killed ones'
// slots. They start loaded and waiting, and the parent lets them all go at
// once (a child that took longer than a job to start would otherwise find
// the others done, and the run would show 1 inside at a time: on a loaded
// machine it did). Each prints when it got in and when it is about to
// leave; the parent checks from those times that no more than 2 were ever
// inside at once, that 2 were, and that every slot is free at the end.
//
//   node --import=tsx examples/crash-safe-slots.ts
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { lockFile, testLock, tryLockFile, type FileLock } from '../index.js'

const SLOTS = 2
const CHILDREN = 4

/**
 * Takes one of `slots` slots of the file at `path`: a free one at once if
 * there is one; else it waits in the kernel for one slot (picked at random)
 * for up to 50 ms, and looks at all of them again, until one is free.
 */
async function takeSlot(path: string, slots: number, signal?: AbortSignal): Promise<FileLock> {
  for (;;) {
    for (let i = 0; i < slots; i++) {
      const lock = tryLockFile(path, { range: { start: i, length: 1 } })
      if (lock !== null) return lock
    }
    const i = Math.floor(Math.random() * slots)
    const wait = signal === undefined ? AbortSignal.timeout(50) : AbortSignal.any([signal, AbortSignal.timeout(50)])
    try {
      return await lockFile(path, { range: { start: i, length: 1 }, signal: wait })
    } catch (e) {
      if (signal?.aborted || (e as Error).name !== 'AbortError') throw e
    }
  }
}

async function child(path: string): Promise<void> {
  if (process.argv[4] === 'work') {
    console.log('ready')
    await new Promise((go) => process.stdin.once('data', go)) // the parent's "go"
    process.stdin.destroy()
  }
  using slot = await takeSlot(path, SLOTS)
  console.log(`enter ${process.hrtime.bigint()} slot ${slot.range!.start}`)
  if (process.argv[4] === 'hang') await new Promise(() => setInterval(() => {}, 1000)) // until killed
  await sleep(100) // the job
  console.log(`leave ${process.hrtime.bigint()}`)
} // the slot is given back here, or by the kernel if the process dies first

/**
 * Runs one child; `hang`: it is killed with SIGKILL once it holds a slot;
 * `work`: it waits for `go` (called once it is ready) to resolve.
 */
function run(path: string, mode: 'hang' | 'work', ready?: () => void, go?: Promise<void>): Promise<{ code: number | null; out: string }> {
  // Same node, same flags (e.g. --import=tsx), this file, in child mode.
  const p = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'child', path, mode], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  let out = ''
  p.stdout!.on('data', (d: Buffer) => {
    const first = !out.includes('ready')
    out += d
    if (mode === 'hang' && out.includes('enter')) p.kill('SIGKILL') // it crashes, holding its slot
    if (first && out.includes('ready')) ready?.()
  })
  if (go === undefined) p.stdin!.end()
  else void go.then(() => p.stdin!.end('go\n'))
  return new Promise((resolve) =>
    p.on('close', (code) => {
      if (!out.includes('ready')) ready?.() // died before it was ready: the others still go
      resolve({ code, out })
    }),
  )
}

async function parent(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'slots-'))
  const path = join(dir, 'slots.lock')
  // Both slots taken by processes that die holding them.
  const crashed = await Promise.all(Array.from({ length: SLOTS }, () => run(path, 'hang')))
  // Then the workers, let go together once all of them have started.
  let readies = 0
  let letGo!: () => void
  const go = new Promise<void>((resolve) => (letGo = resolve))
  const ready = (): void => {
    if (++readies === CHILDREN) letGo()
  }
  const workers = await Promise.all(Array.from({ length: CHILDREN }, () => run(path, 'work', ready, go)))

  const events: [bigint, number][] = []
  for (const { out } of workers) {
    for (const [, what, t] of out.matchAll(/^(enter|leave) (\d+)/gm)) events.push([BigInt(t!), what === 'enter' ? 1 : -1])
  }
  events.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]))
  let inside = 0
  let most = 0
  for (const [, d] of events) most = Math.max(most, (inside += d))

  const killed = crashed.filter((r) => r.code === null && r.out.includes('enter')).length
  const finished = workers.filter((r) => r.code === 0 && r.out.includes('leave')).length
  const allFree = testLock(path, { range: { start: 0, length: SLOTS } }) === null
  rmSync(dir, { recursive: true, force: true })
  console.log(`${SLOTS} slots: ${killed} holders killed, then ${finished} of ${CHILDREN} processes finished, at most ${most} inside at once`)
  if (killed !== SLOTS || finished !== CHILDREN || most !== SLOTS || !allFree) {
    console.error(`FAIL: expected ${SLOTS} holders killed, every later child to finish, exactly ${SLOTS} at once and every slot free`)
    process.exitCode = 1
  }
}

;(process.argv[2] === 'child' ? child(process.argv[3]!) : parent()).catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
