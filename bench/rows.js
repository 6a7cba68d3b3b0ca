'use strict'
// linux-fd's rows of bench/ops.js, as a function of the package under test,
// so that one run can measure two builds side by side (ops.js --compare).
//
// ops.js loads this file afresh for each package (it drops it from the
// require cache in between), so each package's rows are separately compiled
// functions with their own type feedback: the call sites in one package's
// loops never see the other package's functions, and V8 optimizes each
// loop for the one function it calls, as in a program that uses one build.
//
// A row whose exports the package lacks is not run; `missing(op)` says which.
const fs = require('node:fs')

/**
 * @param lfd the package (what `require('linux-fd')` returns)
 * @param ctx { lockPath, timeNs, timeNsAsync }
 * @returns { ops: { [op]: (n) => ns }, missing: (op) => string[] }
 */
module.exports = function linuxFdRows(lfd, { lockPath, timeNs, timeNsAsync }) {
  const flockBuf = (type) => {
    const b = Buffer.alloc(32)
    b.writeInt16LE(type, 0)
    return b
  }

  function tryLockN(n, kind) {
    const fd = fs.openSync(lockPath, 'r+')
    const ns = timeNs(n, (k) => {
      for (let i = 0; i < k; i++) lfd.tryLockFile(fd, { kind }).release()
    })
    fs.closeSync(fd)
    return ns
  }

  async function lockFileN(n, kind) {
    const fd = fs.openSync(lockPath, 'r+')
    const ns = await timeNsAsync(n, async (k) => {
      for (let i = 0; i < k; i++) (await lfd.lockFile(fd, { kind })).release()
    })
    fs.closeSync(fd)
    return ns
  }

  const ops = {
    eventfd_rw: (n) => {
      const fd = lfd.eventfd(0, lfd.EFD_NONBLOCK)
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          lfd.eventfdWrite(fd, 1)
          lfd.eventfdRead(fd)
        }
      })
      fs.closeSync(fd)
      return ns
    },
    sem_rw: (n) => {
      const s = new lfd.Semaphore(0)
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          s.release()
          s.tryAcquire()
        }
      })
      s.close()
      return ns
    },
    counter_rw: (n) => {
      const c = new lfd.EventCounter(0)
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          c.add(1)
          c.tryTake()
        }
      })
      c.close()
      return ns
    },
    // Async forms on their fast path: the value is already there when awaited.
    counter_take_async: async (n) => {
      const c = new lfd.EventCounter(0)
      const ns = await timeNsAsync(n, async (k) => {
        for (let i = 0; i < k; i++) {
          c.add(1)
          await c.take()
        }
      })
      c.close()
      return ns
    },
    sem_acquire_async: async (n) => {
      const s = new lfd.Semaphore(0)
      const ns = await timeNsAsync(n, async (k) => {
        for (let i = 0; i < k; i++) {
          s.release()
          await s.acquire()
        }
      })
      s.close()
      return ns
    },
    eventfd_create: (n) => timeNs(n, (k) => { for (let i = 0; i < k; i++) new lfd.EventCounter().close() }),
    memfd_create: (n) => timeNs(n, (k) => { for (let i = 0; i < k; i++) fs.closeSync(lfd.memfdCreate('bench')) }),
    flock: (n) => {
      const fd = fs.openSync(lockPath, 'a+')
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          lfd.flock(fd, lfd.LOCK_EX)
          lfd.flock(fd, lfd.LOCK_UN)
        }
      })
      fs.closeSync(fd)
      return ns
    },
    ofd: (n) => {
      const fd = fs.openSync(lockPath, 'r+')
      const wr = flockBuf(lfd.F_WRLCK)
      const un = flockBuf(lfd.F_UNLCK)
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          lfd.fcntl(fd, lfd.F_OFD_SETLK, wr)
          lfd.fcntl(fd, lfd.F_OFD_SETLK, un)
        }
      })
      fs.closeSync(fd)
      return ns
    },
    timerfd: (n) => {
      const fd = lfd.timerfdCreate(lfd.CLOCK_MONOTONIC, lfd.TFD_NONBLOCK)
      const opts = { initial: 10n ** 12n }
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          lfd.timerfdSettimeNs(fd, opts)
          lfd.timerfdGettimeNs(fd)
        }
      })
      fs.closeSync(fd)
      return ns
    },
    timer_class: (n) => {
      const t = new lfd.Timer()
      // Made once, as the floor's loop does: V8 does not fold a bigint `**`,
      // and computing it each iteration cost ~180 ns (~6 % of the row).
      const initial = 10n ** 12n
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          t.setNs(initial)
          t.getNs()
        }
      })
      t.close()
      return ns
    },
    // tryLockFile / lockFile on an fd: dup, lock, and release() unlocks and closes the dup.
    trylock_ofd: (n) => tryLockN(n, 'ofd'),
    lockfile_ofd_async: (n) => lockFileN(n, 'ofd'),
    trylock_flock: (n) => tryLockN(n, 'flock'),
    lockfile_flock_async: (n) => lockFileN(n, 'flock'),
    // MemFile.write + readInto of 64 bytes: pwrite and pread. Its `fd`
    // never read, so no identity fstat before them (docs/design.md,
    // "Checks before a call").
    memfile_rw: (n) => {
      const mf = lfd.MemFile.create('bench')
      const src = Buffer.alloc(64, 7)
      const dst = Buffer.alloc(64)
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          mf.write(src, 0)
          mf.readInto(dst, 0)
        }
      })
      mf.close()
      return ns
    },
    // The same once its `fd` was read: the identity fstat before each call.
    memfile_rw_shared: (n) => {
      const mf = lfd.MemFile.create('bench')
      if (mf.fd < 0) throw new Error('no fd')
      const src = Buffer.alloc(64, 7)
      const dst = Buffer.alloc(64)
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          mf.write(src, 0)
          mf.readInto(dst, 0)
        }
      })
      mf.close()
      return ns
    },
    map64: (n) =>
      timeNs(n, (k) => {
        const len = 64 << 20
        for (let i = 0; i < k; i++) {
          const mf = lfd.MemFile.create('bench', { sealable: true })
          mf.truncate(len)
          mf.addSeals({ shrink: true })
          const ab = mf.map({ writable: true })
          const u8 = new Uint8Array(ab)
          u8.fill(7)
          let sum = 0
          for (let j = 0; j < len; j += 4096) sum += u8[j]
          if (sum !== 7 * (len / 4096)) throw new Error('bad sum')
          mf.unmap(ab)
          mf.close()
        }
      }),
  }

  // The exports each row needs.
  const NEEDS = {
    eventfd_rw: ['eventfd', 'eventfdWrite', 'eventfdRead', 'EFD_NONBLOCK'],
    sem_rw: ['Semaphore'],
    counter_rw: ['EventCounter'],
    counter_take_async: ['EventCounter'],
    sem_acquire_async: ['Semaphore'],
    eventfd_create: ['EventCounter'],
    memfd_create: ['memfdCreate'],
    flock: ['flock', 'LOCK_EX', 'LOCK_UN'],
    ofd: ['fcntl', 'F_OFD_SETLK', 'F_WRLCK', 'F_UNLCK'],
    timerfd: ['timerfdCreate', 'timerfdSettimeNs', 'timerfdGettimeNs', 'CLOCK_MONOTONIC', 'TFD_NONBLOCK'],
    timer_class: ['Timer'],
    trylock_ofd: ['tryLockFile'],
    lockfile_ofd_async: ['lockFile'],
    trylock_flock: ['tryLockFile'],
    lockfile_flock_async: ['lockFile'],
    memfile_rw: ['MemFile'],
    memfile_rw_shared: ['MemFile'],
    map64: ['MemFile'],
  }
  const missing = (op) => (NEEDS[op] || []).filter((name) => lfd[name] === undefined)
  return { ops, missing }
}
