import test from 'ava'

// Tests written for mutants that StrykerJS and cargo-mutants found surviving
// in the code that grants permits, takes tokens, settles waits and closes
// fds (issue 16; docs/testing.md lists each one, and why any left are
// equivalent). Serial: they count listeners and fds.
import { getEventListeners } from 'node:events'

import { Semaphore } from '../index.js'
import { runNode } from './helpers/child.js'

const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length

test.serial('a wait that settles removes its abort listener, granted or closed', async (t) => {
  const sem = new Semaphore(0)
  const ac = new AbortController()
  const p = sem.acquire({ signal: ac.signal })
  t.is(listeners(ac.signal), 1)
  sem.release()
  const permit = await p
  t.is(listeners(ac.signal), 0, 'granted: listener removed')
  permit.release()

  const ac2 = new AbortController()
  const q = sem.acquire({ signal: ac2.signal }) // the permit just released: granted at once
  const r = sem.acquire({ signal: ac2.signal }) // none left: waits
  t.is(listeners(ac2.signal), 1, 'only the waiting one listens')
  await q
  sem.close()
  await t.throwsAsync(r, { code: 'ERR_USE_AFTER_CLOSE' })
  t.is(listeners(ac2.signal), 0, 'closed: listener removed')
})

// waiter.ts #remove: a waiter aborted from inside addEventListener runs its
// abort handler twice (the listener, then the `signal.aborted` re-check);
// the second call must not remove another waiter (`if (i < 0) return false`
// made `if (false)` spliced the last one out, which then never settled).
test.serial('a signal that aborts inside addEventListener removes only its own waiter', async (t) => {
  const sem = new Semaphore(0)
  t.teardown(() => sem.close())
  const first = sem.acquire()
  const ac = new AbortController()
  const add = ac.signal.addEventListener.bind(ac.signal)
  Object.defineProperty(ac.signal, 'addEventListener', {
    value: (...args: Parameters<typeof add>) => {
      add(...args)
      ac.abort()
    },
  })
  await t.throwsAsync(sem.acquire({ signal: ac.signal }), { name: 'AbortError' })
  t.is(sem.pending, 1, 'the first waiter is still queued')
  sem.release()
  const permit = await Promise.race([first, new Promise<null>((r) => setTimeout(() => r(null), 2000))])
  t.not(permit, null, 'the first waiter got the released permit')
  permit?.release()
})

// waiter.ts #remove: aborting the last waiter stops the watch, so a process
// with nothing else to do exits (`if (this.#queue.length === 0)` made
// `if (false)` left a started, ref'd poll handle behind).
test.serial('aborting the last waiter lets the process exit', async (t) => {
  const r = await runNode(
    `const sem = new lfd.Semaphore(0)
     const ac = new AbortController()
     sem.acquire({ signal: ac.signal }).catch((e) => console.log(e.name))
     setTimeout(() => ac.abort(), 10)`,
    { timeoutMs: 10_000 },
  )
  t.is(r.signal, null, 'exited by itself, not killed after 10 s')
  t.is(r.code, 0)
  t.is(r.stdout.trim(), 'AbortError')
})
