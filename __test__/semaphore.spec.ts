import test from 'ava'

// Serial: these tests count fds, spawn workers and children, and measure the
// event loop, which concurrent tests on 2 cores would disturb.
import { closeSync } from 'node:fs'
import { getEventListeners } from 'node:events'
import { Worker } from 'node:worker_threads'

import { EFD_NONBLOCK, EFD_SEMAPHORE, eventfd, Semaphore } from '../index.js'
import { fdCount, fdList, fdsAdded, PKG, runNode, sleep, until } from './helpers/child.js'
import { cutTheTurn } from './helpers/fairness.js'
import { scaled } from './helpers/emulation.js'

test.serial('acquire resolves at once when a permit is free, and tryAcquire counts permits', async (t) => {
  const sem = new Semaphore(2)
  t.teardown(() => sem.close())
  await sem.acquire()
  t.true(sem.tryAcquire())
  t.false(sem.tryAcquire())
  sem.release(3)
  t.true(sem.tryAcquire())
  t.true(sem.tryAcquire())
  t.true(sem.tryAcquire())
  t.false(sem.tryAcquire())
})

test.serial('waiters in one process are served first come, first served', async (t) => {
  const sem = new Semaphore(0)
  t.teardown(() => sem.close())
  const order: number[] = []
  const all = Array.from({ length: 20 }, (_, i) => sem.acquire().then(() => order.push(i)))
  t.is(sem.pending, 20)
  sem.release(5)
  await until(() => order.length === 5)
  await sleep(10)
  t.deepEqual(order, [0, 1, 2, 3, 4], 'five permits went to the first five waiters, in order')
  sem.release(15)
  await Promise.all(all)
  t.deepEqual(order, Array.from({ length: 20 }, (_, i) => i))
  t.is(sem.pending, 0)
  t.false(sem.tryAcquire(), 'no permit left over')
})

test.serial('the event loop keeps running while acquire waits', async (t) => {
  const sem = new Semaphore(0)
  t.teardown(() => sem.close())
  let ticks = 0
  const iv = setInterval(() => ticks++, 1)
  const p = sem.acquire()
  p.catch(() => {}) // settled below; a failed check must not leave it unhandled
  // Timers keep firing while the acquire is pending (a blocked loop would
  // fire none). Waiting for 5 ticks, not counting them in a fixed window,
  // keeps this true on a loaded machine too.
  await until(() => ticks >= 5, 10_000).catch(() => {})
  clearInterval(iv)
  t.true(ticks >= 5, `timers ran ${ticks} times during the wait`)
  t.is(sem.pending, 1, 'the acquire was still waiting all along')
  sem.release()
  t.is(typeof (await p).release, 'function', 'the wait ended with a permit')
})

test.serial('an aborted acquire rejects with AbortError and never consumes a permit', async (t) => {
  const sem = new Semaphore(0)
  t.teardown(() => sem.close())
  const ac = new AbortController()
  const first = sem.acquire({ signal: ac.signal })
  const second = sem.acquire()
  const reason = new Error('no longer needed')
  ac.abort(reason)
  const err = await t.throwsAsync(first, { name: 'AbortError', code: 'ABORT_ERR' })
  t.is(err?.cause, reason)
  t.is(sem.pending, 1)
  sem.release(1)
  await second
  t.false(sem.tryAcquire(), 'the one permit went to the live waiter')
})

test.serial('an already-aborted signal rejects without taking a free permit', async (t) => {
  const sem = new Semaphore(1)
  t.teardown(() => sem.close())
  await t.throwsAsync(sem.acquire({ signal: AbortSignal.abort() }), { name: 'AbortError' })
  t.true(sem.tryAcquire())
})

test.serial('close rejects pending acquires with ERR_USE_AFTER_CLOSE, and later calls throw ERR_USE_AFTER_CLOSE', async (t) => {
  const sem = new Semaphore(0)
  const waits = [sem.acquire(), sem.acquire()]
  sem.close()
  await Promise.all(waits.map((w) => t.throwsAsync(w, { code: 'ERR_USE_AFTER_CLOSE' })))
  t.true(sem.closed)
  t.is(sem.fd, -1)
  sem.close() // idempotent
  t.throws(() => sem.release(), { code: 'ERR_USE_AFTER_CLOSE' })
  t.throws(() => sem.tryAcquire(), { code: 'ERR_USE_AFTER_CLOSE' })
  t.throws(() => sem.acquireSync(), { code: 'ERR_USE_AFTER_CLOSE' })
  await t.throwsAsync(sem.acquire(), { code: 'ERR_USE_AFTER_CLOSE' })
})

