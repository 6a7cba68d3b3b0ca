// Type-checked with `tsc --strict` against the installed package's index.d.ts.
import { closeSync } from 'node:fs'

import * as lib from 'linux-fd'
import { EFD_CLOEXEC, EFD_NONBLOCK, eventfd, eventfdRead, eventfdWrite, EventCounter, MemFile, tryLockFile, type FdIterator } from 'linux-fd'

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

// Whatever else the package exports must type-check too.
const names: (keyof typeof lib)[] = ['eventfd', 'eventfdRead', 'eventfdWrite']
console.log(names)
