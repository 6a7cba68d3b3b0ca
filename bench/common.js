'use strict'
// What the bench scripts share: the median, building a C baseline, the
// machine record, and the "run as a script" entry (print, or --json).
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

/** The median of a list of numbers (the upper one of an even count). */
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/**
 * Compiles bench/<name>.c with the machine's `cc -O2` into bench/build/<name>;
 * returns the binary's path, or null (with a note on stderr) if cc fails.
 */
function buildC(name) {
  const out = path.join(__dirname, 'build', name)
  fs.mkdirSync(path.dirname(out), { recursive: true })
  try {
    execFileSync('cc', ['-O2', '-o', out, path.join(__dirname, `${name}.c`)], { stdio: 'pipe' })
    return out
  } catch (e) {
    console.error(`C baseline ${name} skipped: cc failed (${e.message.split('\n')[0]})`)
    return null
  }
}

/** The machine a run happened on, for the results JSON. */
function machineInfo() {
  return {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    kernel: os.release(),
    node: process.version,
  }
}

/**
 * When `mod` is the script node was started with, runs `main()` and prints
 * its result with `print` (or as JSON with --json), then exits.
 */
function runAsScript(mod, main, print) {
  if (require.main !== mod) return
  main().then((res) => {
    if (process.argv.includes('--json')) console.log(JSON.stringify(res))
    else print(res)
    process.exit(0)
  })
}

module.exports = { median, buildC, machineInfo, runAsScript }