test.serial('an acquire that finds a permit at the fairness cut is pending: close() rejects it with ERR_USE_AFTER_CLOSE and the shared pool keeps its permit', async (t) => {
  // Red before: the permit was read from the kernel at once and delivered
  // two setImmediate hops later, neither queued nor pending, so close()
  // missed it: it resolved with a Permit that could not be given back
  // (LINUX_FD_PERMIT_LOST) and the pool stayed 3n for good.
  const pool = new Semaphore(4)
  t.teardown(() => pool.close())
  const sem = Semaphore.fromFd(pool)
  const busy = cutTheTurn()
  const p = sem.acquire()
  t.is(sem.pending, 1, 'the acquire is pending until it settles')
  sem.close()
  t.is(sem.pending, 0)
  await t.throwsAsync(p, { code: 'ERR_USE_AFTER_CLOSE', message: 'Semaphore was closed' })
  t.is(pool.count, 4n, 'no permit lost')
  await busy
})

test.serial('an acquire that finds a permit at the fairness cut: an abort rejects it with AbortError, consumes nothing, and the next waiter is served', async (t) => {
  // Red before: the abort came too late for the early read and the acquire
  // resolved with a Permit (pool.count 3n).
  const pool = new Semaphore(4)
  t.teardown(() => pool.close())
  const sem = Semaphore.fromFd(pool)
  t.teardown(() => sem.close())
  const busy = cutTheTurn()
  const ac = new AbortController()
  const reason = new Error('no longer needed')
  const aborted = sem.acquire({ signal: ac.signal })
  const next = sem.acquire()
  t.is(sem.pending, 2)
  ac.abort(reason)
  const err = await t.throwsAsync(aborted, { name: 'AbortError', code: 'ABORT_ERR' })
  t.is(err?.cause, reason)
  t.is(getEventListeners(ac.signal, 'abort').length, 0, 'no listener left on the signal')
  const permit = await next
  t.is(sem.pending, 0)
  t.is(pool.count, 3n, 'one permit taken, by the live acquire')
  permit.release()
  t.is(pool.count, 4n, 'no permit lost')
  await busy
})

test.serial('acquires that find permits at the fairness cut still settle in call order, each with a permit, and leave no listener', async (t) => {
  const sem = new Semaphore(3)
  t.teardown(() => sem.close())
  const busy = cutTheTurn()
  const ac = new AbortController()
  const order: number[] = []
  const all = [0, 1, 2, 3].map((i) => sem.acquire({ signal: ac.signal }).then((p) => (order.push(i), p)))
  void Promise.allSettled(all) // a failed assertion below must not leave them unhandled
  t.is(sem.pending, 4)
  sem.release()
  const permits = await Promise.all(all)
  t.deepEqual(order, [0, 1, 2, 3])
  t.is(getEventListeners(ac.signal, 'abort').length, 0)
  t.is(sem.count, 0n)
  for (const p of permits) p.release()
  t.is(sem.count, 4n)
  await busy
})

test.serial('Symbol.dispose closes the semaphore', (t) => {
  const sem = new Semaphore(0)
  sem[Symbol.dispose]()
  t.true(sem.closed)
})

