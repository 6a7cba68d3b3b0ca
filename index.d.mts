// The ES module entry's typings (index.mjs): the same names as index.d.ts,
// from the same tsc output, plus the default export that index.mjs has (the
// CommonJS entry's object). Without this file an ES module importer under
// `moduleResolution: node16`/`nodenext` was given index.d.ts, a CommonJS
// declaration, for an ES module file ("masquerading as CJS").
/// <reference types="node" />
import lfd from './dist/index.js'

export * from './dist/index.js'
export default lfd
