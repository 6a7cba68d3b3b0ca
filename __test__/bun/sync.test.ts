// Run by Bun's own test runner (scripts/bun-test.sh), not by ava: Bun loads
// Node-API addons, but most of its uv_* functions abort the process, so this
// file covers what must work there. tsconfig.json leaves this dir out, as
// `bun:test` has no types installed.
import { describe, expect, test } from 'bun:test'
import { closeSync } from 'node:fs'

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
  expect(lib.__napiBindingTarget).toBe('native')
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

// TODO(bun-fallback): once the classes land with the Bun fallback waiter, add:
// - Semaphore: tryAcquire/release/acquireSync, and `await acquire()` woken by a
//   release from a setTimeout and from a Worker, with AbortSignal abort;
// - EventCounter: add/tryTake/takeSync, and `await take()`;
// - Timer: `await wait()` for a 10 ms one-shot (lower bound only);
// - MemFile: map, write through one view, read through another, unmap;
// - teardown: close() with a pending wait rejects it, and the process exits.
// Each async test must also prove no uv_* symbol was reached: Bun aborts the
// process there, so simply finishing the file is that proof.