test.serial('release validates its count', async (t) => {
  const sem = new Semaphore(0)
  t.teardown(() => sem.close())
  t.throws(() => sem.release(0), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => sem.release(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => sem.release('2' as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new Semaphore(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  // A bigint as well, as count, take() and release() are bigints (user34 L6).
  for (const C of [Semaphore, EventCounter]) {
    const o = new C(3n)
    t.is(o.count, 3n, C.name)
    o.close()
    const big = new C(2n ** 32n - 1n)
    t.is(big.count, 2n ** 32n - 1n, `${C.name}: the whole u32 reaches the kernel`)
    big.close()
    t.throws(() => new C(2n ** 32n), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /"initial".*<= 4294967295.*4294967296n/ })
    t.throws(() => new C(-1n), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
    t.throws(() => new C('2' as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /of type number or bigint/ })
  }
  // A promise-returning function never throws synchronously: bad arguments reject.
  const bad = sem.acquire({ signal: {} as AbortSignal })
  t.true(bad instanceof Promise)
  await t.throwsAsync(bad, { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(sem.acquire(5 as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  await t.throwsAsync(sem.acquire({ timeout: 100 } as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /options\.timeout/ })
})

test.serial('fromFd duplicates by default and adopts on request', (t) => {
  const raw = eventfd(0, EFD_SEMAPHORE)
  const dup = Semaphore.fromFd(raw)
  t.not(dup.fd, raw)
  dup.release(1)
  dup.close()
  // The caller's fd is still open and shares the counter.
  const again = Semaphore.fromFd(raw, { adopt: true })
  t.is(again.fd, raw)
  t.true(again.tryAcquire())
  again.close()
  t.throws(() => Semaphore.fromFd(raw), { code: 'EBADF' })
})

test.serial('fromFd refuses an eventfd without EFD_SEMAPHORE and other files', (t) => {
  const plain = eventfd(0, EFD_NONBLOCK)
  t.teardown(() => closeSync(plain))
  t.throws(() => Semaphore.fromFd(plain), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => Semaphore.fromFd(0), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => Semaphore.fromFd('3' as never), { code: 'ERR_INVALID_ARG_TYPE' })
})

test.serial('acquireSync blocks a worker thread until the main thread releases', async (t) => {
  const sem = new Semaphore(0)
  t.teardown(() => sem.close())
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const s = require(${JSON.stringify(PKG)}).Semaphore.fromFd(workerData)
     parentPort.postMessage('blocking')
     s.acquireSync()
     parentPort.postMessage('acquired')
     s.close()`,
    { eval: true, workerData: sem.fd },
  )
  const messages: string[] = []
  w.on('message', (m) => messages.push(m))
  const exited = new Promise((r) => w.once('exit', r))
  try {
    // Wait for the worker to start (slow on a loaded machine), then give it
    // time to get past acquireSync() if it wrongly could.
    await until(() => messages.length > 0, 30_000)
    await sleep(100)
    t.deepEqual(messages, ['blocking'])
  } finally {
    sem.release() // even on failure, so the worker never blocks the run
  }
  await exited
  t.deepEqual(messages, ['blocking', 'acquired'])
})

test.serial('waiters in several worker threads share one semaphore and no permit is lost or doubled', async (t) => {
  const sem = new Semaphore(0)
  const done = new Semaphore(0)
  t.teardown(() => {
    sem.close()
    done.close()
  })
  const N = 4
  const PER = 50
  const exits = Array.from(
    { length: N },
    () =>
      new Worker(
        `const { workerData } = require('node:worker_threads')
         const lfd = require(${JSON.stringify(PKG)})
         const s = lfd.Semaphore.fromFd(workerData.sem)
         const d = lfd.Semaphore.fromFd(workerData.done)
         ;(async () => {
           for (let i = 0; i < ${PER}; i++) { await s.acquire(); d.release() }
           s.close(); d.close()
         })()`,
        { eval: true, workerData: { sem: sem.fd, done: done.fd } },
      ),
  ).map((w) => new Promise((r) => w.once('exit', r)))
  for (let i = 0; i < N * PER; i++) sem.release()
  for (let i = 0; i < N * PER; i++) await done.acquire()
  await Promise.all(exits)
  t.false(sem.tryAcquire(), 'every permit was taken exactly once')
  t.false(done.tryAcquire())
})

test.serial('waiters in several processes share one semaphore passed as an inherited fd', async (t) => {
  const sem = new Semaphore(0)
  const done = new EventCounterLike()
  t.teardown(() => {
    sem.close()
    done.close()
  })
  const children = Array.from({ length: 3 }, () =>
    runNode(
      `const s = lfd.Semaphore.fromFd(3); const d = lfd.EventCounter.fromFd(4)
       ;(async () => { for (let i = 0; i < 20; i++) { await s.acquire(); d.add(1) } s.close(); d.close() })()`,
      { extraFds: [sem.fd, done.fd] },
    ),
  )
  await sleep(50)
  sem.release(60)
  let got = 0n
  while (got < 60n) got += await done.inner.take()
  const results = await Promise.all(children)
  for (const r of results) t.is(r.code, 0, r.stderr)
  t.is(got, 60n)
  t.false(sem.tryAcquire())
})

test.serial('a worker terminated while it waits, 200 times: no crash, no leaked fd, no lost permit', async (t) => {
  const sem = new Semaphore(0)
  t.teardown(() => sem.close())
  const before = fdCount()
  const listBefore = fdList()
  for (let i = 0; i < 200; i++) {
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads')
       const lfd = require(${JSON.stringify(PKG)})
       const s = lfd.Semaphore.fromFd(workerData)
       s.acquire(); s.acquire({ signal: new AbortController().signal })
       new lfd.EventCounter().take()
       parentPort.postMessage('waiting')`,
      { eval: true, workerData: sem.fd },
    )
    await new Promise((r) => w.once('message', r))
    await w.terminate()
  }
  // A terminated worker's teardown may end just after terminate() resolves.
  await until(() => fdCount() <= before && fdsAdded(listBefore).length === 0, scaled(5000, t.log, 'fd release after terminate')).catch(() => {})
  t.deepEqual(fdsAdded(listBefore), [], 'the workers left no fd behind')
  t.true(fdCount() <= before, `no more fds than before: ${fdCount()} > ${before}`)
  sem.release(2)
  t.true(sem.tryAcquire())
  t.true(sem.tryAcquire())
  t.false(sem.tryAcquire())
})

test.serial('unref lets the process exit while an acquire is pending', async (t) => {
  const r = await runNode(`const s = new lfd.Semaphore(0); s.unref(); s.acquire().then(() => console.log('acquired'))
    setTimeout(() => console.log('timer'), 20)`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'timer')
  const refed = await runNode(
    `const s = new lfd.Semaphore(0); s.unref().ref(); s.acquire().then(() => { console.log('acquired'); s.close() })
     setTimeout(() => lfd.eventfdWrite(s.fd, 1), 50)`,
  )
  t.is(refed.stdout.trim(), 'acquired', refed.stderr)
})

// Small adapter so the cross-process test reads naturally.
import { EventCounter, FileLock, MemFile, Timer } from '../index.js'
class EventCounterLike {
  inner = new EventCounter()
  get fd() {
    return this.inner.fd
  }
  close() {
    this.inner.close()
  }
}

test.serial('fast-path methods refuse a receiver of another class instead of misreading it', (t) => {
  const c = new EventCounter()
  const s = new Semaphore(1)
  t.teardown(() => {
    c.close()
    s.close()
  })
  t.throws(() => Semaphore.prototype.release.call(c as never), { instanceOf: TypeError, code: 'ERR_INVALID_THIS' })
  t.throws(() => Semaphore.prototype.tryAcquire.call({} as never), { code: 'ERR_INVALID_THIS' })
  t.throws(() => EventCounter.prototype.add.call(s as never, 1), { code: 'ERR_INVALID_THIS' })
  const disguised = Object.setPrototypeOf(new EventCounter(), Semaphore.prototype) as Semaphore
  t.throws(() => disguised.tryAcquire(), { code: 'ERR_INVALID_THIS' })
  t.true(s.tryAcquire(), 'the real semaphore is untouched')
})

// Found by the hostile-input stress case: napi-rs's getters had no receiver
// check of V8's and threw `Error` with `code: 'InvalidArg'` (not a TypeError,
// not an ERR_ code) when called on anything but an instance.
test.serial('getters refuse a receiver of another class with ERR_INVALID_THIS, and still work on their own', (t) => {
  const c = new EventCounter(3)
  const s = new Semaphore(1)
  const timer = new Timer()
  const mf = MemFile.create('getters')
  t.teardown(() => {
    c.close()
    s.close()
    timer.close()
    mf.close()
  })
  const getter = (cls: { prototype: object }, key: string) => Object.getOwnPropertyDescriptor(cls.prototype, key)!.get!
  const bad = { instanceOf: TypeError, code: 'ERR_INVALID_THIS' }
  t.throws(() => getter(Timer, 'fd').call(c), bad)
  t.throws(() => getter(EventCounter, 'fd').call(s), bad)
  t.throws(() => getter(MemFile, 'size').call({}), bad)
  t.throws(() => getter(FileLock, 'range').call(mf), bad)
  t.throws(() => getter(Semaphore, 'pending').call(undefined), bad)
  t.throws(() => (Object.create(MemFile.prototype) as MemFile).name, bad)
  t.throws(() => (Object.setPrototypeOf(new EventCounter(), Timer.prototype) as Timer).clock, bad)
  t.is(typeof c.fd, 'number')
  t.false(s.closed)
  t.is(timer.clock, 'monotonic')
  t.is(mf.name, 'getters')
  t.is(mf.size, 0)
  t.is(c.pending, 0)
})

test.serial('the receiver cache of the fast paths never lets an object pass as another class', (t) => {
  // Warm the cache with real receivers (more than its 8 entries), then
  // disguise a cached Semaphore as an EventCounter: the EventCounter method
  // must still refuse it, and every real object must keep working.
  const sems = Array.from({ length: 12 }, () => new Semaphore(0))
  for (const s of sems) {
    s.release()
    t.true(s.tryAcquire())
  }
  const cached = sems[11]
  cached.release()
  t.throws(() => EventCounter.prototype.tryTake.call(cached as never), { code: 'ERR_INVALID_THIS' })
  Object.setPrototypeOf(cached, EventCounter.prototype)
  t.throws(() => (cached as unknown as EventCounter).add(1), { code: 'ERR_INVALID_THIS' })
  t.throws(() => (cached as unknown as EventCounter).fd, { code: 'ERR_INVALID_THIS' })
  Object.setPrototypeOf(cached, Semaphore.prototype)
  t.true(cached.tryAcquire(), 'still its own Semaphore')
  // Alternating two receivers of one class, and a fresh object after others
  // were closed, both hit or miss the cache correctly.
  const [a, b] = [new EventCounter(0), new EventCounter(0)]
  for (let i = 0; i < 100; i++) {
    a.add(1)
    b.add(2)
  }
  t.is(a.tryTake(), 100n)
  t.is(b.tryTake(), 200n)
  for (const s of sems) s.close()
  a.close()
  b.close()
  const fresh = new Semaphore(1)
  t.true(fresh.tryAcquire())
  fresh.close()
})
