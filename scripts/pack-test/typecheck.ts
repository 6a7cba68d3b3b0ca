// Type-checked with `tsc --strict` against the installed package's index.d.ts.
import { closeSync } from 'node:fs'

import * as lib from 'linux-fd'
import { EFD_CLOEXEC, EFD_NONBLOCK, eventfd, eventfdRead, eventfdWrite } from 'linux-fd'

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

// Whatever else the package exports must type-check too.
const names: (keyof typeof lib)[] = ['eventfd', 'eventfdRead', 'eventfdWrite']
console.log(names)
