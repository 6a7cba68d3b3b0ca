import test from 'ava'

// Serial: these tests count fds, spawn workers and children, and measure the
// event loop, which concurrent tests on 2 cores would disturb.

import { EFD_SEMAPHORE, eventfd, EventCounter } from '../index.js'
import { runNode, sleep, until } from './helpers/child.js'
import { cutTheTurn } from './helpers/fairness.js'
import { getEventListeners } from 'node:events'
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

test.serial('take waits until the counter is non-zero and takes all of it', async (t) => {
  const c = new EventCounter()
  t.teardown(() => c.close())
  setTimeout(() => {
    c.add(2)
    c.add(40n)
  }, 10)
  t.is(await c.take(), 42n)
  t.is(c.tryTake(), null)
})

test.serial('initial value, add, tryTake and takeSync', (t) => {
  const c = new EventCounter(7)
  t.teardown(() => c.close())
  t.is(c.takeSync(), 7n)
  c.add()
  c.add(2n ** 64n - 3n)
  t.is(c.tryTake(), 2n ** 64n - 2n)
  t.is(c.tryTake(), null)
})

test.serial('add past 2^64-2 throws EAGAIN instead of blocking', (t) => {
  const c = new EventCounter()
  t.teardown(() => c.close())
  c.add(2n ** 64n - 2n)
  const err = t.throws(() => c.add(1), { code: 'EAGAIN' }) as NodeJS.ErrnoException
  t.is(err.syscall, 'eventfd_write')
  t.throws(() => c.add(2n ** 64n - 1n), { code: 'ERR_OUT_OF_RANGE' })
})

test.serial('many takers are served in order, one value each', async (t) => {
  const c = new EventCounter()
  t.teardown(() => c.close())
  const got: Array<[number, bigint]> = []
  const takes = Array.from({ length: 5 }, (_, k) => c.take().then((v) => got.push([k, v])))
  // One add at a time, each waiting for its taker, so adds cannot merge.
  for (let i = 1; i <= 5; i++) {
    c.add(i)
    await until(() => got.length === i)
  }
  await Promise.all(takes)
  t.deepEqual(got, [
    [0, 1n],
    [1, 2n],
    [2, 3n],
    [3, 4n],
    [4, 5n],
  ])
})

test.serial('for await yields successive takes and ends on close', async (t) => {
  const c = new EventCounter()
  const seen: bigint[] = []
  setTimeout(() => c.add(1), 5)
  for await (const v of c) {
    seen.push(v)
    if (seen.length < 3) setTimeout(() => c.add(seen.length + 1), 5)
    else setTimeout(() => c.close(), 5)
  }
  t.deepEqual(seen, [1n, 2n, 3n])
})

test.serial('break out of for await leaves the counter open', async (t) => {
  const c = new EventCounter(5)
  t.teardown(() => c.close())
  for await (const v of c) {
    t.is(v, 5n)
    break
  }
  t.false(c.closed)
  c.add(1)
  t.is(c.tryTake(), 1n)
})

test.serial('abort and close while waiting', async (t) => {
  const c = new EventCounter()
  const ac = new AbortController()
  const aborted = c.take({ signal: ac.signal })
  const closed = c.take()
  ac.abort()
  await t.throwsAsync(aborted, { name: 'AbortError', code: 'ABORT_ERR' })
  c.close()
  await t.throwsAsync(closed, { code: 'ERR_USE_AFTER_CLOSE', message: 'EventCounter was closed' })
})

test.serial('a take that finds a value at the fairness cut is pending: close() rejects it with ERR_USE_AFTER_CLOSE and the shared counter keeps the value', async (t) => {
  // Red before: the value was read from the kernel at once and delivered
  // two setImmediate hops later, neither queued nor pending, so close()
  // missed it: the take resolved with 5n, gone from the counter that the
  // other object shares.
  const c = new EventCounter()
  t.teardown(() => c.close())
  const d = EventCounter.fromFd(c)
  c.add(5)
  const busy = cutTheTurn()
  const p = d.take()
  t.is(d.pending, 1, 'the take is pending until it settles')
  d.close()
  t.is(d.pending, 0)
  await t.throwsAsync(p, { code: 'ERR_USE_AFTER_CLOSE', message: 'EventCounter was closed' })
  t.is(c.count, 5n, 'the value is still in the counter')
  await busy
})

test.serial('a take that finds a value at the fairness cut: an abort rejects it with AbortError and takes nothing', async (t) => {
  // Red before: the take resolved with 5n despite the abort.
  const c = new EventCounter(5)
  t.teardown(() => c.close())
  const busy = cutTheTurn()
  const ac = new AbortController()
  const p = c.take({ signal: ac.signal })
  t.is(c.pending, 1)
  ac.abort()
  await t.throwsAsync(p, { name: 'AbortError', code: 'ABORT_ERR' })
  t.is(c.pending, 0)
  t.is(getEventListeners(ac.signal, 'abort').length, 0, 'no listener left on the signal')
  t.is(c.count, 5n, 'the value is still in the counter')
  t.is(await c.take(), 5n)
  await busy
})

