// StrykerJS over the TypeScript sources (issue 16; run by scripts/mutants.sh).
// Stryker mutates src/*.ts in a sandbox copy; the specs run against dist/,
// so the command rebuilds it first, with esbuild (which tsx brings): a
// transpile of src/*.ts to CommonJS in 0.2 s, where `tsc --noCheck` took
// 19 s on the shared machine. The TypeScript checker has already set aside
// the mutants that do not compile (CompileError, not counted as killed).
//
// MUTANTS_SPECS (space-separated) picks the specs; the default is the ones
// that exercise the critical files (eventfd, waits) plus mutants.spec.ts.
// MUTANTS_MATCH is passed to ava's --match, to leave out tests that cannot
// run on this checkout.
const specs =
  process.env.MUTANTS_SPECS ??
  '__test__/semaphore.spec.ts __test__/event-counter.spec.ts __test__/eventfd.spec.ts __test__/mutants.spec.ts'
// MUTANTS_REPORT (default .cache/mutants/ts) is where the reports go, so
// that two runs can go on side by side.
const report = process.env.MUTANTS_REPORT ?? '.cache/mutants/ts'
const match = process.env.MUTANTS_MATCH ? ` --match ${JSON.stringify(process.env.MUTANTS_MATCH)}` : ''

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'command',
  commandRunner: { command: `npx esbuild src/*.ts --outdir=dist --format=cjs --platform=node --target=es2022 --log-level=warning && npx ava --fail-fast ${specs}${match}` },
  mutate: ['src/waiter.ts', 'src/eventfd.ts', 'src/memfd.ts', 'src/lock.ts'],
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.build.json',
  coverageAnalysis: 'off',
  // 2 cores shared: one mutant at a time.
  concurrency: 1,
  // MUTANTS_TIMEOUT_MS: the quick form's single spec runs in seconds, so a
  // hang is cut sooner there.
  timeoutMS: Number(process.env.MUTANTS_TIMEOUT_MS ?? 120_000),
  tempDirName: '.cache/stryker-tmp',
  cleanTempDir: true,
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: `${report}/mutation.json` },
  htmlReporter: { fileName: `${report}/mutation.html` },
  // The addon is git-ignored but must be in the sandbox.
  ignorePatterns: ['/target', '/.cache', '/bench/build', '/docs/api', '/dist'],
}
