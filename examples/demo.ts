// npm run demo: the package's main job, told as a short story.
//
// 1. A tour of the low-level calls (Python os/fcntl semantics).
// 2. Four child processes share one Semaphore with 2 permits. Each takes a
//    permit many times and holds it across an `await`, counting itself in and
//    out in a sealed MemFile that every process maps. The parent checks that
//    2 children were inside at once, and never 3. Each child writes one log
//    line under lockFile and says it is done through an EventCounter.
// 3. Control: the same job with 1 permit must see exactly 1 inside. It shows
//    that the "2 at once" above came from the semaphore, and that the check
//    can tell the difference.
// 4. A stranger joins: a process that is not our child (its parent exits at
//    once) connects to a socket file, receives the Semaphore and the MemFile
//    over it (FdChannel, SCM_RIGHTS), and adds 1 to the shared counter under
//    the semaphore.
// It exits 0 only if every check holds.
//
//   node --import=tsx examples/demo.ts
//
// `--break=unbounded` (the semaphore gets 4 permits while the job expects 2)
// and `--break=serial` (1 permit while it expects 2) make the check fail on
// purpose: the tests run both to prove that it can. `--stagger=MS` delays
// child i by i*MS before it starts, as a loaded machine does: the start gate
// must still line them up (a test runs it with --break=unbounded).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as lfd from '../index.js'

const CHILDREN = 4
const ROUNDS = 20
const HOLD_MS = 10 // how long a child keeps its permit, across an await

async function tour(): Promise<void> {
  console.log('1. The low-level calls behave like Python\'s os and fcntl modules')
  const efd = lfd.eventfd(0, lfd.EFD_NONBLOCK)
  lfd.eventfdWrite(efd, 2)
  lfd.eventfdWrite(efd, 40n)
  console.log('   eventfd: write 2, write 40n, read ->', lfd.eventfdRead(efd))
  try {
    lfd.eventfdRead(efd)
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    console.log(`   eventfd read at 0, non-blocking -> ${err.code} (${err.message})`)
  }
  fs.closeSync(efd)

  const sfd = lfd.eventfd(3, lfd.EFD_SEMAPHORE | lfd.EFD_NONBLOCK)
  const reads = [lfd.eventfdRead(sfd), lfd.eventfdRead(sfd), lfd.eventfdRead(sfd)]
  console.log(`   EFD_SEMAPHORE with 3: three reads -> ${reads.join(', ')}; a fourth -> ${tryCode(() => lfd.eventfdRead(sfd))}`)
  fs.closeSync(sfd)

  const mfd = lfd.memfdCreate('demo', lfd.MFD_CLOEXEC)
  fs.writeSync(mfd, 'written with fs.writeSync on a memfd')
  const back = Buffer.alloc(fs.fstatSync(mfd).size)
  fs.readSync(mfd, back, 0, back.length, 0)
  console.log('   memfd read back with fs.readSync ->', JSON.stringify(back.toString()))
  fs.closeSync(mfd)

  const timer = new lfd.Timer()
  timer.set(10)
  const t0 = process.hrtime.bigint()
  const ticks = await timer.wait()
  console.log(`   timerfd: ${ticks} tick after ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms, awaited on the event loop`)
  timer.close()
}

function tryCode(fn: () => unknown): string | undefined {
  try {
    fn()
    return 'ok'
  } catch (e) {
    return (e as NodeJS.ErrnoException).code
  }
}

