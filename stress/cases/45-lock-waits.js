'use strict'
// Lock waits at scale (issue 13): 10,000 concurrent lockFile() waiters on one
// held lock start within 5 s, use a bounded number of threads, leave the CPU
// idle and the event loop responsive, and are all served, in order, once the
// holder lets go; then 10,000 sequential aborted waits leave the fd count at
// baseline after each. --quick: 2,000 and 2,000.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { monitorEventLoopDelay } = require('node:perf_hooks')
const lfd = require('../..')

const threads = () => Number(/Threads:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1])

module.exports = {
  name: 'lock-waits',
  title: '10,000 concurrent lock waiters: bounded threads, idle CPU, no stall, FIFO; 10,000 aborted waits leak nothing',
  async run({ quick, log, util }) {
    const N = quick ? 2_000 : 10_000
    // Wall-clock bounds written for native speed: x10 under qemu-user.
    const slow = util.underQemuUser() ? 10 : 1
    if (slow > 1) log(`under qemu-user: the start and event-loop delay bounds are scaled x${slow}`)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linux-fd-stress-lock-'))
    const file = path.join(dir, 'lock')
    const held = []
    try {
      const holder = await lfd.lockFile(file)
      const th0 = threads()
      const t0 = performance.now()
      const order = []
      const waits = []
      for (let i = 0; i < N; i++) {
        waits.push(
          lfd.lockFile(file).then((l) => {
            order.push(i)
            l.release()
          }),
        )
      }
      const startMs = performance.now() - t0
      // The loop must stay responsive while they wait and through the
      // hand-offs; starting them is this case's own synchronous loop.
      const delay = monitorEventLoopDelay({ resolution: 5 })
      delay.enable()
      await util.sleep(200)
      const cpu0 = process.cpuUsage()
      await util.sleep(1000)
      const cpu = process.cpuUsage(cpu0)
      const cpuMs = (cpu.user + cpu.system) / 1000
      const extra = threads() - th0
      log(`${N} waits started in ${startMs.toFixed(0)} ms; ${extra >= 0 ? "+" : ""}${extra} threads; ${cpuMs.toFixed(1)} ms CPU in 1 s of waiting`)
      if (startMs > 5000 * slow) throw new Error(`${N} waits took ${startMs} ms to start`)
      if (extra > 2) throw new Error(`${extra} more threads for ${N} waiters`)
      if (cpuMs > 50) throw new Error(`idle waiting used ${cpuMs} ms of CPU in 1 s`)
      holder.release()
      await Promise.all(waits)
      delay.disable()
      const maxMs = delay.max / 1e6
      log(`all served; event-loop delay max ${maxMs.toFixed(1)} ms`)
      if (maxMs > 50 * slow) throw new Error(`the event loop stalled for ${maxMs} ms`)
      for (let i = 0; i < N; i++) if (order[i] !== i) throw new Error(`waiter ${order[i]} was served ${i}th`)
      held.push(`${N} waiters: started in ${startMs.toFixed(0)} ms, ${extra >= 0 ? "+" : ""}${extra} threads, ${cpuMs.toFixed(1)} ms CPU/s idle, max loop delay ${maxMs.toFixed(1)} ms, served in order`)

      const again = await lfd.lockFile(file)
      const fds0 = util.fdCount()
      for (let i = 0; i < N; i++) {
        const ac = new AbortController()
        const p = lfd.lockFile(file, { signal: ac.signal })
        if (i % 2) await util.sleep(0)
        ac.abort()
        await p.then(
          () => {
            throw new Error('an aborted wait was granted')
          },
          (e) => {
            if (e.name !== 'AbortError') throw e
          },
        )
        const now = util.fdCount()
        if (now > fds0) throw new Error(`after aborted wait ${i}: ${now} fds open, ${fds0} before`)
      }
      again.release()
      held.push(`${N} sequential aborted waits: fd count at baseline after each`)
      return { held, figures: { waiters: N, startMs, extraThreads: extra, idleCpuMs: cpuMs, maxLoopDelayMs: maxMs } }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  },
}