test.serial('an abort whose give-back finds the fd closed behind the back marks the object lost: no later call writes to the reused number (s51-diff L2)', async (t) => {
  // Red before: the handle forgot the number but the object was not told,
  // and add(1) wrote 8 bytes into the file that had taken the number.
  const dir = mkdtempSync(join(tmpdir(), 'lfd-l2-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const c = new EventCounter(5)
  const n = c.fd
  const busy = cutTheTurn()
  const ac = new AbortController()
  const p = c.take({ signal: ac.signal })
  closeSync(n)
  const other = openSync(join(dir, 'other'), 'w+')
  try {
    t.is(other, n, 'the number was reused')
    ac.abort()
    t.true(c.closed, 'the object learned of the loss at the abort')
    t.throws(() => c.add(1), { code: 'EBADF', message: /was closed outside linux-fd/ })
    t.is(fstatSync(other).size, 0, 'nothing was written to the other file')
    t.is(await p, 5n, 'the taken value could not go back, and is delivered')
  } finally {
    closeSync(other)
    c.close()
  }
  await busy
})

test.serial('takes at the fairness cut each get the value added before them, in call order, and leave no listener', async (t) => {
  // What a take that finds a value at once gets, whether or not the turn
  // was cut: the count at the call, not what was added after it.
  const c = new EventCounter()
  t.teardown(() => c.close())
  const busy = cutTheTurn()
  const ac = new AbortController()
  const got: bigint[] = []
  const all: Promise<unknown>[] = []
  for (let i = 1; i <= 3; i++) {
    c.add(i)
    all.push(c.take({ signal: ac.signal }).then((v) => got.push(v)))
  }
  t.is(c.pending, 3)
  await Promise.all(all)
  t.deepEqual(got, [1n, 2n, 3n])
  t.is(c.pending, 0)
  t.is(getEventListeners(ac.signal, 'abort').length, 0)
  await busy
})

test.serial('fromFd rejects a semaphore eventfd, and a closed fd is EBADF', (t) => {
  const s = eventfd(0, EFD_SEMAPHORE)
  t.throws(() => EventCounter.fromFd(s), { code: 'ERR_INVALID_ARG_VALUE' })
  const c = EventCounter.fromFd(eventfd(0), { adopt: true })
  const fd = c.fd
  c.close()
  t.throws(() => EventCounter.fromFd(fd), { code: 'EBADF' })
  t.throws(() => EventCounter.fromFd(s, { adopt: 'yes' } as never), { code: 'ERR_INVALID_ARG_TYPE' })
})

test.serial('a counter passed to a child wakes the parent (cross-process round trip)', async (t) => {
  const ping = new EventCounter()
  const pong = new EventCounter()
  t.teardown(() => {
    ping.close()
    pong.close()
  })
  const child = runNode(
    `const ping = lfd.EventCounter.fromFd(3), pong = lfd.EventCounter.fromFd(4)
     ;(async () => { for (let i = 0; i < 100; i++) { await ping.take(); pong.add(1) } ping.close(); pong.close() })()`,
    { extraFds: [ping.fd, pong.fd] },
  )
  for (let i = 0; i < 100; i++) {
    ping.add(1)
    t.is(await pong.take(), 1n)
  }
  const r = await child
  t.is(r.code, 0, r.stderr)
})

test.serial('an object dropped without close() closes its fd when collected', async (t) => {
  const r = await runNode(
    `const n = () => require('fs').readdirSync('/proc/self/fd').length
     const before = n()
     for (let i = 0; i < 1000; i++) new lfd.EventCounter()
     const mid = n()
     ;(async () => {
       for (let i = 0; i < 10 && n() > before; i++) { globalThis.gc(); await new Promise(r => setImmediate(r)) }
       console.log(JSON.stringify({ before, mid, after: n() }))
     })()`,
    { args: ['--expose-gc'] },
  )
  t.is(r.code, 0, r.stderr)
  const { before, mid, after } = JSON.parse(r.stdout)
  t.true(mid > before, 'the objects held fds before collection')
  t.is(after, before)
})

test.serial('a wait after the watch stopped and a collection still wakes (EventCounter, Semaphore, Timer)', async (t) => {
  // A stopped watch holds its JS callback weakly (rt/watch.rs); the object
  // must hold it. A version that made the callback only when opening the
  // watch let a GC between two waits collect it: the second wait then never
  // woke (found by the bench's 64 MiB transfer, which hung).
  const r = await runNode(
    `const tick = () => new Promise((r) => setImmediate(r))
     const gcs = async () => { for (let i = 0; i < 4; i++) { globalThis.gc(); await tick() } }
     const guard = (p, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(what + ' never woke')), 10_000).unref())])
     ;(async () => {
       const out = []
       const c = new lfd.EventCounter()
       for (let i = 1; i <= 3; i++) {
         const p = c.take(); setTimeout(() => c.add(i), 10)
         out.push(String(await guard(p, 'EventCounter take ' + i)))
         await gcs()
       }
       const s = new lfd.Semaphore(0)
       for (let i = 1; i <= 3; i++) {
         const p = s.acquire(); setTimeout(() => s.release(), 10)
         const permit = await guard(p, 'Semaphore acquire ' + i); permit.release(); s.tryAcquire()
         out.push('permit')
         await gcs()
       }
       const tm = new lfd.Timer()
       for (let i = 1; i <= 3; i++) {
         tm.set(10)
         out.push(String(await guard(tm.wait(), 'Timer wait ' + i)))
         await gcs()
       }
       c.close(); s.close(); tm.close()
       console.log(JSON.stringify(out))
     })().catch((e) => { console.error(e.message); process.exit(3) })`,
    { args: ['--expose-gc'] },
  )
  t.is(r.code, 0, r.stderr)
  t.deepEqual(JSON.parse(r.stdout), ['1', '2', '3', 'permit', 'permit', 'permit', '1', '1', '1'])
})

test.serial('a pending take keeps its promise alive even if the counter object is dropped', async (t) => {
  // If the dropped object's fd were closed, eventfdWrite on its number would throw EBADF.
  const r = await runNode(
    `let c = new lfd.EventCounter()
     const p = c.take(); const n = c.fd; c = null
     globalThis.gc()
     setTimeout(() => { globalThis.gc(); lfd.eventfdWrite(n, 9) }, 20)
     p.then((v) => console.log(String(v)))`,
    { args: ['--expose-gc'] },
  )
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), '9')
})

