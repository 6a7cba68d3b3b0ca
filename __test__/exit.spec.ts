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

// lockFile's queue reads a waiter's `aborted` again when it becomes the head
// (runHead). That read threw out of runHead: the waiter stayed at the head
// for good and every later waiter for the lock never settled (the process
// exited with them pending), or, reached from the previous head's
// settlement, the throw was an uncaught exception that killed the process.
for (const [where, reads] of [['the head at once', 2], ['queued behind another', 3]] as const) {
  test.serial(`lockFile: a waiter whose signal's aborted getter throws when it becomes the head (${where}) rejects; the queue goes on`, async (t) => {
    const r = await runNode(
      `const fs = require('node:fs'), path = require('node:path'), os = require('node:os')
       const p = path.join(os.tmpdir(), 'lfd-exit-getter-' + process.pid); fs.writeFileSync(p, '')
       const signal = () => { const s = new AbortController().signal; let reads = 0
         Object.defineProperty(s, 'aborted', { get: () => { if (++reads >= ${reads}) throw new Error('refused'); return false } }); return s }
       const out = []
       const show = (name, pr) => pr.then((l) => { out.push(name + ' granted'); l.release() }, (e) => out.push(name + ' rejected: ' + e.message))
       const holder = lfd.tryLockFile(p)
       const first = ${reads === 3} ? show('first', lfd.lockFile(p)) : undefined
       const a = show('hostile', lfd.lockFile(p, { signal: signal() }))
       setTimeout(() => {
         const b = show('later', lfd.lockFile(p))
         holder.release()
         Promise.all([first, a, b]).then(() => { fs.unlinkSync(p); console.log(JSON.stringify(out.sort())) })
       }, 50)`,
      { timeoutMs: EXIT_MS },
    )
    t.is(r.signal, null, `the child did not exit within ${EXIT_MS} ms (stdout: ${r.stdout.trim()})`)
    t.is(r.code, 0, r.stderr)
    const expected = ['hostile rejected: refused', 'later granted', ...(reads === 3 ? ['first granted'] : [])].sort()
    t.deepEqual(JSON.parse(r.stdout || 'null'), expected, r.stderr)
  })
}

// A signal whose \`reason\` getter throws: the abort must still settle the
// wait (with the getter's error as the AbortError's cause) and, for a lock
// wait, cancel it. The error was built after the waiter left its queue, or
// before the cancel, so the throw left promises pending for good and let an
// aborted lock wait be granted.
test.serial('an abort whose signal.reason getter throws still settles the wait, and cancels a lock wait', async (t) => {
  const r = await runNode(
    `const fs = require('node:fs'), path = require('node:path'), os = require('node:os')
     process.on('uncaughtException', (e) => console.log(JSON.stringify(['uncaught', e.message])))
     const mk = () => { const ac = new AbortController()
       Object.defineProperty(ac.signal, 'reason', { get: () => { throw new Error('reason refused') } }); return ac }
     const out = []
     const show = (name, pr) => pr.then((v) => { out.push(name + ' resolved'); v?.release?.() },
       (e) => out.push(name + ' ' + e.code + ' cause: ' + e.cause?.message))
     const c = new lfd.EventCounter(); const a1 = mk()
     const p = path.join(os.tmpdir(), 'lfd-exit-reason-' + process.pid); fs.writeFileSync(p, '')
     const holder = lfd.tryLockFile(p)
     const a2 = mk(), a3 = mk()
     const all = [show('take', c.take({ signal: a1.signal })), show('head lock', lfd.lockFile(p, { signal: a2.signal })),
       show('queued lock', lfd.lockFile(p, { signal: a3.signal }))]
     setTimeout(() => { a1.abort(); a2.abort(); a3.abort() }, 20)
     setTimeout(() => holder.release(), 100)
     Promise.all(all).then(() => { c.close(); fs.unlinkSync(p); console.log(JSON.stringify(out.sort())) })`,
    { timeoutMs: EXIT_MS },
  )
  t.is(r.signal, null, `the child did not exit within ${EXIT_MS} ms (stdout: ${r.stdout.trim()})`)
  t.is(r.code, 0, r.stderr)
  t.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l)), [
    ['head lock ABORT_ERR cause: reason refused', 'queued lock ABORT_ERR cause: reason refused', 'take ABORT_ERR cause: reason refused'],
  ])
})

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
