'use strict'
// One side of bench/locks.js's contended lock chain, in Node (bench/locks.c
// is the same in C). Usage: node bench/lock-side.js <variant> <a|b> <n> <dir>
//
// Three lock files l0, l1, l2. Side a starts holding l0, side b l1 and l2.
// Step i of a: lock l[(i+1)%3], then unlock l[i%3].
// Step i of b: unlock l[(i+1)%3], then lock l[i%3].
// Every lock waits for an unlock by the other process, so the 2n locks form
// one chain of hand-offs and the two processes strictly alternate. With n a
// multiple of 3, both sides end a round holding what they started with.
//
// Protocol: prints "r" once its first locks are held; then for each line
// read on stdin runs one round and prints "<start> <end>" (process.hrtime,
// i.e. CLOCK_MONOTONIC ns); exits when stdin ends.
const fs = require('node:fs')
const path = require('node:path')
const lfd = require('..')

const [variant, role, nArg, dir] = process.argv.slice(2)
const n = Number(nArg)
const files = [0, 1, 2].map((i) => path.join(dir, `l${i}`))
const dep = (name) => require(require.resolve(name, { paths: [__dirname] }))

function sides() {
  switch (variant) {
    case 'lockfile-ofd':
    case 'lockfile-flock': {
      const kind = variant.slice('lockfile-'.length)
      const held = []
      return {
        lock: async (i) => { held[i] = await lfd.lockFile(files[i], { kind }) },
        unlock: (i) => held[i].release(),
      }
    }
    case 'lockfile-fd-ofd':
    case 'lockfile-fd-flock': {
      // Through fds opened once, as fs-ext's row: no open or path check per lock
      // (a lock by fd still dups and closes an fd of its own).
      const kind = variant.slice('lockfile-fd-'.length)
      const fds = files.map((f) => fs.openSync(f, 'r+'))
      const held = []
      return {
        lock: async (i) => { held[i] = await lfd.lockFile(fds[i], { kind }) },
        unlock: (i) => held[i].release(),
      }
    }
    case 'flock-sync': {
      const fds = files.map((f) => fs.openSync(f, 'r+'))
      return {
        lock: (i) => lfd.flock(fds[i], lfd.LOCK_EX),
        unlock: (i) => lfd.flock(fds[i], lfd.LOCK_UN),
      }
    }
    case 'proper-lockfile': {
      const plf = dep('proper-lockfile')
      // As fast as it goes: a retry every 1 ms (its default waits 1 s, then doubles).
      const opts = { realpath: false, retries: { retries: 1, forever: true, factor: 1, minTimeout: 1, maxTimeout: 1 } }
      const held = []
      return {
        lock: async (i) => { held[i] = await plf.lock(files[i], opts) },
        unlock: (i) => held[i](),
      }
    }
    case 'fs-ext': {
      const fsext = dep('fs-ext')
      const fds = files.map((f) => fs.openSync(f, 'r+'))
      return {
        // fs-ext's async flock is a blocking flock(2) on libuv's threadpool.
        lock: (i) => new Promise((resolve, reject) => fsext.flock(fds[i], 'ex', (e) => (e ? reject(e) : resolve()))),
        unlock: (i) => fsext.flockSync(fds[i], 'un'),
      }
    }
    default:
      throw new Error(`unknown variant ${variant}`)
  }
}

async function round(lock, unlock) {
  const t0 = process.hrtime.bigint()
  // Sync variants return undefined: not awaiting them keeps microtask hops out of their timing.
  if (role === 'a') {
    for (let i = 0; i < n; i++) {
      const p = lock((i + 1) % 3)
      if (p) await p
      const q = unlock(i % 3)
      if (q) await q
    }
  } else {
    for (let i = 0; i < n; i++) {
      const q = unlock((i + 1) % 3)
      if (q) await q
      const p = lock(i % 3)
      if (p) await p
    }
  }
  return `${t0} ${process.hrtime.bigint()}\n`
}

async function main() {
  if (n % 3) throw new Error('n must be a multiple of 3')
  const { lock, unlock } = sides()
  if (role === 'a') await lock(0)
  else {
    await lock(1)
    await lock(2)
  }
  process.stdout.write('r\n')
  process.stdin.setEncoding('utf8')
  for await (const chunk of process.stdin) {
    for (let k = 0; k < chunk.split('\n').length - 1; k++) process.stdout.write(await round(lock, unlock))
  }
  process.exit(0)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
