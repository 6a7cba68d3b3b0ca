'use strict'
// fd leaks: create/close cycles of every class and fd-returning function,
// objects dropped without close() and collected, and mappings dropped
// without unmap(). The count of /proc/self/fd entries (and of the
// mappings in /proc/self/maps) must return to where it started.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const lfd = require('../..')

// Mappings of the case's own memfd only: other mappings (V8's heap, and
// under qemu-user the emulator's view of the guest's) come and go.
const mapCount = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('/memfd:stress-maps')).length

module.exports = {
  name: 'fd-leaks',
  title: 'create/close cycles, objects dropped for the GC, mappings dropped',
  async run({ quick, log, util }) {
    const { fdCount, check, sleep } = util
    const CYCLES = quick ? 10_000 : 100_000
    const DROPS = quick ? 2_000 : 10_000
    const base = fdCount()
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-stress-'))
    const lockPath = path.join(dir, 'lock')
    fs.writeFileSync(lockPath, '')
    const lockFd = fs.openSync(lockPath, 'r+')
    const figures = { cycles: CYCLES, drops: DROPS }
    const held = []

    const source = new lfd.EventCounter(0)
    // Each maker returns something that close() (or release()) frees.
    const makers = {
      EventCounter: () => new lfd.EventCounter(1),
      Semaphore: () => new lfd.Semaphore(1),
      Timer: () => new lfd.Timer('monotonic'),
      MemFile: () => lfd.MemFile.create('stress'),
      'EventCounter.fromFd': () => lfd.EventCounter.fromFd(source.fd),
      'FileLock (ofd, path)': () => lfd.tryLockFile(lockPath),
      'FileLock (flock, fd)': () => lfd.tryLockFile(lockFd, { kind: 'flock' }),
    }
    const closeIt = (o) => (o instanceof lfd.FileLock ? o.release() : o.close())
    const rawMakers = {
      eventfd: () => lfd.eventfd(0),
      memfdCreate: () => lfd.memfdCreate('stress'),
      timerfdCreate: () => lfd.timerfdCreate(lfd.CLOCK_MONOTONIC),
    }

    for (const [name, make] of Object.entries(makers)) {
      const before = fdCount()
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < CYCLES; i++) {
        const o = make()
        check(o !== null, `${name} returned null`)
        closeIt(o)
      }
      const us = Number(process.hrtime.bigint() - t0) / CYCLES / 1000
      const after = fdCount()
      check(after === before, `${name}: ${CYCLES} create/close cycles left ${after - before} fds`)
      log(`${name}: ${CYCLES} create/close, fds ${before} -> ${after} (${us.toFixed(2)} µs/cycle)`)
    }
    for (const [name, make] of Object.entries(rawMakers)) {
      const before = fdCount()
      for (let i = 0; i < CYCLES; i++) fs.closeSync(make())
      const after = fdCount()
      check(after === before, `${name}: ${CYCLES} cycles left ${after - before} fds`)
      log(`${name}() + fs.closeSync: ${CYCLES} cycles, fds ${before} -> ${after}`)
    }
    held.push(`${CYCLES} create/close cycles of each of ${Object.keys(makers).length} classes/factories and ${Object.keys(rawMakers).length} raw calls: no fd left open`)

    // Dropped without close(): the finalizers must close every fd. Objects
    // with a pending async wait stay alive (the wait holds them) until the
    // wait settles, so these are idle objects.
    async function collect(expected, what) {
      for (let i = 0; i < 50 && fdCount() !== expected; i++) {
        global.gc()
        await sleep(10)
      }
      const n = fdCount()
      check(n === expected, `${what}: ${n - expected} fds still open after GC`)
    }
    for (const [name, make] of Object.entries(makers)) {
      if (name.startsWith('FileLock (ofd')) continue // one path lock at a time per OFD: covered below
      const before = fdCount()
      let peak = 0
      ;(() => {
        const keep = []
        for (let i = 0; i < DROPS; i++) keep.push(make())
        peak = fdCount()
      })()
      await collect(before, `${name} x${DROPS} dropped`)
      log(`${name}: ${DROPS} dropped without close(), fds ${before} -> ${peak} -> ${fdCount()} after gc()`)
    }
    // OFD locks on distinct ranges of one file: 10k live locks at once.
    {
      const before = fdCount()
      ;(() => {
        const keep = []
        for (let i = 0; i < DROPS; i++) {
          const l = lfd.tryLockFile(lockPath, { range: { start: i, length: 1 } })
          check(l !== null, `range ${i} lock refused`)
          keep.push(l)
        }
      })()
      await collect(before, `FileLock ranges x${DROPS} dropped`)
      // The collected locks were unlocked too: the whole file is free again.
      const all = lfd.tryLockFile(lockPath)
      check(all !== null, 'whole-file lock refused after the range locks were collected')
      all.release()
      log(`FileLock (ofd ranges): ${DROPS} held then dropped; fds back to ${fdCount()}, whole file lockable again`)
    }
    held.push(`${DROPS} objects of each class dropped without close(): gc() closed every fd (and unlocked every lock)`)

    // Mappings dropped without unmap(): the ArrayBuffers' finalizers munmap.
    {
      const mf = lfd.MemFile.create('stress-maps', { sealable: true })
      mf.truncate(4096)
      mf.addSeals({ shrink: true })
      const maps0 = mapCount()
      // The count must see a live mapping, or the check below proves nothing.
      const probe = mf.map()
      check(mapCount() === maps0 + 1, `a live mapping of the memfd is not in /proc/self/maps (${mapCount()} lines, ${maps0} before)`)
      mf.unmap(probe)
      const n = quick ? 2_000 : 10_000
      ;(() => {
        for (let i = 0; i < n; i++) new Uint8Array(mf.map())[0] = i & 0xff
      })()
      let maps = mapCount()
      for (let i = 0; i < 50 && maps > maps0 + 2; i++) {
        global.gc()
        await sleep(10)
        maps = mapCount()
      }
      check(maps <= maps0 + 2, `${maps - maps0} mappings left after dropping ${n} and gc()`)
      check(mf.mappings <= 2, `MemFile still counts ${mf.mappings} mappings`)
      mf.close()
      log(`MemFile.map(): ${n} mappings dropped, /proc/self/maps lines ${maps0} -> ${maps}`)
      held.push(`${n} mappings dropped without unmap(): all unmapped by gc()`)
      figures.mappingsDropped = n
    }

    fs.closeSync(lockFd)
    source.close()
    fs.rmSync(dir, { recursive: true })
    const end = fdCount()
    check(end === base, `fd count ${base} at start, ${end} at end`)
    figures.fdsAtStart = base
    figures.fdsAtEnd = end
    return { held, figures }
  },
}
