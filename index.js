// The package's CommonJS entry: the TypeScript API compiled from src/ (see
// docs/design.md). `index.mjs` is the ES module entry, `index.d.ts` the types.
'use strict'
module.exports = require('./dist/index.js')
