'use strict'
// Cross-process wake-up round trips, all measured in one run so the ratios
// are fair on a noisy machine: two Node processes ping-pong through
// (a) two EventCounters, (b) two Semaphores, (c) a pipe (child stdio),
// (d) child_process IPC. Both sides await; nobody spins. For reference, the
// sync forms: (e, f) the same eventfds with both sides blocking in
// takeSync() / acquireSync(), as a worker or a script may.
//
// Usage: node bench/roundtrip.js [--quick] [--json]
const { spawn } = require('node:child_process')
const path = require('node:path')
const lfd = require('..')
const { median, runAsScript } = require('./common.js')

const PKG = path.join(__dirname, '..', 'index.js')
const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 7
const N = quick ? 500 : 3000
const WARMUP = quick ? 100 : 500

function child(code, stdio) {
  return spawn(process.execPath, ['-e', `const lfd = require(${JSON.stringify(PKG)});\n${code}`], { stdio })
}

async function eventfdPair(Kind, sync = false) {
  const ping = new Kind(0)
  const pong = new Kind(0)
  const wait = (Kind === lfd.Semaphore ? 'acquire' : 'take') + (sync ? 'Sync' : '')
  const signal = Kind === lfd.Semaphore ? 'release' : 'add'
  const c = child(
    `const ping = lfd.${Kind.name}.fromFd(3), pong = lfd.${Kind.name}.fromFd(4)
     ;(async () => { for (;;) { ${sync ? '' : 'await '}ping.${wait}(); pong.${signal}(1) } })()`,
    ['ignore', 'inherit', 'inherit', ping.fd, pong.fd],
  )
  const once = sync
    ? () => {
        ping[signal](1)
        pong[wait]()
      }
    : async () => {
        ping[signal](1)
        await pong[wait]()
      }
  return { once, close: () => { c.kill(); ping.close(); pong.close() } }
}

async function pipePair() {
  const c = child(`process.stdin.on('data', (d) => process.stdout.write(d))`, ['pipe', 'pipe', 'inherit'])
  let resolve
  c.stdout.on('data', () => resolve())
  const once = () => new Promise((r) => { resolve = r; c.stdin.write('x') })
  return { once, close: () => c.kill() }
}

async function ipcPair() {
  const c = child(`process.on('message', (m) => process.send(m))`, ['ignore', 'inherit', 'inherit', 'ipc'])
  let resolve
  c.on('message', () => resolve())
  const once = () => new Promise((r) => { resolve = r; c.send(1) })
  return { once, close: () => c.kill() }
}

async function measure(pair) {
  for (let i = 0; i < WARMUP; i++) await pair.once()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) await pair.once()
  return Number(process.hrtime.bigint() - t0) / N / 1000 // µs per round trip
}


async function main() {
  const cases = {
    'EventCounter await take() / add()': () => eventfdPair(lfd.EventCounter),
    'Semaphore await acquire() / release()': () => eventfdPair(lfd.Semaphore),
    'pipe (child stdio)': pipePair,
    'child_process IPC': ipcPair,
    'EventCounter takeSync() both sides': () => eventfdPair(lfd.EventCounter, true),
    'Semaphore acquireSync() both sides': () => eventfdPair(lfd.Semaphore, true),
  }
  const pairs = {}
  for (const [name, make] of Object.entries(cases)) pairs[name] = await make()
  const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
  // Interleave rounds so drift in machine load hits every case alike.
  for (let r = 0; r < ROUNDS; r++) for (const name of Object.keys(cases)) samples[name].push(await measure(pairs[name]))
  for (const p of Object.values(pairs)) p.close()
  const pipe = median(samples['pipe (child stdio)'])
  const rows = Object.entries(samples).map(([name, xs]) => ({
    name,
    medianUs: +median(xs).toFixed(2),
    minUs: +Math.min(...xs).toFixed(2),
    maxUs: +Math.max(...xs).toFixed(2),
    vsPipe: +(median(xs) / pipe).toFixed(3),
  }))
  return { rounds: ROUNDS, n: N, rows }
}

function print(res) {
  console.log(`cross-process round trip, ${res.rounds} rounds x ${res.n} (median, min-max); the first four await on both sides`)
  for (const r of res.rows) {
    console.log(`  ${r.name.padEnd(40)} ${r.medianUs.toFixed(1).padStart(7)} µs  (${r.minUs.toFixed(1)}-${r.maxUs.toFixed(1)})  ${r.vsPipe.toFixed(2)}x pipe`)
  }
}

module.exports = { main, print }
runAsScript(module, main, print)
