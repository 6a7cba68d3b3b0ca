// A few calls of each primitive of the installed package, run from both
// CommonJS (cjs.cjs) and ESM (esm.mjs). Every check must run: a missing
// export is a failure, never a skip.
//
// To extend: add an entry to CHECKS, named after the export it needs. Use only
// the public API, as a user would.
'use strict'
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const CHECKS = {
  eventfd(lib) {
    const fd = lib.eventfd(0, lib.EFD_CLOEXEC | lib.EFD_NONBLOCK)
    try {
      lib.eventfdWrite(fd, 2)
      lib.eventfdWrite(fd, 40n)
      assert.equal(lib.eventfdRead(fd), 42n)
      assert.throws(() => lib.eventfdRead(fd), { code: 'EAGAIN', errno: -11, syscall: 'eventfd_read' })
      assert.throws(() => lib.eventfd(-1), { code: 'ERR_OUT_OF_RANGE' })
    } finally {
      fs.closeSync(fd)
    }
  },
  async EventCounter(lib) {
    const c = new lib.EventCounter(0)
    try {
      c.add(5)
      assert.equal(c.tryTake(), 5n)
      assert.equal(c.tryTake(), null)
      const taken = c.take()
      c.add(2n)
      assert.equal(await taken, 2n)
    } finally {
      c.close()
    }
    assert.throws(() => c.add(1), { code: 'ERR_USE_AFTER_CLOSE' })
  },
  async Semaphore(lib) {
    const s = new lib.Semaphore(1)
    try {
      assert.equal(s.tryAcquire(), true)
      assert.equal(s.tryAcquire(), false)
      const acquired = s.acquire()
      s.release()
      const permit = await acquired
      permit.release()
      assert.equal(s.count, 1n)
    } finally {
      s.close()
    }
  },
  memfdCreate(lib) {
    const fd = lib.memfdCreate('pack-test')
    try {
      fs.writeSync(fd, 'hello')
      assert.equal(fs.fstatSync(fd).size, 5)
    } finally {
      fs.closeSync(fd)
    }
  },
  timerfdCreate(lib) {
    const fd = lib.timerfdCreate(lib.CLOCK_MONOTONIC ?? 1)
    assert.ok(Number.isInteger(fd) && fd >= 0)
    fs.closeSync(fd)
  },
  flock(lib) {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-pack-')), 'lock')
    const fd = fs.openSync(file, 'w')
    try {
      lib.flock(fd, (lib.LOCK_EX ?? 2) | (lib.LOCK_NB ?? 4))
      lib.flock(fd, lib.LOCK_UN ?? 8)
    } finally {
      fs.closeSync(fd)
      fs.rmSync(path.dirname(file), { recursive: true, force: true })
    }
  },
  async Timer(lib) {
    const t = new lib.Timer('monotonic')
    try {
      t.set(5)
      assert.ok((await t.wait()) >= 1n)
      assert.equal(t.tryWait(), null)
    } finally {
      t.close()
    }
  },
  async lockFile(lib) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-pack-'))
    const file = path.join(dir, 'lock')
    try {
      const held = await lib.lockFile(file)
      assert.equal(lib.tryLockFile(file), null)
      held.release()
      const again = lib.tryLockFile(file, { kind: 'flock' })
      assert.ok(again)
      again.release()
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  },
  async FdChannel(lib) {
    const [a, b] = lib.FdChannel.pair()
    const s = new lib.Semaphore(0)
    try {
      await a.send('sem', [s])
      const { data, fds } = await b.receive()
      assert.equal(data.toString(), 'sem')
      const dup = lib.Semaphore.fromFd(fds.take(0), { adopt: true })
      dup.release(2)
      dup.close()
      assert.equal(s.count, 2n)
      a.close()
      await assert.rejects(b.receive(), { code: 'EPIPE' })
    } finally {
      a.close()
      b.close()
      s.close()
    }
  },
}

/** Runs every check; a missing export fails. Returns the names that ran. */
async function smoke(lib, label) {
  const missing = Object.keys(CHECKS).filter((name) => lib[name] === undefined)
  assert.deepEqual(missing, [], `${label}: exports missing from the installed package`)
  const ran = []
  for (const [name, check] of Object.entries(CHECKS)) {
    await check(lib)
    ran.push(name)
  }
  console.log(`${label}: ran ${ran.join(', ')}`)
  return ran
}

module.exports = { smoke }
