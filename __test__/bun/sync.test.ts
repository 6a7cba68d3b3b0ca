// Run by Bun's own test runner (scripts/bun-test.sh), not by ava: Bun loads
// Node-API addons, but most of its uv_* functions abort the process, so this
// file covers what must work there. tsconfig.json leaves this dir out, as
// `bun:test` has no types installed.
import { describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { closeSync } from 'node:fs'
import { join } from 'node:path'

import * as lib from '../../index.js'
import { EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, eventfd, eventfdRead, eventfdWrite } from '../../index.js'

const MAX = 2n ** 64n - 2n

function code(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    return (e as { code?: string }).code
  }
  return undefined
}

test('the addon loads under Bun as the native binding', () => {
  expect(typeof process.versions.bun).toBe('string')
  // The generated loader under the TypeScript API says which artifact it loaded.
  expect(require('../../binding.js').__napiBindingTarget).toBe('native')
})

describe('eventfd (sync low-level API)', () => {
  test('writes accumulate until a read takes them all', () => {
    const fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
    try {
      eventfdWrite(fd, 2)
      eventfdWrite(fd, 40n)
      expect(eventfdRead(fd)).toBe(42n)
      expect(code(() => eventfdRead(fd))).toBe('EAGAIN')
    } finally {
      closeSync(fd)
    }
  })

  test('OS errors carry code, errno and syscall as in Node', () => {
    const fd = eventfd(0, EFD_NONBLOCK)
    try {
      eventfdWrite(fd, MAX)
      let err: any
      try {
        eventfdWrite(fd, 1)
      } catch (e) {
        err = e
      }
      expect(err.code).toBe('EAGAIN')
      expect(err.errno).toBe(-11)
      expect(err.syscall).toBe('eventfd_write')
      expect(eventfdRead(fd)).toBe(MAX)
    } finally {
      closeSync(fd)
    }
  })

  test('EFD_SEMAPHORE reads take one at a time', () => {
    const fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK)
    try {
      expect(eventfdRead(fd)).toBe(1n)
      expect(eventfdRead(fd)).toBe(1n)
      expect(code(() => eventfdRead(fd))).toBe('EAGAIN')
    } finally {
      closeSync(fd)
    }
  })

  test('bad arguments are RangeError/TypeError with Node codes', () => {
    expect(code(() => eventfd(-1))).toBe('ERR_OUT_OF_RANGE')
    expect(code(() => eventfd(2 ** 32))).toBe('ERR_OUT_OF_RANGE')
    expect(code(() => eventfdRead('3' as any))).toBe('ERR_INVALID_ARG_TYPE')
  })

  test('a closed fd is EBADF', () => {
    const fd = eventfd(0, EFD_NONBLOCK)
    closeSync(fd)
    expect(code(() => eventfdRead(fd))).toBe('EBADF')
  })
})