test.serial('iterate({ signal }): an abort throws out of for await, takes nothing, and leaves no listener', async (t) => {
  const c = new EventCounter()
  t.teardown(() => c.close())
  const ac = new AbortController()
  const seen: bigint[] = []
  setTimeout(() => c.add(1), 5)
  const err = await t.throwsAsync(
    async () => {
      for await (const v of c.iterate({ signal: ac.signal })) {
        seen.push(v)
        setTimeout(() => ac.abort(new Error('shutdown')), 5)
      }
    },
    { name: 'AbortError', code: 'ABORT_ERR' },
  )
  t.is((err?.cause as Error | undefined)?.message, 'shutdown')
  t.deepEqual(seen, [1n])
  t.is(getEventListeners(ac.signal, 'abort').length, 0)
  // The aborted wait took nothing, and the counter stays open.
  t.false(c.closed)
  c.add(7)
  t.is(c.tryTake(), 7n)
})

test.serial('iterate({ signal }): an aborted iterator is done; an already-aborted signal rejects the first next()', async (t) => {
  const c = new EventCounter(3)
  t.teardown(() => c.close())
  const ac = new AbortController()
  const it = c.iterate({ signal: ac.signal })
  const a = it.next()
  const b = it.next()
  t.deepEqual(await a, { value: 3n, done: false })
  ac.abort()
  await t.throwsAsync(b, { name: 'AbortError' })
  t.deepEqual(await it.next(), { value: undefined, done: true })
  t.is(c.tryTake(), null)
  const early = c.iterate({ signal: AbortSignal.abort() })
  c.add(2)
  await t.throwsAsync(early.next(), { name: 'AbortError' })
  t.deepEqual(await early.next(), { value: undefined, done: true })
  t.is(c.tryTake(), 2n)
})

test.serial('iterate({ signal }): the loop ending by close or break leaves no listener on the signal', async (t) => {
  const c = new EventCounter()
  const ac = new AbortController()
  setTimeout(() => c.close(), 5)
  for await (const _ of c.iterate({ signal: ac.signal })) t.fail()
  t.is(getEventListeners(ac.signal, 'abort').length, 0)
  const d = new EventCounter(1)
  t.teardown(() => d.close())
  for await (const v of d.iterate({ signal: ac.signal })) {
    t.is(v, 1n)
    break
  }
  t.is(getEventListeners(ac.signal, 'abort').length, 0)
})

test.serial('iterate() checks its options as take() does', (t) => {
  const c = new EventCounter()
  t.teardown(() => c.close())
  t.throws(() => c.iterate({ sigal: AbortSignal.abort() } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /sigal/ })
  t.throws(() => c.iterate({ signal: 1 } as never), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => EventCounter.prototype.iterate.call({}), { code: 'ERR_INVALID_THIS' })
})
