'use strict'
// npm run demo: a short tour of the low-level API, then a real cross-process
// job: a parent and 4 children share one sealed MemFile mapped in every
// process, bound their concurrency with one Semaphore, signal completion with
// an EventCounter, and guard a log file with lockFile. It verifies the shared
// result and exits 0 only if it is right.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const lfd = require('..')

const CHILDREN = 4
const SLOTS = 2 // at most this many children in the critical section at once
const ROUNDS = 200

async function tour() {
  console.log('--- low-level tour (Python os/fcntl semantics) ---')
  const efd = lfd.eventfd(0, lfd.EFD_NONBLOCK)
  lfd.eventfdWrite(efd, 2)
  lfd.eventfdWrite(efd, 40n)
  console.log('eventfd counter: write 2, write 40n, read ->', lfd.eventfdRead(efd))
  try {
    lfd.eventfdRead(efd)
  } catch (e) {
    console.log(`eventfd read at 0, non-blocking -> ${e.code} (${e.message})`)
  }
  fs.closeSync(efd)

  const sfd = lfd.eventfd(3, lfd.EFD_SEMAPHORE | lfd.EFD_NONBLOCK)
  const reads = [lfd.eventfdRead(sfd), lfd.eventfdRead(sfd), lfd.eventfdRead(sfd)]
  console.log('EFD_SEMAPHORE with 3: three reads ->', reads.join(', '), '; a fourth ->', tryCode(() => lfd.eventfdRead(sfd)))
  fs.closeSync(sfd)

  const mfd = lfd.memfdCreate('demo', lfd.MFD_CLOEXEC)
  fs.writeSync(mfd, 'written with fs.writeSync on a memfd')
  const back = Buffer.alloc(fs.fstatSync(mfd).size)
  fs.readSync(mfd, back, 0, back.length, 0)
  console.log('memfd read back with fs.readSync ->', JSON.stringify(back.toString()))
  fs.closeSync(mfd)

  const tfd = lfd.timerfdCreate(lfd.CLOCK_MONOTONIC, lfd.TFD_NONBLOCK)
  lfd.timerfdSettime(tfd, { initial: 0.01 })
  const timer = lfd.Timer.fromFd(tfd, { adopt: true })
  const t0 = process.hrtime.bigint()
  const ticks = await timer.wait()
  console.log(`timerfd: ${ticks} tick after ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms (awaited on the event loop)`)
  timer.close()
}

function tryCode(fn) {
  try {
    fn()
    return 'ok'
  } catch (e) {
    return e.code
  }
}

// Layout of the shared memory: [0] total increments, [1] children inside now,
// [2] the most ever inside at once, [3 + i] increments by child i.
function childMain() {
  const [, , , idx, logPath] = process.argv
  const i = Number(idx)
  const mem = lfd.MemFile.fromFd(3)
  const slots = lfd.Semaphore.fromFd(4)
  const done = lfd.EventCounter.fromFd(5)
  const words = new Int32Array(mem.map({ writable: true }))
  ;(async () => {
    for (let r = 0; r < ROUNDS; r++) {
      await slots.acquire()
      try {
        const inside = Atomics.add(words, 1, 1) + 1
        let max = Atomics.load(words, 2)
        while (inside > max && Atomics.compareExchange(words, 2, max, inside) !== max) max = Atomics.load(words, 2)
        Atomics.add(words, 0, 1)
        words[3 + i]++
        Atomics.sub(words, 1, 1)
      } finally {
        slots.release()
      }
    }
    const lock = await lfd.lockFile(logPath)
    try {
      fs.appendFileSync(logPath, `child ${i} (pid ${process.pid}) did ${words[3 + i]} rounds\n`)
    } finally {
      lock.release()
    }
    done.add(1)
    for (const o of [mem, slots, done]) o.close()
  })().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}

async function parentMain() {
  await tour()
  console.log(`\n--- cross-process job: ${CHILDREN} children, ${SLOTS} slots, ${ROUNDS} rounds each ---`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-demo-'))
  const logPath = path.join(dir, 'log.txt')
  const mem = lfd.MemFile.create('demo-shared')
  mem.truncate(4096)
  mem.addSeals({ shrink: true }) // no process can shrink it: mappings are SIGBUS-safe
  const words = new Int32Array(mem.map({ writable: true }))
  const slots = new lfd.Semaphore(SLOTS)
  const done = new lfd.EventCounter()
  const exits = []
  for (let i = 0; i < CHILDREN; i++) {
    const child = spawn(process.execPath, [__filename, 'child', String(i), logPath], {
      stdio: ['ignore', 'inherit', 'inherit', mem.fd, slots.fd, done.fd],
    })
    exits.push(new Promise((resolve) => child.on('exit', (code) => resolve(code))))
  }
  let finished = 0n
  while (finished < BigInt(CHILDREN)) finished += await done.take()
  const codes = await Promise.all(exits)
  const log = fs.readFileSync(logPath, 'utf8')
  process.stdout.write(log)
  const total = words[0]
  const perChild = Array.from({ length: CHILDREN }, (_, i) => words[3 + i])
  const checks = [
    [`total increments ${total} = ${CHILDREN * ROUNDS}`, total === CHILDREN * ROUNDS],
    [`each child did ${ROUNDS}: [${perChild.join(', ')}]`, perChild.every((n) => n === ROUNDS)],
    [`at most ${SLOTS} inside at once (saw ${words[2]})`, words[2] >= 1 && words[2] <= SLOTS],
    [`${CHILDREN} log lines written under the lock`, log.trim().split('\n').length === CHILDREN],
    [`all children exited 0 (${codes.join(', ')})`, codes.every((c) => c === 0)],
    ['every permit is back', slots.tryAcquire() && slots.tryAcquire() && !slots.tryAcquire()],
  ]
  for (const [what, ok] of checks) console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`)
  mem.unmap(words.buffer)
  for (const o of [mem, slots, done]) o.close()
  fs.rmSync(dir, { recursive: true, force: true })
  const allOk = checks.every(([, ok]) => ok)
  console.log(allOk ? '\ndemo: shared result verified' : '\ndemo: shared result WRONG')
  process.exit(allOk ? 0 : 1)
}

if (process.argv[2] === 'child') childMain()
else parentMain()
