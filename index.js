// The package's CommonJS entry: the TypeScript API compiled from src/ (see
// docs/design.md). `index.mjs` is the ES module entry, `index.d.ts` the types.
'use strict'
// tsc compiles `export * from` into one shared getter per export, and all of
// them share one call site, so `lfd.x` in a user's loop is a megamorphic load:
// ~270 user-space instructions an access (docs/bench-floor.md). Copying the
// values onto a plain object once makes each access a plain property load.
// The exports are constants, functions and classes, so nothing goes stale.
// `Object.fromEntries` makes the copy with V8's fast properties; adding 100
// keys one by one (the first version of this file) left it in dictionary
// mode, where `lfd.x` is a LoadIC stub call rather than an inlined load.
const api = require('./dist/index.js')
// No `__esModule` marker: TypeScript's CommonJS output of `import lfd from
// 'linux-fd'` trusts it and reads `.default`, which does not exist, so the
// import type-checked and was `undefined` (scripts/pack-test/default.cts).
module.exports = Object.fromEntries(Object.entries(api))
