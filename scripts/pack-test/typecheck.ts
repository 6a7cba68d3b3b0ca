// Type-checked with `tsc --strict` against the installed package's index.d.ts.
import { closeSync } from 'node:fs'

import * as lib from 'linux-fd'
import { EFD_CLOEXEC, EFD_NONBLOCK, eventfd, eventfdRead, eventfdWrite, EventCounter, FdChannel, MemFile, testLock, tryLockFile } from 'linux-fd'
import type { ConnectOptions, FdIterator, ListenOptions, LockConflict, TestLockOptions, WaitOptions } from 'linux-fd'

const fd: number = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
eventfdWrite(fd, 1)
eventfdWrite({ fd }, 2n)
const value: bigint = eventfdRead(fd)
closeSync(fd)
console.log(value)

// The typings are real, not `any`: each of these must be a type error.
// @ts-expect-error initval is a number
eventfd('0')
// @ts-expect-error eventfdRead returns a bigint
const wrong: number = eventfdRead(fd)
void wrong

// Under exactOptionalPropertyTypes (types36): a lock's range has numbers,
// addSeals takes an explicit undefined as every options object does, and an
// iterator's value is typed, not `any`.
export function typed(path: string, mf: MemFile, counter: EventCounter): Promise<void> {
  const r = tryLockFile(path)?.range
  if (r) {
    const start: number = r.start
    const length: number = r.length
    console.log(start + length)
  }
  mf.addSeals({ shrink: true, grow: undefined })
  // Still assignable where code typed it as before (diff36b H1).
  const before: AsyncIterableIterator<bigint> = counter[Symbol.asyncIterator]()
  const named: FdIterator<bigint> = counter[Symbol.asyncIterator]()
  void before.return?.()
  return named.next().then((res) => {
    if (!res.done) {
      const v: bigint = res.value
      console.log(v)
    }
    // @ts-expect-error the value is a bigint or undefined, not any
    const s: string = res.value
    void s
  })
}

// The options and results have names a caller can type its own values with.
export function named(fd: number, signal: AbortSignal): void {
  const wait: WaitOptions = { signal }
  const listen: ListenOptions = { uids: 'any', backlog: 4, signal }
  const connect: ConnectOptions = { abstract: false, signal }
  const test: TestLockOptions = { shared: true, range: { start: 0, length: 10 } }
  // @ts-expect-error testLock cannot test a flock lock
  const flockTest: TestLockOptions = { kind: 'flock' }
  void flockTest
  const c: LockConflict | null = testLock(fd, test)
  if (c !== null) {
    const pid: number | null = c.pid
    const kind: 'ofd' | 'posix' = c.kind
    console.log(pid, kind, c.range.start + c.range.length)
  }
  const counter = EventCounter.fromFd(fd, { adopt: true })
  void counter.take(wait)
  void FdChannel.connect('/tmp/x.sock', connect)
  FdChannel.listen('/tmp/y.sock', listen).close()
}

// Whatever else the package exports must type-check too.
const names: (keyof typeof lib)[] = ['eventfd', 'eventfdRead', 'eventfdWrite']
console.log(names)
