'use strict'
// The "Node-API floor" of bench/ops.js: bench/floor.c, a minimal Node-API
// addon making the same syscalls as each sync row with no checking, compiled
// here against the headers of the Node that runs the bench, into
// bench/build/floor.node (git-ignored). Each floor row below is its linux-fd
// row in ops.js with the linux-fd calls swapped for floor calls, and nothing
// else changed (the same loop, the same fs.closeSync where the row uses it).
const { execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

/** Node's headers: <prefix>/include/node beside <prefix>/bin/node. */
function nodeInclude() {
  const dir = path.join(path.dirname(path.dirname(fs.realpathSync(process.execPath))), 'include', 'node')
  return fs.existsSync(path.join(dir, 'node_api.h')) ? dir : null
}

/**
 * Builds bench/build/floor.node (when floor.c or this Node changed) and loads
 * it. Returns { floor } or { reason } saying why there is no floor column.
 */
function loadFloor() {
  const inc = nodeInclude()
  if (!inc) return { reason: `no node_api.h under ${path.join('<node prefix>', 'include', 'node')} for ${process.execPath}` }
  const src = path.join(__dirname, 'floor.c')
  const out = path.join(__dirname, 'build', 'floor.node')
  const stampFile = `${out}.stamp`
  const stamp = crypto.createHash('sha256').update(fs.readFileSync(src)).update(process.version).update(inc).digest('hex')
  fs.mkdirSync(path.dirname(out), { recursive: true })
  if (!(fs.existsSync(out) && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp)) {
    try {
      execFileSync('cc', ['-O2', '-shared', '-fPIC', '-Wall', '-I', inc, '-o', out, src], { stdio: 'pipe' })
    } catch (e) {
      return { reason: `cc failed building bench/floor.c (${String(e.stderr || e.message).trim().split('\n')[0]})` }
    }
    fs.writeFileSync(stampFile, stamp)
  }
  try {
    return { floor: require(out) }
  } catch (e) {
    return { reason: `bench/build/floor.node did not load (${e.message.split('\n')[0]})` }
  }
}

/**
 * The floor rows, keyed like ops.js's rows. `ctx`: { lockPath, timeNs }.
 * Rows without an entry here (async forms, other packages, the 64 MiB map)
 * have no floor column.
 */
function floorOps(f, { lockPath, timeNs }) {
  const kindOfd = 1
  const kindFlock = 0
  const tryLockN = (n, kind) => {
    const fd = fs.openSync(lockPath, 'r+')
    const ns = timeNs(n, (k) => {
      for (let i = 0; i < k; i++) f.lockRelease(f.lockTry(fd, kind), kind)
    })
    fs.closeSync(fd)
    return ns
  }
  const flockBuf = (type) => {
    const b = Buffer.alloc(32)
    b.writeInt16LE(type, 0)
    return b
  }
  return {
    eventfd_rw: (n) => {
      const fd = f.eventfd(0, f.EFD_CLOEXEC | f.EFD_NONBLOCK)
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          f.eventfdWrite(fd, 1)
          f.eventfdRead(fd)
        }
      })
      f.close(fd)
      return ns
    },
    sem_rw: (n) => {
      const fd = f.eventfd(0, f.EFD_CLOEXEC | f.EFD_NONBLOCK | f.EFD_SEMAPHORE)
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          f.eventfdWrite(fd, 1)
          f.semRead(fd)
        }
      })
      f.close(fd)
      return ns
    },
    eventfd_create: (n) => timeNs(n, (k) => { for (let i = 0; i < k; i++) f.close(f.eventfd(0, f.EFD_CLOEXEC | f.EFD_NONBLOCK)) }),
    memfd_create: (n) => timeNs(n, (k) => { for (let i = 0; i < k; i++) fs.closeSync(f.memfdCreate('bench', f.MFD_CLOEXEC)) }),
    flock: (n) => {
      const fd = fs.openSync(lockPath, 'a+')
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          f.flock(fd, f.LOCK_EX)
          f.flock(fd, f.LOCK_UN)
        }
      })
      fs.closeSync(fd)
      return ns
    },
    ofd: (n) => {
      const fd = fs.openSync(lockPath, 'r+')
      const wr = flockBuf(f.F_WRLCK)
      const un = flockBuf(f.F_UNLCK)
      const ns = timeNs(n, (k) => {
        // The result Buffer is made in JS from Node's pool (cheaper than any
        // way C has to make one, napi_create_buffer_copy included) and the
        // call copies the struct back into it.
        for (let i = 0; i < k; i++) {
          const a = Buffer.allocUnsafe(wr.length)
          a.set(wr)
          f.fcntlInPlace(fd, f.F_OFD_SETLK, a)
          const b = Buffer.allocUnsafe(un.length)
          b.set(un)
          f.fcntlInPlace(fd, f.F_OFD_SETLK, b)
        }
      })
      fs.closeSync(fd)
      return ns
    },
    timerfd: (n) => {
      const fd = f.timerfdCreate(f.CLOCK_MONOTONIC, f.TFD_CLOEXEC | f.TFD_NONBLOCK)
      const initial = 10n ** 12n
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          f.timerfdSettimeNs(fd, 0, initial, 0n)
          f.timerfdGettimeNs(fd)
        }
      })
      f.close(fd)
      return ns
    },
    timer_class: (n) => {
      const fd = f.timerfdCreate(f.CLOCK_MONOTONIC, f.TFD_CLOEXEC | f.TFD_NONBLOCK)
      const initial = 10n ** 12n
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          f.timerfdSet(fd, 0, initial, 0n)
          f.timerfdGettimeNs(fd)
        }
      })
      f.close(fd)
      return ns
    },
    trylock_ofd: (n) => tryLockN(n, kindOfd),
    trylock_flock: (n) => tryLockN(n, kindFlock),
    memfile_rw: (n) => {
      const fd = f.memfdCreate('bench', f.MFD_CLOEXEC)
      const src = Buffer.alloc(64, 7)
      const dst = Buffer.alloc(64)
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          f.pwrite(fd, src, 0)
          f.pread(fd, dst, 0)
        }
      })
      fs.closeSync(fd)
      return ns
    },
    // Not a row: one call that does nothing, the price of crossing into C at all.
    nop: (n) => timeNs(n, (k) => { for (let i = 0; i < k; i++) f.nop() }),
  }
}

