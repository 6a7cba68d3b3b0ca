// A runtime-neutral smoke test of the public API: plain ESM, node:* modules
// only, no test framework, so Deno, Node and Bun all run it as it is
//   deno run -A __test__/deno/smoke.test.mjs      (scripts/deno-test.sh)
//   node __test__/deno/smoke.test.mjs
// It loads the package by its own name through package.json ("main"), so it
// follows whatever the checkout's entry point is. The runner's contract is the
// exit code: 0 only if every case passed AND the runtime exited cleanly, which
// is the point under Deno (the crash it guards against happens after the last
// line of JS has run). It prints "N passed, N failed" last.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const lib = require('../../')
const runtime = globalThis.Deno ? `deno ${Deno.version.deno}` : process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.version}`

const cases = []
const test = (name, fn) => cases.push({ name, fn })
// Rejects if `p` has not settled in `ms`: a lost wake-up fails, not hangs.
const within = (p, ms, what) => {
  let timer
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not settled in ${ms} ms`)), ms)
    }),
  ])
}

test('eventfd, eventfdWrite, eventfdRead (sync low-level API)', () => {
  const fd = lib.eventfd(0, lib.EFD_CLOEXEC | lib.EFD_NONBLOCK)
  try {
    lib.eventfdWrite(fd, 2)
    lib.eventfdWrite(fd, 5n)
    assert.equal(lib.eventfdRead(fd), 7n)
    assert.throws(() => lib.eventfdRead(fd), { code: 'EAGAIN' })
  } finally {
    // Through the package, not fs.closeSync: Deno's node:fs refuses to close
    // an fd number it did not open itself (EBADF).
    lib.EventCounter.fromFd(fd, { adopt: true }).close()
  }
})

test('EventCounter add / tryTake and Semaphore release / tryAcquire (sync)', () => {
  const c = new lib.EventCounter(3)
  c.add(4n)
  assert.equal(c.tryTake(), 7n)
  assert.equal(c.tryTake(), null)
  c.close()
  const s = new lib.Semaphore(1)
  assert.equal(s.tryAcquire(), true)
  assert.equal(s.tryAcquire(), false)
  s.release()
  assert.equal(s.tryAcquire(), true)
  s.close()
})

test('memfdCreate gives an fd that MemFile.fromFd adopts', () => {
  // The fd goes through the package, not node:fs: Deno's node:fs refuses fd
  // numbers it did not open itself (EBADF from writeSync / closeSync).
  const fd = lib.memfdCreate('deno-smoke')
  const m = lib.MemFile.fromFd(fd, { adopt: true })
  try {
    assert.equal(m.fd, fd)
    assert.equal(m.write('hello'), 5)
    assert.equal(m.size, 5)
  } finally {
    m.close()
  }
})

test('await Semaphore.acquire() woken by a release from a timer', async () => {
  const s = new lib.Semaphore(0)
  try {
    setTimeout(() => s.release(), 20)
    await within(s.acquire(), 5000, 'acquire')
    assert.equal(s.tryAcquire(), false)
  } finally {
    s.close()
  }
})

test('await EventCounter.take() woken by add()', async () => {
  const c = new lib.EventCounter(0)
  try {
    setTimeout(() => c.add(5), 20)
    assert.equal(await within(c.take(), 5000, 'take'), 5n)
  } finally {
    c.close()
  }
})

test('await Timer.wait() for a one-shot 30 ms timer', async () => {
  const t = new lib.Timer('monotonic')
  try {
    const t0 = performance.now()
    t.set(30)
    assert.equal(await within(t.wait(), 5000, 'wait'), 1n)
    assert.ok(performance.now() - t0 >= 25, 'fired too early')
  } finally {
    t.close()
  }
})

test('MemFile: write, map, read through the mapping, unmap', () => {
  const m = lib.MemFile.create('deno-smoke-map', { sealable: true })
  try {
    m.truncate(4096)
    m.addSeals({ shrink: true })
    m.write('shared bytes', 0)
    const ab = m.map({ writable: true })
    const view = new Uint8Array(ab)
    assert.equal(new TextDecoder().decode(view.subarray(0, 12)), 'shared bytes')
    view[0] = 'S'.charCodeAt(0)
    assert.equal(m.read(6, 0).toString(), 'Shared')
    m.unmap(ab)
  } finally {
    m.close()
  }
})

