// The package's ES module entry: the same exports as the CommonJS entry
// (Node finds the names statically in dist/, compiled from src/ by tsc).
export * from './dist/index.js'
