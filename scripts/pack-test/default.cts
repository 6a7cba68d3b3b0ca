// TypeScript compiled to CommonJS (a .cts file under NodeNext, as a project
// without "type": "module", ts-jest or `module: commonjs` gives): `import lfd
// from 'linux-fd'` becomes `__importDefault(require('linux-fd')).default`.
// An `__esModule` marker on the CommonJS entry's object made that
// `undefined`: it type-checked, then threw at the first `lfd.x`. Compiled
// with `"types": []`: index.d.ts must pull in @types/node itself.
import assert from 'node:assert/strict'
import { closeSync } from 'node:fs'

import lfd from 'linux-fd'
import * as ns from 'linux-fd'

assert.equal(typeof lfd.Semaphore, 'function')
assert.equal(lfd.Semaphore, ns.Semaphore)
const fd = lfd.eventfd(3, lfd.EFD_NONBLOCK)
assert.equal(lfd.eventfdRead(fd), 3n)
closeSync(fd)
console.log('default import from TypeScript compiled to CommonJS: ok')
