'use strict'
// Faults: processes killed with SIGKILL while they hold a lock or wait on a
// semaphore, worker threads terminated with waits pending, and fds closed
// behind the package's back.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const lfd = require('../..')

/** Whether `p` settles within `ms`. */
const settlesWithin = (p, ms) => Promise.race([p.then(() => true, () => true), new Promise((r) => setTimeout(() => r(false), ms))])

module.exports = {
  name: 'faults',
  title: 'SIGKILL of lock holders and semaphore waiters, 200 workers terminated mid-wait, fds closed behind our back',
  async run({ quick, log, util }) {
    const { runNode, check, fdCount, sleep, rssAfterGc } = util
    const held = []
    const figures = {}
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-stress-'))
    const fds0 = fdCount()
    const table0 = util.fdTable()

    // 1. A lock holder dies: the kernel drops its lock; our waiter gets it.
    {
      const ROUNDS = quick ? 5 : 40
      const lat = []
      for (const kind of ['ofd', 'flock']) {
        for (let r = 0; r < ROUNDS; r++) {
          const file = path.join(dir, `lock-${kind}`)
          const { child, done, firstLine } = runNode(
            `const l = lfd.tryLockFile(${JSON.stringify(file)}, { kind: '${kind}' }); console.log(l ? 'locked' : 'busy'); setInterval(() => {}, 1000)`,
          )
          check((await firstLine) === 'locked', 'child could not take the lock')
          const waiting = lfd.lockFile(file, { kind })
          check(!(await settlesWithin(waiting, 30)), `${kind}: lockFile settled while the child held the lock`)
          const t0 = process.hrtime.bigint()
          child.kill('SIGKILL')
          const got = await Promise.race([waiting, sleep(5000).then(() => null)])
          check(got !== null, `${kind}: the waiter did not get the lock within 5 s of the holder's death`)
          lat.push(Number(process.hrtime.bigint() - t0) / 1e6)
          check(got.kind === kind, 'wrong lock kind')
          got.release()
          const { signal } = await done
          check(signal === 'SIGKILL', `child ended by ${signal}`)
        }
      }
      lat.sort((a, b) => a - b)
      const p50 = lat[Math.floor(lat.length / 2)]
      const max = lat[lat.length - 1]
      log(`lock holder SIGKILLed x${lat.length} (ofd and flock): waiter got the lock after ${p50.toFixed(1)} ms median, ${max.toFixed(1)} ms max`)
      held.push(`${lat.length} lock holders killed with SIGKILL while another process awaited lockFile(): every waiter got the lock (median ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms after the kill)`)
      figures.lockHolderKilled = { rounds: lat.length, p50Ms: p50, maxMs: max }
    }

    // 2. Semaphore waiters die: no permit is lost, and a live waiter gets it.
    {
      const ROUNDS = quick ? 5 : 30
      const KIDS = 5
      for (let r = 0; r < ROUNDS; r++) {
        const sem = new lfd.Semaphore(0)
        const kids = []
        for (let k = 0; k < KIDS; k++) {
          // Alternate the event-loop wait and the blocking one.
          const how = k % 2 ? 'sem.acquireSync()' : 'await sem.acquire()'
          kids.push(
            runNode(
              `const sem = lfd.Semaphore.fromFd(3); console.log('waiting'); (async () => { ${how}; console.log('got'); process.exit(0) })()`,
              { extraFds: [sem.fd] },
            ),
          )
        }
        for (const k of kids) check((await k.firstLine) === 'waiting', 'child not waiting')
        await sleep(20) // let them park in epoll_wait / read
        const survivor = r % KIDS
        const victims = kids.filter((_, i) => i !== survivor)
        for (const v of victims) v.child.kill('SIGKILL')
        for (const v of victims) check((await v.done).signal === 'SIGKILL', 'victim not killed')
        check(!sem.tryAcquire(), 'a permit appeared from nowhere')
        sem.release(1)
        const s = await kids[survivor].done
        check(s.code === 0 && s.stdout.includes('got'), `the surviving waiter did not get the permit: ${s.code}/${s.signal} ${s.stderr}`)
        check(!sem.tryAcquire(), 'the permit was taken twice')
        // And with nobody waiting: a release is kept.
        sem.release(2)
        check(sem.tryAcquire() && sem.tryAcquire() && !sem.tryAcquire(), 'released permits miscounted')
        sem.close()
      }
      log(`semaphore waiters SIGKILLed: ${ROUNDS} rounds x ${KIDS - 1} of ${KIDS} killed while parked (async and sync waits); each time the one released permit went to the survivor, none lost or doubled`)
      held.push(`${ROUNDS * (KIDS - 1)} semaphore waiters killed while parked: no permit lost or consumed by a dead process; the survivor got the one released permit every time`)
      figures.semWaitersKilled = ROUNDS * (KIDS - 1)
    }

    // 3. 200 workers terminated with waits pending of every kind.
    {
      const WORKERS = quick ? 60 : 200
      const BATCH = 10
      const sem = new lfd.Semaphore(0)
      const lockPath = path.join(dir, 'worker-lock')
      const blocker = lfd.tryLockFile(lockPath)
      check(blocker !== null, 'could not take the blocking lock')
      const code = `
        const { parentPort, workerData } = require('node:worker_threads')
        const lfd = require(${JSON.stringify(util.PKG)})
        const ec = new lfd.EventCounter(0)
        const sem = lfd.Semaphore.fromFd(workerData.semFd)
        const t = new lfd.Timer(); t.set(60_000)
        const mf = lfd.MemFile.create('w', { sealable: true }); mf.truncate(4096); mf.addSeals({ shrink: true })
        const view = new Uint8Array(mf.map({ writable: true })); view[0] = 1
        ec.take(); sem.acquire(); t.wait(); lfd.lockFile(workerData.lockPath)
        const it = ec[Symbol.asyncIterator](); it.next()
        parentPort.postMessage('pending')
      `
      const rss0 = await rssAfterGc()
      const before = fdCount()
      const t0 = Date.now()
      for (let b = 0; b < WORKERS / BATCH; b++) {
        const ws = []
        for (let i = 0; i < BATCH; i++) {
          const w = new Worker(code, { eval: true, workerData: { semFd: sem.fd, lockPath } })
          ws.push(w)
        }
        await Promise.all(ws.map((w) => new Promise((res, rej) => { w.once('message', res); w.once('error', rej) })))
        // Terminate half right away, half after a loop turn, so teardown meets
        // both fresh and settled poll handles.
        await Promise.all(ws.map(async (w, i) => {
          if (i % 2) await sleep(1)
          await w.terminate()
        }))
      }
      const secs = (Date.now() - t0) / 1000
      for (let i = 0; i < 20 && fdCount() !== before; i++) {
        global.gc()
        await sleep(20)
      }
      const after = fdCount()
      check(after === before, `${after - before} fds left after terminating ${WORKERS} workers`)
      // The shared semaphore still works, and no dead worker took a permit.
      sem.release(1)
      check(sem.tryAcquire() && !sem.tryAcquire(), 'the shared semaphore lost or gained a permit')
      blocker.release()
      const rss1 = await rssAfterGc()
      log(`${WORKERS} workers (batches of ${BATCH}) terminated with take/acquire/timer wait/lockFile/iterator pending and a mapping live: ${secs.toFixed(1)} s, fds ${before} -> ${after}, RSS ${(rss0 / 2 ** 20).toFixed(0)} -> ${(rss1 / 2 ** 20).toFixed(0)} MB`)
      held.push(`${WORKERS} workers terminated with 5 kinds of pending wait and a live mapping: no crash or abort, fds back to ${after}, the shared semaphore kept its count`)
      figures.workersTerminated = { workers: WORKERS, secs, fdsBefore: before, fdsAfter: after, rssMB: [rss0 / 2 ** 20, rss1 / 2 ** 20] }
      sem.close()
    }

    // 4. fds closed behind the package's back.
    {
      const victimPath = path.join(dir, 'victim')
      const cases = {
        EventCounter: [() => new lfd.EventCounter(0), (o) => o.add(1), (o) => o.tryTake()],
        Semaphore: [() => new lfd.Semaphore(1), (o) => o.release(), (o) => o.tryAcquire()],
        Timer: [() => new lfd.Timer(), (o) => o.set(1000), (o) => o.get()],
        MemFile: [() => lfd.MemFile.create('behind'), (o) => o.write('xxxxxxxx', 0), (o) => o.size],
        FileLock: [() => lfd.tryLockFile(path.join(dir, 'behind-lock')), (o) => o.release(), (o) => o.release()],
      }
      const lines = []
      for (const [name, [make, op1, op2]] of Object.entries(cases)) {
        const o = make()
        const fd = o.fd
        fs.closeSync(fd)
        let code1 = 'no error'
        try {
          op1(o)
        } catch (e) {
          code1 = e.code
        }
        check(code1 === 'EBADF', `${name}: the first call after fs.closeSync gave ${code1}, not EBADF`)
        // The number is free again: a victim file takes it.
        fs.writeFileSync(victimPath, 'victim')
        const victim = fs.openSync(victimPath, 'r+')
        check(victim === fd, `victim got fd ${victim}, not ${fd}`)
        for (const op of [op1, op2, (x) => (x instanceof lfd.FileLock ? x.release() : x.close())]) {
          try {
            op(o)
          } catch {}
        }
        check(fs.readFileSync(victimPath, 'utf8') === 'victim', `${name} wrote into the victim file`)
        fs.fstatSync(victim) // throws EBADF if the package closed the victim's fd
        fs.closeSync(victim)
        lines.push(name)
      }
      log(`fs.closeSync(obj.fd) behind the back of ${lines.join(', ')}: next call EBADF; a file then opened on the same number was neither written nor closed`)
      held.push(`fds closed behind the package's back (${lines.length} classes): EBADF, and the number's next owner untouched`)
    }

    fs.rmSync(dir, { recursive: true })
    check(fdCount() === fds0, `fds ${fds0} at start, ${fdCount()} at end: ${util.fdDiff(table0, util.fdTable())}`)
    return { held, figures }
  },
}
