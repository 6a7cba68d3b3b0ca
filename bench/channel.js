'use strict'
// Message round trips between two processes, all measured in one run so the
// ratios are fair on a noisy machine: a send + receive that carries one fd
// (a Semaphore) through FdChannel, against Node's `net` over a Unix socket
// and child_process IPC (`process.send`), which carry no fd, and Python's
// socket.send_fds/recv_fds (one fd, two Python processes). Each side answers
// with an empty message.
//
// Usage: node bench/channel.js [--quick] [--json]
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
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

async function fdChannelPair() {
  const [mine, theirs] = lfd.FdChannel.pair()
  const c = child(
    `const ch = lfd.FdChannel.fromFd(3)
     ;(async () => { for await (const m of ch) { m.fds.close(); await ch.send('') } })()`,
    ['ignore', 'inherit', 'inherit', theirs.fd],
  )
  theirs.close()
  const sem = new lfd.Semaphore(0)
  const once = async () => {
    await mine.send('x', [sem])
    await mine.receive()
  }
  return { once, close: () => { c.kill(); mine.close(); sem.close() } }
}

async function netPair(dir) {
  const sock = path.join(dir, 'net.sock')
  const c = child(
    `require('net').createServer((s) => s.on('data', (d) => s.write(d))).listen(${JSON.stringify(sock)}, () => console.log('ready'))`,
    ['ignore', 'pipe', 'inherit'],
  )
  await new Promise((r) => c.stdout.once('data', r))
  const s = net.connect(sock)
  await new Promise((r) => s.once('connect', r))
  s.setNoDelay?.(true)
  let resolve
  s.on('data', () => resolve())
  const once = () => new Promise((r) => { resolve = r; s.write('x') })
  return { once, close: () => { s.destroy(); c.kill() } }
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

// Python measures itself: a SOCK_SEQPACKET socketpair across a fork, the
// parent sends one fd with send_fds, the child closes it and answers.
const PYTHON = `
import os, socket, sys, time
rounds, n, warm = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
r, w = os.pipe()
if os.fork() == 0:
    a.close()
    while True:
        data, fds, _, _ = socket.recv_fds(b, 16, 1)
        if not data: os._exit(0)
        for fd in fds: os.close(fd)
        b.send(b'y')
b.close()
def once():
    socket.send_fds(a, [b'x'], [w])
    a.recv(16)
out = []
for _ in range(rounds):
    for _ in range(warm): once()
    t0 = time.perf_counter_ns()
    for _ in range(n): once()
    out.append((time.perf_counter_ns() - t0) / n / 1000)
a.close()
os.wait()
print(' '.join('%.3f' % x for x in out))
`

function python() {
  const r = spawnSync('python3', ['-c', PYTHON, String(ROUNDS), String(N), String(WARMUP)], { encoding: 'utf8' })
  if (r.status !== 0 || r.error) return null
  const xs = r.stdout.trim().split(/\s+/).map(Number)
  return xs.every(Number.isFinite) ? xs : null
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-bench-channel-'))
  const cases = {
    'FdChannel send+receive, 1 fd': fdChannelPair,
    'net over a Unix socket, no fd': () => netPair(dir),
    'child_process IPC (process.send), no fd': ipcPair,
  }
  const pairs = {}
  for (const [name, make] of Object.entries(cases)) pairs[name] = await make()
  const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
  for (let r = 0; r < ROUNDS; r++) for (const name of Object.keys(cases)) samples[name].push(await measure(pairs[name]))
  for (const p of Object.values(pairs)) p.close()
  fs.rmSync(dir, { recursive: true, force: true })
  const py = python()
  if (py) samples['Python send_fds/recv_fds, 1 fd'] = py
  const ref = median(samples['net over a Unix socket, no fd'])
  const rows = Object.entries(samples).map(([name, xs]) => ({
    name,
    medianUs: +median(xs).toFixed(2),
    minUs: +Math.min(...xs).toFixed(2),
    maxUs: +Math.max(...xs).toFixed(2),
    vsNet: +(median(xs) / ref).toFixed(3),
  }))
  return { rounds: ROUNDS, n: N, python: py !== null, rows }
}

function print(res) {
  console.log(`message round trip between two processes, ${res.rounds} rounds x ${res.n} (median, min-max)${res.python ? '' : '; python3 not found: no Python row'}`)
  for (const r of res.rows) {
    console.log(`  ${r.name.padEnd(42)} ${r.medianUs.toFixed(1).padStart(7)} µs  (${r.minUs.toFixed(1)}-${r.maxUs.toFixed(1)})  ${r.vsNet.toFixed(2)}x net`)
  }
}

module.exports = { main, print }
runAsScript(module, main, print)
