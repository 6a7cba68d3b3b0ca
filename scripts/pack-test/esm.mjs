// ESM consumer: named imports must work (Node finds them in the CommonJS
// loader with cjs-module-lexer), as must the namespace import.
import assert from 'node:assert/strict'
import { closeSync } from 'node:fs'
import { createRequire } from 'node:module'

import * as lib from 'linux-fd'
import { eventfd, eventfdRead, eventfdWrite, EFD_NONBLOCK } from 'linux-fd'

const { smoke } = createRequire(import.meta.url)('./smoke.cjs')

const fd = eventfd(1, EFD_NONBLOCK)
eventfdWrite(fd, 1)
assert.equal(eventfdRead(fd), 2n)
closeSync(fd)
await smoke(lib.default ?? lib, 'esm')
