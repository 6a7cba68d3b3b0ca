// ESM consumer: named imports must work (Node finds them in the CommonJS
// loader with cjs-module-lexer), as must the namespace import and the default
// import, which the typings declare (index.d.mts; before it, the
// CommonJS-format index.d.ts allowed it): without a default export in index.mjs, `import lfd from 'linux-fd'` type-checked and
// then failed with "does not provide an export named 'default'".
import assert from 'node:assert/strict'
import { closeSync } from 'node:fs'
import { createRequire } from 'node:module'

import * as lib from 'linux-fd'
import lfd from 'linux-fd'
import { eventfd, eventfdRead, eventfdWrite, EFD_NONBLOCK } from 'linux-fd'

const { smoke } = createRequire(import.meta.url)('./smoke.cjs')

const fd = eventfd(1, EFD_NONBLOCK)
eventfdWrite(fd, 1)
assert.equal(eventfdRead(fd), 2n)
closeSync(fd)
assert.equal(lfd.Semaphore, lib.Semaphore)
assert.equal(lfd.eventfd, eventfd)
await smoke(lib, 'esm')