/**
 * The floor of the rows whose API returns an object that owns its fd
 * (`new EventCounter()`, `tryLockFile(fd)`): the same syscalls, plus the
 * least Node-API needs for ownership, an External whose finalizer closes
 * the fd if JS never does. Create+close makes the three calls linux-fd's
 * design makes (open, read the fd number to cache it, close).
 */
function floorObjOps(f, { lockPath, timeNs }) {
  if (!f.eventfdOpen) return {}
  const tryLockN = (n, kind) => {
    const fd = fs.openSync(lockPath, 'r+')
    const ns = timeNs(n, (k) => {
      for (let i = 0; i < k; i++) f.lockReleaseOwned(f.lockTryOwned(fd, kind), kind)
    })
    fs.closeSync(fd)
    return ns
  }
  return {
    eventfd_create: (n) =>
      timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          const h = f.eventfdOpen(0, f.EFD_CLOEXEC | f.EFD_NONBLOCK)
          f.handleFd(h)
          f.handleClose(h)
        }
      }),
    trylock_ofd: (n) => tryLockN(n, 1),
    trylock_flock: (n) => tryLockN(n, 0),
  }
}

/**
 * The same owning floors, making every syscall linux-fd makes for these
 * rows: the identity `fstat` before each close or unlock, and one when a
 * lock's handle is made (see bench/floor.c). This is the floor of "the
 * same syscalls" (issue 11, item 5) for the rows that own an fd.
 *
 * Written out rather than shared with floorObjOps on purpose: closures made
 * by one shared function share V8's type feedback, so each loop's native
 * call site would see both floors' functions (polymorphic) and both floors
 * would be measured slower than they are (rows.js says the same of the
 * linux-fd rows). The C functions are separate for the same reason: a floor
 * is each row's own least code.
 */
function floorSameOps(f, { lockPath, timeNs }) {
  if (!f.eventfdOpenChecked) return {}
  const tryLockN = (n, kind) => {
    const fd = fs.openSync(lockPath, 'r+')
    const ns = timeNs(n, (k) => {
      for (let i = 0; i < k; i++) f.lockReleaseOwnedChecked(f.lockTryOwnedChecked(fd, kind), kind)
    })
    fs.closeSync(fd)
    return ns
  }
  return {
    eventfd_create: (n) =>
      timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          const h = f.eventfdOpenChecked(0, f.EFD_CLOEXEC | f.EFD_NONBLOCK)
          f.handleFdChecked(h)
          f.handleCloseChecked(h)
        }
      }),
    trylock_ofd: (n) => tryLockN(n, 1),
    trylock_flock: (n) => tryLockN(n, 0),
    memfile_rw_shared: (n) => {
      const h = f.memfdOpenChecked('bench', f.MFD_CLOEXEC)
      const src = Buffer.alloc(64, 7)
      const dst = Buffer.alloc(64)
      const ns = timeNs(n, (k) => {
        for (let i = 0; i < k; i++) {
          f.pwriteChecked(h, src, 0)
          f.preadChecked(h, dst, 0)
        }
      })
      f.handleCloseChecked(h)
      return ns
    },
  }
}

// Rows whose floor is another row's floor (the same calls).
const FLOOR_SAME_AS = { counter_rw: 'eventfd_rw' }

module.exports = { loadFloor, floorOps, floorObjOps, floorSameOps, FLOOR_SAME_AS }
