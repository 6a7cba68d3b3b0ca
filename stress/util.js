'use strict'
// Shared helpers for the stress cases: fd counts, RSS, child processes.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { machineInfo } = require('../bench/common.js')

/** Absolute path of the package entry, for children to `require`. */
const PKG = path.join(__dirname, '..', 'index.js')

/** Number of entries in /proc/self/fd. */
const fdCount = () => fs.readdirSync('/proc/self/fd').length

/** What each open fd is (readlink of /proc/self/fd/N), for failure messages. */
function fdTable() {
  const out = {}
  for (const n of fs.readdirSync('/proc/self/fd')) {
    try {
      out[n] = fs.readlinkSync(`/proc/self/fd/${n}`)
    } catch {}
  }
  return out
}

/** The fds that differ between two fdTable() snapshots, as a string. */
function fdDiff(before, after) {
  const lines = []
  for (const [n, what] of Object.entries(after)) if (before[n] !== what) lines.push(`+${n} ${what}`)
  for (const [n, what] of Object.entries(before)) if (after[n] !== what) lines.push(`-${n} ${what}`)
  return lines.join(', ')
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * Resident set size in bytes, after full GCs with event-loop turns in
 * between: Node runs the finalizers of external memory (napi-rs Buffers,
 * MemFile mappings) from the loop after a GC, not inside gc().
 */
async function rssAfterGc() {
  for (let i = 0; i < 3; i++) {
    global.gc()
    await sleep(10)
  }
  return process.memoryUsage.rss()
}

/**
 * Resident bytes of the `[heap]` mapping: the main malloc arena, which glibc
 * grows with brk. Small allocations made on the JS thread land there (Rust's
 * `Box`, napi-rs, libuv and Node all call malloc), so a small per-call leak
 * does too; V8 never allocates there, so unlike RSS this does not move with
 * V8's heap sizing. Measured here (2026-12-01), between phases of 100k clean
 * calls after full GCs, it moved by at most tens of kB where RSS - heapTotal
 * moved by 2.5 MB (docs/testing.md). null when the process has no `[heap]`
 * (musl's malloc, or a glibc whose brk failed and fell back to mmap).
 */
function arenaBytes() {
  const smaps = fs.readFileSync('/proc/self/smaps', 'utf8')
  const at = smaps.indexOf(' [heap]\n')
  if (at < 0) return null
  const rss = /\nRss:\s+(\d+) kB/.exec(smaps.slice(at))
  return rss ? Number(rss[1]) * 1024 : null
}

/**
 * Whether this process is emulated by qemu-user: qemu-user passes the host's
 * /proc/cpuinfo through, so non-x64 code that reads an x86 one (vendor_id)
 * is emulated. There RSS reads 0 (qemu's emulated /proc/self/stat) and
 * /proc/self/smaps is qemu's own, so native memory cannot be measured.
 */
function underQemuUser() {
  return process.arch !== 'x64' && /^vendor_id\s*:/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'))
}

/**
 * Memory after full GCs (as rssAfterGc), split so a leak can be told from
 * V8's heap sizing: `heapUsed` is the live JS heap (retained objects,
 * promises, closures); `native` is RSS minus the V8 heap's committed size
 * (`heapTotal`), i.e. what Rust, libuv and the allocator hold. V8 may keep
 * tens of MB of *empty* heap pages committed after allocation-heavy loops
 * (seen here with nothing but AbortController + abort() in a loop), which
 * shows in RSS but is neither of the two. `arena` is the main malloc arena
 * (arenaBytes), the low-noise figure for small native leaks.
 */
async function memAfterGc() {
  await rssAfterGc()
  const u = process.memoryUsage()
  return { rss: u.rss, heapUsed: u.heapUsed, native: u.rss - u.heapTotal, arena: arenaBytes() }
}

/** Throws `msg` unless `cond`. */
function check(cond, msg) {
  if (!cond) throw new Error(`invariant broken: ${msg}`)
}

/** Waits until cond() holds; throws after ms so a lost wake-up fails, not hangs. */
async function until(cond, ms = 10_000, what = 'condition') {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`)
    await sleep(1)
  }
}

/**
 * Spawns `node -e code` with `lfd` bound to the package; extra fds become
 * 3, 4, … in the child; `args` go to node, `scriptArgs` to the script
 * (process.argv.slice(1) under -e). `firstLine` resolves with the first
 * line the child prints (null if it exits first): its "ready" signal. Resolves { code, signal, stdout, stderr } on exit.
 * `child` is the ChildProcess, for kill().
 */
function runNode(code, { extraFds = [], args = [], scriptArgs = [], timeoutMs = 60_000 } = {}) {
  const prelude = `const lfd = require(${JSON.stringify(PKG)});\n`
  const child = spawn(process.execPath, [...args, '-e', prelude + code, ...scriptArgs.map(String)], { stdio: ['ignore', 'pipe', 'pipe', ...extraFds] })
  let stdout = ''
  let stderr = ''
  let gotLine
  const firstLine = new Promise((resolve) => (gotLine = resolve))
  child.stdout.on('data', (d) => {
    stdout += d
    if (stdout.includes('\n')) gotLine(stdout.split('\n')[0])
  })
  child.stderr.on('data', (d) => (stderr += d))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const done = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      gotLine(null)
      resolve({ code, signal, stdout, stderr })
    })
  })
  return { child, done, firstLine }
}


function machine() {
  const m = machineInfo()
  return `${m.date}, ${m.cpu} x${m.cores}, Linux ${m.kernel}, Node ${m.node}`
}

module.exports = { PKG, underQemuUser, fdCount, fdTable, fdDiff, rssAfterGc, memAfterGc, arenaBytes, sleep, check, until, runNode, machine, machineInfo }