describe('async waits under Bun (helper thread + threadsafe function, never libuv)', () => {
  test('objects waited on and left open do not keep Bun alive; a pending wait does', () => {
    // The helper's threadsafe function stayed ref'd after its wait settled,
    // so the process never exited at its natural end (a stopped uv_poll
    // lets Node exit).
    const pkg = JSON.stringify(join(import.meta.dir, '..', '..', 'index.js'))
    const run = (code: string) =>
      spawnSync(process.execPath, ['-e', `const lib = require(${pkg})\n${code}`], { timeout: 15_000, env: process.env, encoding: 'utf8' })
    const settled = run(`;(async () => {
        const c = new lib.EventCounter(); setTimeout(() => c.add(1), 5); await c.take()
        const s = new lib.Semaphore(0); setTimeout(() => s.release(), 5); await s.acquire()
        const ac = new AbortController(); const p = new lib.EventCounter().take({ signal: ac.signal }); ac.abort(); await p.catch(() => {})
        console.log('end')
      })()`)
    expect([settled.status, settled.signal, settled.stdout.trim()]).toEqual([0, null, 'end'])
    const pending = run(`const c = new lib.EventCounter(); c.take().then(() => { console.log('woke'); c.close() })
      setTimeout(() => c.add(1), 300).unref()`)
    expect([pending.status, pending.stdout.trim()]).toEqual([0, 'woke'])
  }, 40_000) // two child processes: seconds under qemu-user (the arm64 musl stage)

  test('waitBackend() reports the thread fallback', () => {
    expect(lib.waitBackend()).toBe('thread')
  })

  test('Semaphore: acquire is woken by a later release, FIFO, and abort takes no permit', async () => {
    const sem = new lib.Semaphore(0)
    try {
      const order: number[] = []
      const waits = [1, 2, 3].map((i) => sem.acquire().then(() => order.push(i)))
      setTimeout(() => sem.release(3), 5)
      await Promise.all(waits)
      expect(order).toEqual([1, 2, 3])
      const ac = new AbortController()
      const aborted = sem.acquire({ signal: ac.signal })
      ac.abort()
      let name = ''
      await aborted.catch((e: Error) => (name = e.name))
      expect(name).toBe('AbortError')
      sem.release()
      expect(sem.tryAcquire()).toBe(true)
      expect(sem.tryAcquire()).toBe(false)
    } finally {
      sem.close()
    }
  })

  test('EventCounter: take waits for add, and close rejects a pending take', async () => {
    const c = new lib.EventCounter()
    setTimeout(() => c.add(7), 5)
    expect(await c.take()).toBe(7n)
    const pending = c.take()
    c.close()
    let code = ''
    await pending.catch((e: { code: string }) => (code = e.code))
    expect(code).toBe('ERR_USE_AFTER_CLOSE')
  })

  test('Timer: wait resolves after a one-shot expiry (lower bound only)', async () => {
    const t = new lib.Timer()
    try {
      const start = performance.now()
      t.set(10)
      expect(await t.wait()).toBe(1n)
      expect(performance.now() - start).toBeGreaterThanOrEqual(9)
    } finally {
      t.close()
    }
  })

  test('MemFile: a shared mapping sees positional writes, and unmap detaches it', () => {
    const mf = lib.MemFile.create('bun')
    try {
      mf.truncate(4096)
      mf.addSeals({ shrink: true })
      const ab = mf.map({ writable: true })
      const view = new Uint8Array(ab)
      mf.write('hi', 10)
      expect(String.fromCharCode(view[10], view[11])).toBe('hi')
      view[0] = 42
      expect(mf.read(1, 0)[0]).toBe(42)
      const second = new Uint8Array(mf.map())
      expect(second[0]).toBe(42)
      mf.unmap(ab)
      expect(ab.byteLength).toBe(0)
    } finally {
      mf.close()
    }
  })

  test('terminate() ends a worker in acquireSync(), takeSync() or waitSync()', async () => {
    // Bun terminates a worker by signalling its thread (SIGPWR) about once a
    // millisecond until it runs JavaScript. A sync wait's 20 ms poll(2) slice
    // retried EINTR with its whole timeout, so it never ended, and neither
    // did terminate() (s47-runtimes F1: "NOT ENDED in 1.5 s" 5 of 5).
    const { Worker } = await import('node:worker_threads')
    const pkg = JSON.stringify(join(import.meta.dir, '..', '..', 'index.js'))
    for (const call of ['new lib.Semaphore(0).acquireSync()', 'new lib.EventCounter().takeSync()', 'new lib.Timer().waitSync()']) {
      const w = new Worker(`const lib = require(${pkg}); require('node:worker_threads').parentPort.postMessage('in'); ${call}`, { eval: true })
      await new Promise((r) => w.once('message', r))
      await new Promise((r) => setTimeout(r, 100))
      const t0 = performance.now()
      const ended = await Promise.race([w.terminate().then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))])
      expect([call, ended]).toEqual([call, true])
      expect(performance.now() - t0).toBeLessThan(5000)
    }
  }, 30_000)

  test('lockFile waits on its own thread and gets the lock after release', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'linux-fd-bun-'))
    try {
      const held = await lib.lockFile(join(dir, 'l'))
      const waiting = lib.lockFile(join(dir, 'l'))
      setTimeout(() => held.release(), 10)
      const got = await waiting
      expect(got.released).toBe(false)
      got.release()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

// scripts/bun-test.sh runs this file with LINUX_FD_FORBID_UV=1, which makes
// the addon abort if it ever reaches a uv_* function (crates/node/src/uv.rs),
// after checking that the guard does fire under Node. So finishing this file
// under Bun proves no uv_* function was called.
