// The ES module entry's typings (index.mjs): the same names as index.d.ts,
// from the same tsc output, plus the default export that index.mjs has (the
// CommonJS entry's object). Without this file an ES module importer under
// `moduleResolution: node16`/`nodenext` was given index.d.ts, a CommonJS
// declaration, for an ES module file ("masquerading as CJS").
/// <reference types="node" />
export * from './dist/index.js'

// Declared, not imported as a default: a default import of the CommonJS
// typings was `any` under `allowSyntheticDefaultImports: false` (s37-diff
// L7). `default` is left out: the object has no such key.
declare const lfd: Omit<typeof import('./dist/index.js'), 'default'>
export default lfd
