import test from 'ava'

// Exit hangs (issue 13 item 7): a process whose waits have all settled must
// exit by itself. Each case runs in a child that is killed if it has not
// exited within EXIT_MS; a hang shows as `signal: 'SIGKILL'`.

import { runNode } from './helpers/child.js'
import { SLOWDOWN } from './helpers/emulation.js'

/** Far above a child's start-up and exit (about 0.1 s), far below runNode's 30 s guard. */
const EXIT_MS = 10_000 * SLOWDOWN

// `makeSignal()` in the child: a real AbortSignal whose addEventListener
// throws, or whose `aborted` getter throws on its second read (the wait reads
// it once before queueing and once after adding its listener).
const SIGNALS = `
const signals = {
  listener() {
    const s = new AbortController().signal
    Object.defineProperty(s, 'addEventListener', { value: () => { throw new Error('refused') } })
    return s
  },
  getter() {
    const s = new AbortController().signal
    let reads = 0
    Object.defineProperty(s, 'aborted', { get: () => { if (++reads > 1) throw new Error('refused'); return false } })
    return s
  },
}
`

// Each wait rejects with the signal's error; then nothing is left to keep the process alive.
const WAITS: Record<string, string> = {
  'EventCounter.take': `const o = new lfd.EventCounter(); const wait = (signal) => o.take({ signal })`,
  'Semaphore.acquire': `const o = new lfd.Semaphore(0); const wait = (signal) => o.acquire({ signal })`,
  'Timer.wait': `const o = new lfd.Timer(); const wait = (signal) => o.wait({ signal })`,
  'FdChannel.receive': `const [o, peer] = lfd.FdChannel.pair(); const wait = (signal) => o.receive({ signal })`,
}

for (const [name, setup] of Object.entries(WAITS)) {
  for (const kind of ['listener', 'getter']) {
    test.serial(`${name}: a wait whose signal throws (${kind}) rejects and lets the process exit`, async (t) => {
      const r = await runNode(
        `${SIGNALS}
         ${setup}
         wait(signals.${kind}()).then(
           () => console.log('resolved'),
           (e) => console.log(JSON.stringify({ message: e.message, pending: o.pending })),
         )`,
        { timeoutMs: EXIT_MS },
      )
      t.is(r.signal, null, `the child did not exit within ${EXIT_MS} ms (stdout: ${r.stdout.trim()})`)
      t.is(r.code, 0, r.stderr)
      t.deepEqual(JSON.parse(r.stdout), { message: 'refused', pending: 0 })
    })
  }
}

// LINUX_FD_FORBID_UV (the Bun test's trap: any uv_* lookup aborts) is read
// once when the addon loads. Read on every lookup, setting it from JS while a
// wait was pending aborted the process at the wait's next event.
test('setting LINUX_FD_FORBID_UV from JS after load does not abort a pending wait', async (t) => {
  const r = await runNode(`
    const s = new lfd.Semaphore(0)
    const p = s.acquire()
    process.env.LINUX_FD_FORBID_UV = '1'
    setTimeout(() => s.release(), 50)
    p.then(() => { console.log('acquired'); s.close() })
  `)
  t.is(r.signal, null, r.stderr)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, 'acquired\n')
})
