// Ported from CPython's Lib/test/test_os.py EventfdTests, plus the package's
// own argument and error conventions.
import test from 'ava'
import { closeSync } from 'node:fs'
import { spawnSync } from 'node:child_process'

import { EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, eventfd, eventfdRead, eventfdWrite } from '../index.js'

const MAX = 2n ** 64n - 2n

function withFd(t: { teardown(fn: () => void): void }, fd: number): number {
  t.teardown(() => closeSync(fd))
  return fd
}

test('initval is returned by the first read, then the counter resets', (t) => {
  const fd = withFd(t, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
  t.throws(() => eventfdRead(fd), { code: 'EAGAIN' })
  eventfdWrite(fd, 23)
  t.is(eventfdRead(fd), 23n)

  const fd2 = withFd(t, eventfd(2 ** 32 - 1, EFD_NONBLOCK))
  t.is(eventfdRead(fd2), 2n ** 32n - 1n)
})

test('writes accumulate until a read takes them all', (t) => {
  const fd = withFd(t, eventfd(0, EFD_NONBLOCK))
  eventfdWrite(fd, 1)
  eventfdWrite(fd, 2n)
  eventfdWrite(fd, 39)
  t.is(eventfdRead(fd), 42n)
  t.throws(() => eventfdRead(fd), { code: 'EAGAIN' })
})

test('the counter holds 2^64-2 and a non-blocking write past it is EAGAIN', (t) => {
  const fd = withFd(t, eventfd(0, EFD_NONBLOCK))
  eventfdWrite(fd, MAX)
  const err = t.throws(() => eventfdWrite(fd, 1), { code: 'EAGAIN' })
  t.is((err as NodeJS.ErrnoException).errno, -11)
  t.is((err as NodeJS.ErrnoException).syscall, 'eventfd_write')
  t.is(err?.message, 'EAGAIN: resource temporarily unavailable, eventfd_write')
  t.is(eventfdRead(fd), MAX)
})

test('EFD_SEMAPHORE reads take one at a time', (t) => {
  const fd = withFd(t, eventfd(2, EFD_CLOEXEC | EFD_SEMAPHORE | EFD_NONBLOCK))
  t.is(eventfdRead(fd), 1n)
  t.is(eventfdRead(fd), 1n)
  t.throws(() => eventfdRead(fd), { code: 'EAGAIN' })
  eventfdWrite(fd, 3)
  t.is(eventfdRead(fd), 1n)
  t.is(eventfdRead(fd), 1n)
  t.is(eventfdRead(fd), 1n)
  t.throws(() => eventfdRead(fd), { code: 'EAGAIN' })
})

test('an object with a numeric fd property is accepted as the fd', (t) => {
  const fd = withFd(t, eventfd(0, EFD_NONBLOCK))
  eventfdWrite({ fd }, 7)
  t.is(eventfdRead({ fd }), 7n)
})

test('the default flags make the fd close-on-exec', (t) => {
  const fd = withFd(t, eventfd(0))
  // A child inherits only fds without FD_CLOEXEC; ask it whether fd N is open.
  const r = spawnSync('sh', ['-c', `test -e /proc/self/fd/${fd} && echo open || echo closed`])
  t.is(r.stdout.toString().trim(), 'closed')
  const inheritable = withFd(t, eventfd(0, 0))
  // libuv's spawn does not close other fds, so one without FD_CLOEXEC leaks into the child.
  const r2 = spawnSync('sh', ['-c', `test -e /proc/self/fd/${inheritable} && echo open || echo closed`])
  t.is(r2.stdout.toString().trim(), 'open')
})

test('out-of-range numbers are RangeErrors with ERR_OUT_OF_RANGE', (t) => {
  t.throws(() => eventfd(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => eventfd(2 ** 32), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => eventfd(1.5), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  const fd = withFd(t, eventfd(0, EFD_NONBLOCK))
  t.throws(() => eventfdWrite(fd, -1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => eventfdWrite(fd, 2n ** 64n - 1n), { code: 'EINVAL' }) // reaches the kernel, as Python's os.eventfd_write
  t.throws(() => eventfdWrite(fd, 2 ** 53), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => eventfdWrite(fd, Number.NaN), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => eventfdRead(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => eventfdRead(2 ** 31), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
})

test('wrong types are TypeErrors with ERR_INVALID_ARG_TYPE', (t) => {
  const bad = ['3', null, undefined, {}, { fd: '3' }, [], Symbol('x'), 3n]
  for (const v of bad) {
    t.throws(() => eventfdRead(v as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  }
  t.throws(() => eventfd('1' as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  const fd = withFd(t, eventfd(0, EFD_NONBLOCK))
  t.throws(() => eventfdWrite(fd, '1' as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
})

test('a throwing fd getter propagates its own error', (t) => {
  const evil = {
    get fd(): number {
      throw new Error('boom')
    },
  }
  t.throws(() => eventfdRead(evil), { message: 'boom' })
})

test('a closed fd is EBADF and an fd of the wrong kind is EINVAL', (t) => {
  const fd = eventfd(0, EFD_NONBLOCK)
  closeSync(fd)
  const err = t.throws(() => eventfdRead(fd), { code: 'EBADF' }) as NodeJS.ErrnoException
  t.is(err.errno, -9)
  t.throws(() => eventfd(0, 0x7fffffff), { code: 'EINVAL' })
})
