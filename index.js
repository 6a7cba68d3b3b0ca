// The package's CommonJS entry: the TypeScript API compiled from src/ (see
// docs/design.md). `index.mjs` is the ES module entry, `index.d.ts` the types.
'use strict'
// tsc compiles `export * from` into one shared getter per export, and all of
// them share one call site, so `lfd.x` in a user's loop is a megamorphic load:
// ~270 user-space instructions an access (docs/bench-floor.md). Copying the
// values onto a plain object once makes each access a plain property load.
// The exports are constants, functions and classes, so nothing goes stale.
const api = require('./dist/index.js')
const out = {}
for (const k of Object.keys(api)) out[k] = api[k]
Object.defineProperty(out, '__esModule', { value: true })
module.exports = out