// Shared memory, as Int32 words: [0] rounds done by all children, [1] children
// inside now, [2] the most ever inside at once, [3 + i] rounds done by child i.
async function childMain(i: number, logPath: string, staggerMs: number): Promise<void> {
  if (staggerMs > 0) await new Promise((resolve) => setTimeout(resolve, i * staggerMs))
  using mem = lfd.MemFile.fromFd(3, { adopt: true })
  using sem = lfd.Semaphore.fromFd(4, { adopt: true })
  using done = lfd.EventCounter.fromFd(5, { adopt: true })
  using ready = lfd.EventCounter.fromFd(6, { adopt: true })
  using go = lfd.Semaphore.fromFd(7, { adopt: true })
  const words = new Int32Array(mem.map({ writable: true }))
  // A start gate: children start seconds apart on a loaded machine (each
  // loads node and tsx), and ones that never run at the same time could not
  // show what the semaphore allows. Each says it is ready, then passes a
  // turnstile the parent opens once all are: they all start together.
  ready.add(1)
  ;(await go.acquire()).release()
  for (let r = 0; r < ROUNDS; r++) {
    using permit = await sem.acquire() // given back at the end of each round
    const inside = Atomics.add(words, 1, 1) + 1
    let most = Atomics.load(words, 2)
    while (inside > most && Atomics.compareExchange(words, 2, most, inside) !== most) most = Atomics.load(words, 2)
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS)) // others may enter meanwhile, if permits allow
    Atomics.add(words, 0, 1)
    words[3 + i]!++
    Atomics.sub(words, 1, 1)
  }
  {
    using lock = await lfd.lockFile(logPath)
    fs.appendFileSync(logPath, `   child ${i} (pid ${process.pid}) did ${words[3 + i]} rounds\n`)
  }
  done.add(1)
  mem.unmap(words.buffer)
}

// Runs the job with a semaphore of `permits`; returns its checks, which
// expect the most inside at once to be exactly `expect`.
type Check = [what: string, ok: boolean, why?: string]

async function runJob(permits: number, expect: number, staggerMs: number): Promise<Check[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-demo-'))
  const logPath = path.join(dir, 'log.txt')
  using mem = lfd.MemFile.create('demo-shared')
  mem.truncate(4096)
  mem.addSeals({ shrink: true }) // no process can shrink it: mappings are SIGBUS-safe
  const words = new Int32Array(mem.map({ writable: true }))
  using sem = new lfd.Semaphore(permits)
  using done = new lfd.EventCounter()
  using ready = new lfd.EventCounter()
  using go = new lfd.Semaphore(0)
  const exits: Promise<number | null>[] = []
  const failed = new AbortController() // a child that fails ends the waits below, not hangs them
  for (let i = 0; i < CHILDREN; i++) {
    // This same file in child mode, with the same node flags (--import=tsx).
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'child', String(i), logPath, String(staggerMs)], {
      stdio: ['ignore', 'inherit', 'inherit', mem.fd, sem.fd, done.fd, ready.fd, go.fd],
    })
    exits.push(
      new Promise((resolve) =>
        child.on('exit', (code) => {
          if (code !== 0) failed.abort(new Error(`child ${i} exited with ${code}`))
          resolve(code)
        }),
      ),
    )
  }
  let started = 0n
  while (started < BigInt(CHILDREN)) started += await ready.take({ signal: failed.signal }) // each child's ready.add(1)
  go.release(1) // the turnstile: each child passes it on to the next
  let finished = 0n
  while (finished < BigInt(CHILDREN)) finished += await done.take({ signal: failed.signal }) // woken by each child's add(1)
  const codes = await Promise.all(exits)
  const log = fs.readFileSync(logPath, 'utf8')
  process.stdout.write(log)
  const most = words[2]!
  let back = 0
  while (sem.tryAcquire()) back++
  const checks: Check[] = [
    [
      `the most children inside at once was ${most} (expected ${expect})`,
      most === expect,
      most > expect ? `the semaphore let ${most} in with ${expect} expected` : `${expect} permits never overlapped`,
    ],
    [`${words[0]} rounds counted in shared memory = ${CHILDREN} x ${ROUNDS}`, words[0] === CHILDREN * ROUNDS],
    [`${CHILDREN} log lines written under lockFile`, log.trim().split('\n').length === CHILDREN],
    [`all children exited 0 (${codes.join(', ')})`, codes.every((c) => c === 0)],
    [`every permit is back (${back} of ${permits})`, back === permits],
  ]
  mem.unmap(words.buffer)
  fs.rmSync(dir, { recursive: true, force: true })
  return checks
}

// Step 4's stranger: connects, takes what it is sent, does one guarded
// increment, and says so.
async function strangerMain(sock: string): Promise<void> {
  using ch = await lfd.FdChannel.connect(sock)
  const { fds } = await ch.receive({ signal: AbortSignal.timeout(10_000) })
  using sem = lfd.Semaphore.fromFd(fds.take(0), { adopt: true })
  using mem = lfd.MemFile.fromFd(fds.take(1), { adopt: true })
  const counter = new Int32Array(mem.map({ writable: true }))
  {
    using _permit = await sem.acquire()
    counter[0] = counter[0]! + 1
  }
  await ch.send('done')
}

