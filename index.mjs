// The package's ES module entry: the same exports as the CommonJS entry
// (Node finds the names statically in dist/, compiled from src/ by tsc),
// and the CommonJS entry's object as the default export, as the typings
// (a CommonJS-format index.d.ts) let `import lfd from 'linux-fd'` expect.
export * from './dist/index.js'
export { default } from './index.js'
