'use strict'
// Cross-thread wake-up round trips between the main thread and a
// worker_thread, all measured in one run so the ratios are fair on a noisy
// machine: (a) two EventCounters, (b) two Semaphores (the worker wraps the
// fds with fromFd, which dups them), (c) MessagePort postMessage ping-pong,
// (d) Atomics.notify + Atomics.waitAsync on a SharedArrayBuffer. Both sides
// await; nobody spins or blocks.
//
// Usage: node bench/threads.js [--quick] [--json]
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const lfd = require('..')
const { median, runAsScript } = require('./common.js')

const PKG = path.join(__dirname, '..', 'index.js')
const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 7
const N = quick ? 1000 : 5000
const WARMUP = quick ? 200 : 1000

function worker(code, workerData) {
  const w = new Worker(`const lfd = require(${JSON.stringify(PKG)}); const { parentPort, workerData } = require('node:worker_threads');\n${code}`, { eval: true, workerData })
  w.on('error', (e) => { console.error(e); process.exit(1) })
  return w
}

async function eventfdPair(Kind) {
  const ping = new Kind(0)
  const pong = new Kind(0)
  const wait = Kind === lfd.Semaphore ? 'acquire' : 'take'
  const signal = Kind === lfd.Semaphore ? 'release' : 'add'
  const w = worker(
    `const ping = lfd.${Kind.name}.fromFd(workerData.ping), pong = lfd.${Kind.name}.fromFd(workerData.pong)
     parentPort.postMessage('ready')
     ;(async () => { for (;;) { await ping.${wait}(); pong.${signal}(1) } })()`,
    { ping: ping.fd, pong: pong.fd },
  )
  await new Promise((r) => w.once('message', r))
  const once = async () => {
    ping[signal](1)
    await pong[wait]()
  }
  return { once, close: async () => { await w.terminate(); ping.close(); pong.close() } }
}

async function portPair() {
  const w = worker(`parentPort.on('message', (m) => parentPort.postMessage(m))`)
  let resolve
  w.on('message', () => resolve())
  const once = () => new Promise((r) => { resolve = r; w.postMessage(1) })
  return { once, close: () => w.terminate() }
}

// i32[0] counts pings (main -> worker), i32[1] pongs; each side awaits the
// other's counter with Atomics.waitAsync (which answers at once, without a
// promise, if the value already moved). A pending waitAsync does not keep a
// Node event loop alive, so the worker holds a timer to not exit under it.
async function atomicsPair() {
  const i32 = new Int32Array(new SharedArrayBuffer(8))
  const w = worker(
    `const i32 = workerData
     setInterval(() => {}, 1 << 30)
     ;(async () => {
       for (let seen = 0; ; ) {
         for (;;) {
           const r = Atomics.waitAsync(i32, 0, seen)
           if (!r.async) break
           await r.value
         }
         seen = Atomics.load(i32, 0)
         Atomics.add(i32, 1, 1)
         Atomics.notify(i32, 1)
       }
     })()`,
    i32,
  )
  let pongs = 0
  const once = async () => {
    Atomics.add(i32, 0, 1)
    Atomics.notify(i32, 0)
    for (;;) {
      const r = Atomics.waitAsync(i32, 1, pongs)
      if (!r.async) break
      await r.value
    }
    pongs = Atomics.load(i32, 1)
  }
  return { once, close: () => w.terminate() }
}

async function measure(pair) {
  for (let i = 0; i < WARMUP; i++) await pair.once()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) await pair.once()
  return Number(process.hrtime.bigint() - t0) / N / 1000 // µs per round trip
}

const PORT = 'MessagePort postMessage'

async function main() {
  const cases = {
    'EventCounter await take() / add()': () => eventfdPair(lfd.EventCounter),
    'Semaphore await acquire() / release()': () => eventfdPair(lfd.Semaphore),
    [PORT]: portPair,
    'Atomics.waitAsync / notify (SAB)': atomicsPair,
  }
  const pairs = {}
  for (const [name, make] of Object.entries(cases)) pairs[name] = await make()
  const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
  for (let r = 0; r < ROUNDS; r++) for (const name of Object.keys(cases)) samples[name].push(await measure(pairs[name]))
  for (const p of Object.values(pairs)) await p.close()
  const port = median(samples[PORT])
  const rows = Object.entries(samples).map(([name, xs]) => ({
    name,
    medianUs: +median(xs).toFixed(2),
    minUs: +Math.min(...xs).toFixed(2),
    maxUs: +Math.max(...xs).toFixed(2),
    vsMessagePort: +(median(xs) / port).toFixed(3),
  }))
  return { rounds: ROUNDS, n: N, rows }
}

function print(res) {
  console.log(`cross-thread round trip, main thread <-> worker, ${res.rounds} rounds x ${res.n} (median, min-max), all awaited`)
  for (const r of res.rows) {
    console.log(`  ${r.name.padEnd(40)} ${r.medianUs.toFixed(1).padStart(7)} µs  (${r.minUs.toFixed(1)}-${r.maxUs.toFixed(1)})  ${r.vsMessagePort.toFixed(2)}x MessagePort`)
  }
}

module.exports = { main, print }
runAsScript(module, main, print)