async function stranger(): Promise<Check[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-demo-'))
  const sock = path.join(dir, 'job.sock')
  using sem = new lfd.Semaphore(1)
  using mem = lfd.MemFile.create('stranger')
  mem.truncate(4096)
  mem.addSeals({ shrink: true })
  const counter = new Int32Array(mem.map({ writable: true }))
  using server = lfd.FdChannel.listen(sock) // mode 0600, and only this uid may connect
  // A launcher starts the stranger detached and exits at once, so the
  // stranger's parent is not us: it finds the job by the socket path alone.
  const argv = [...process.execArgv, process.argv[1]!, 'stranger', sock]
  const launcher = spawn(process.execPath, ['-e', `require('node:child_process').spawn(process.execPath, ${JSON.stringify(argv)}, { detached: true, stdio: 'inherit' }).unref()`], {
    stdio: 'inherit',
  })
  await once(launcher, 'exit')
  using ch = await server.accept({ signal: AbortSignal.timeout(10_000) })
  const { pid } = ch.peer
  const ppid = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])
  await ch.send('job', [sem, mem])
  const reply = await ch.receive({ signal: AbortSignal.timeout(10_000) })
  fs.rmSync(dir, { recursive: true, force: true })
  return [
    [`process ${pid} joined through ${sock}; its parent is ${ppid}, not us (${process.pid})`, ppid !== process.pid],
    [`it said ${JSON.stringify(String(reply.data))} after adding 1 under the semaphore: counter = ${counter[0]}`, counter[0] === 1 && String(reply.data) === 'done'],
    [`its permit is back (${sem.count} of 1)`, sem.count === 1n],
  ]
}

function report(checks: Check[]): boolean {
  for (const [what, ok, why] of checks) console.log(`   ${ok ? 'ok  ' : 'FAIL'} ${what}${ok || !why ? '' : `: ${why}`}`)
  return checks.every(([, ok]) => ok)
}

async function parentMain(): Promise<void> {
  const broken = (process.argv.find((a) => a.startsWith('--break=')) ?? '').slice('--break='.length)
  const permits = ({ unbounded: CHILDREN, serial: 1 } as Record<string, number>)[broken] ?? 2
  const staggerMs = Number((process.argv.find((a) => a.startsWith('--stagger=')) ?? '=0').split('=')[1])
  if (broken) console.log(`(--break=${broken}: the job expects 2 at once but its semaphore has ${permits} permit${permits === 1 ? '' : 's'})\n`)
  await tour()

  console.log(`\n2. ${CHILDREN} child processes share one Semaphore with 2 permits`)
  console.log(`   Each child takes a permit ${ROUNDS} times and holds it across a ${HOLD_MS} ms await,`)
  console.log('   counting itself in and out in a MemFile that every process maps.')
  const job = report(await runJob(permits, 2, staggerMs))

  console.log('\n3. Control: the same job with 1 permit')
  console.log('   With one permit nobody can overlap, so this run must see exactly 1 inside.')
  console.log('   If it does, the 2 seen above were let in by the semaphore, and the check can tell.')
  const control = report(await runJob(1, 1, staggerMs))

  console.log('\n4. A stranger joins through a socket path')
  console.log('   A process that is not our child connects to a socket file (FdChannel),')
  console.log('   receives the Semaphore and a MemFile over it, and adds 1 to a shared')
  console.log('   counter under the semaphore.')
  const joined = report(await stranger())

  const allOk = job && control && joined
  console.log(allOk ? '\ndemo: shared result verified' : '\ndemo: shared result WRONG')
  process.exit(allOk ? 0 : 1)
}

const main =
  process.argv[2] === 'child'
    ? childMain(Number(process.argv[3]), process.argv[4]!, Number(process.argv[5]))
    : process.argv[2] === 'stranger'
      ? strangerMain(process.argv[3]!)
      : parentMain()
main.catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