test('lockFile / tryLockFile: an exclusive lock excludes a second one until released', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'linux-fd-smoke-'))
  try {
    const path = join(dir, 'lock')
    const lock = await within(lib.lockFile(path), 5000, 'lockFile')
    assert.equal(lock.shared, false)
    assert.equal(lib.tryLockFile(path), null)
    lock.release()
    const again = lib.tryLockFile(path)
    assert.ok(again, 'free after release')
    again.release()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('FdChannel: a Semaphore handed over a socket pair arrives as a working duplicate', async () => {
  const [a, b] = lib.FdChannel.pair()
  const sem = new lib.Semaphore(0)
  try {
    await a.send('sem', [sem])
    const { data, fds } = await within(b.receive(), 2000, 'receive')
    assert.equal(String(data), 'sem')
    const other = lib.Semaphore.fromFd(fds.take(0), { adopt: true })
    try {
      other.release(2)
      assert.equal(sem.count, 2n)
      assert.equal(sem.tryAcquire(), true)
    } finally {
      other.close()
    }
  } finally {
    sem.close()
    a.close()
    b.close()
  }
})

test('two acquires, two releases one turn apart: the second waiter wakes too', async () => {
  // Deno's uv_poll_start reports one event per start (its poll thread ends
  // after it), so a watch left started after the first wake-up never fired
  // again and the second acquire hung under the uv_poll backend.
  const s = new lib.Semaphore(0)
  try {
    const first = s.acquire()
    const second = s.acquire()
    s.release()
    ;(await within(first, 5000, 'first acquire')).release()
    assert.equal(s.tryAcquire(), true) // the first permit, given back
    setTimeout(() => s.release(), 20)
    ;(await within(second, 5000, 'second acquire')).release()
  } finally {
    s.close()
  }
})

test('closing an object from the wake-up of another, both readable at once, 300 times', async () => {
  // Deno's uv_close runs the close callback at once, which freed the poll
  // handle while Deno still had the second object's poll event queued: its
  // delivery read freed memory (a segfault within a few hundred rounds).
  for (let i = 0; i < 300; i++) {
    const a = new lib.EventCounter()
    const b = new lib.EventCounter()
    const tookB = b.take().then(
      (v) => v,
      (e) => e.code,
    )
    const tookA = a.take().then(() => b.close())
    a.add(1)
    b.add(1)
    await within(tookA, 5000, 'take a')
    const rb = await within(tookB, 5000, 'take b')
    assert.ok(rb === 1n || rb === 'ERR_USE_AFTER_CLOSE', String(rb))
    a.close()
    for (let j = 0; j < 8; j++) new lib.EventCounter().close()
  }
})

test('a worker with pending waits is terminated, and one with an unref-ed wait ends by itself', async () => {
  // Under Deno, waits use the thread backend; its helper threads and
  // threadsafe functions must survive the worker's teardown.
  const { Worker } = await import('node:worker_threads')
  const pkg = JSON.stringify(require.resolve('../../'))
  for (let i = 0; i < 3; i++) {
    const w = new Worker(
      `const lib = require(${pkg})
       new lib.EventCounter().take()
       new lib.Semaphore(0).acquire()
       require('node:worker_threads').parentPort.postMessage(lib.waitBackend())`,
      { eval: true },
    )
    assert.equal(await within(new Promise((r) => w.once('message', r)), 10000, 'worker ready'), lib.waitBackend())
    await within(w.terminate(), 10000, 'terminate')
  }
  const w = new Worker(
    `const lib = require(${pkg})
     const c = new lib.EventCounter()
     c.unref()
     c.take()`,
    { eval: true },
  )
  assert.equal(await within(new Promise((r) => w.once('exit', r)), 10000, 'worker exit'), 0)
})

test('objects waited on and left open do not keep the runtime alive; a pending wait does', async () => {
  // Under the thread backend (Bun, Deno) the helper's threadsafe function
  // stayed ref'd after its wait settled: the process never exited at its
  // natural end, where Node (a stopped uv_poll) does.
  const { spawnSync } = await import('node:child_process')
  const { writeFileSync } = await import('node:fs')
  const dir = mkdtempSync(join(tmpdir(), 'linux-fd-smoke-'))
  try {
    const pkg = JSON.stringify(require.resolve('../../'))
    const run = (name, code) => {
      const file = join(dir, name)
      writeFileSync(file, `import { createRequire } from 'node:module'\nconst lib = createRequire(import.meta.url)(${pkg})\n${code}`)
      const args = globalThis.Deno ? ['run', '-A', file] : [file]
      return spawnSync(process.execPath, args, { timeout: 10000, encoding: 'utf8' })
    }
    const settled = run('settled.mjs', `const c = new lib.EventCounter(); setTimeout(() => c.add(1), 5); await c.take()
      const s = new lib.Semaphore(0); setTimeout(() => s.release(), 5); await s.acquire()
      const t = new lib.Timer(); t.set(0.005); await t.wait()
      const ac = new AbortController(); const p = new lib.EventCounter().take({ signal: ac.signal }); ac.abort(); await p.catch(() => {})
      console.log('end')`)
    assert.deepEqual([settled.status, settled.signal, settled.stdout.trim()], [0, null, 'end'], settled.stderr)
    const pending = run('pending.mjs', `const c = new lib.EventCounter(); c.take().then(() => { console.log('woke'); c.close() })
      setTimeout(() => c.add(1), 300).unref()`)
    assert.deepEqual([pending.status, pending.stdout.trim()], [0, 'woke'], pending.stderr)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('workers terminated during waits and a lock wait leave no thread behind, and no lock taken later', async () => {
  // Under Deno, which never finalizes a threadsafe function left at a
  // worker's teardown, each pending wait kept its helper thread and fds,
  // and a lockFile() wait's job took the lock once it was free and held it
  // for good. The thread backend now stops both from a cleanup hook.
  const { Worker } = await import('node:worker_threads')
  const { readFileSync } = await import('node:fs')
  const threads = () => Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1])
  const dir = mkdtempSync(join(tmpdir(), 'linux-fd-smoke-'))
  const path = join(dir, 'lock')
  const pkg = JSON.stringify(require.resolve('../../'))
  const run = async () => {
    const w = new Worker(
      `const lib = require(${pkg})
       const { parentPort } = require('node:worker_threads')
       for (let i = 0; i < 3; i++) new lib.EventCounter().take().catch(() => {})
       lib.lockFile(${JSON.stringify(path)}).catch(() => {})
       setTimeout(() => parentPort.postMessage('ready'), 50)`,
      { eval: true },
    )
    await within(new Promise((r) => w.once('message', r)), 10000, 'worker ready')
    await within(w.terminate(), 10000, 'terminate')
  }
  const held = await within(lib.lockFile(path), 5000, 'lockFile')
  try {
    // Once first: the runtime's own threads for workers, and the lock-wait
    // pool's thread, which stays for the process's next wait.
    await run()
    const before = threads()
    for (let i = 0; i < 3; i++) await run()
    const end = Date.now() + 3000
    while (threads() > before && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
    assert.ok(threads() <= before, `threads: ${threads()} after, ${before} before`)
    held.release()
    await new Promise((r) => setTimeout(r, 300))
    const again = lib.tryLockFile(path)
    assert.ok(again !== null, 'a terminated worker\'s lock wait took the lock')
    again.release()
    // The lock freed at once after terminate() resolves: Deno runs the
    // worker's cleanup hooks later, so the job could take it first, and its
    // result, queued to a dead worker, was never dropped (2 of 5 rounds).
    for (let i = 0; i < 5; i++) {
      const mine = await within(lib.lockFile(path), 5000, 'lockFile')
      await run()
      mine.release()
      await new Promise((r) => setTimeout(r, 300))
      const free = lib.tryLockFile(path)
      assert.ok(free !== null, `round ${i}: a terminated worker's lock wait took the lock for good`)
      free.release()
    }
  } finally {
    held.release()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a terminated worker\'s objects are freed: the lock it held, and its fds', async () => {
  // Deno never collects a dead worker's objects, so before a cleanup hook
  // freed them, a lock the worker held stayed held for good and each of its
  // objects kept its fd (docs/platforms.md, "Deno").
  const { Worker } = await import('node:worker_threads')
  const { readdirSync, readlinkSync } = await import('node:fs')
  const links = () => readdirSync('/proc/self/fd').map((f) => {
    try { return readlinkSync(`/proc/self/fd/${f}`) } catch { return '' }
  })
  const dir = mkdtempSync(join(tmpdir(), 'linux-fd-smoke-'))
  const path = join(dir, 'lock')
  const waited = join(dir, 'waited')
  const name = `linux-fd-smoke-${process.pid}-${Date.now()}`
  const pkg = JSON.stringify(require.resolve('../../'))
  const mine = lib.tryLockFile(waited)
  try {
    // It holds a lock, waits for another (ours), and received an fd over a
    // channel that it never took.
    const w = new Worker(
      `const lib = require(${pkg})
       const { parentPort } = require('node:worker_threads')
       globalThis.kept = [lib.tryLockFile(${JSON.stringify(path)}), lib.MemFile.create(${JSON.stringify(name)}),
         new lib.Timer(), new lib.EventCounter(), new lib.Semaphore(1), lib.lockFile(${JSON.stringify(waited)})]
       const [a, b] = lib.FdChannel.pair()
       const sent = lib.MemFile.create(${JSON.stringify(name + '-sent')})
       a.send('fd', [sent]).then(() => b.receive()).then((msg) => {
         sent.close()
         kept.push(a, b, msg)
         parentPort.postMessage(kept[0] !== null && msg.fds.remaining === 1)
       })
       setInterval(() => {}, 1000)`,
      { eval: true },
    )
    assert.equal(await within(new Promise((r) => w.once('message', r)), 10000, 'worker ready'), true)
    const timers = links().filter((l) => l === 'anon_inode:[timerfd]').length
    assert.equal(lib.tryLockFile(path), null, 'the worker holds the lock')
    assert.ok(links().some((l) => l.includes(name)), 'the worker\'s memfd is open')
    assert.ok(links().some((l) => l.includes(`${name}-sent`)), 'the fd it received is open')
    assert.ok(links().filter((l) => l === waited).length >= 2, 'its lock wait has the file open')
    await within(w.terminate(), 10000, 'terminate')
    const end = Date.now() + 3000
    let free = null
    while ((free = lib.tryLockFile(path)) === null && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
    assert.ok(free !== null, 'the lock a terminated worker held is still held')
    free.release()
    assert.ok(!links().some((l) => l.includes(name)), 'the terminated worker\'s memfd, or one it received, is still open')
    assert.equal(links().filter((l) => l === 'anon_inode:[timerfd]').length, timers - 1, 'its timerfd is still open')
    assert.equal(links().filter((l) => l === waited).length, 1, 'its lock wait left the file open (ours is the one left)')
  } finally {
    mine.release()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a program that deletes process.versions.deno before loading still gets the thread backend under Deno', async () => {
  // Deno was known only by process.versions.deno: without it, the uv_poll
  // backend ran on Deno's uv_* shim, and closing an object from another's
  // wake-up crashed the process (exit code 139). Its shim lacks
  // uv_backend_fd, which the uv_poll backend now requires.
  const { spawnSync } = await import('node:child_process')
  const { writeFileSync } = await import('node:fs')
  const dir = mkdtempSync(join(tmpdir(), 'linux-fd-smoke-'))
  try {
    const file = join(dir, 'hidden.mjs')
    writeFileSync(file, `delete process.versions.deno
      const { createRequire } = await import('node:module')
      const lib = createRequire(import.meta.url)(${JSON.stringify(require.resolve('../../'))})
      for (let i = 0; i < 300; i++) {
        const a = new lib.EventCounter()
        const b = new lib.EventCounter()
        const tookB = b.take().then((v) => v, (e) => e.code)
        const tookA = a.take().then(() => b.close())
        a.add(1)
        b.add(1)
        await tookA
        await tookB
        a.close()
        for (let j = 0; j < 8; j++) new lib.EventCounter().close()
      }
      console.log(lib.waitBackend(), 'deno' in process.versions)`)
    const args = globalThis.Deno ? ['run', '-A', file] : [file]
    const r = spawnSync(process.execPath, args, { timeout: 20000, encoding: 'utf8' })
    assert.deepEqual([r.status, r.signal, r.stdout.trim()], [0, null, `${lib.waitBackend()} false`], r.stderr)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

let passed = 0
let failed = 0
for (const { name, fn } of cases) {
  try {
    await fn()
    passed++
    console.log(`ok - ${name}`)
  } catch (e) {
    failed++
    console.log(`not ok - ${name}\n  ${String(e?.stack ?? e).replace(/\n/g, '\n  ')}`)
  }
}
console.log(`# ${runtime}, wait backend ${lib.waitBackend?.() ?? '?'}`)
console.log(`${passed} passed, ${failed} failed`)
if (failed) process.exitCode = 1
