'use strict'
// Shared helpers for the stress cases: fd counts, RSS, child processes.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

/** Absolute path of the package entry, for children to `require`. */
const PKG = path.join(__dirname, '..', 'index.js')

/** Number of entries in /proc/self/fd. */
const fdCount = () => fs.readdirSync('/proc/self/fd').length

/** Resident set size in bytes, after a full GC. */
function rssAfterGc() {
  global.gc()
  global.gc()
  return process.memoryUsage.rss()
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

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
 * 3, 4, … in the child. Resolves { code, signal, stdout, stderr } on exit.
 * `child` is the ChildProcess, for kill().
 */
function runNode(code, { extraFds = [], args = [], timeoutMs = 60_000 } = {}) {
  const prelude = `const lfd = require(${JSON.stringify(PKG)});\n`
  const child = spawn(process.execPath, [...args, '-e', prelude + code], { stdio: ['ignore', 'pipe', 'pipe', ...extraFds] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const done = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
  return { child, done }
}

function machineInfo() {
  return {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    kernel: os.release(),
    node: process.version,
  }
}

function machine() {
  const m = machineInfo()
  return `${m.date}, ${m.cpu} x${m.cores}, Linux ${m.kernel}, Node ${m.node}`
}

module.exports = { PKG, fdCount, rssAfterGc, sleep, check, until, runNode, machine, machineInfo }
