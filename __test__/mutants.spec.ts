import test from 'ava'

// Tests written for mutants that StrykerJS and cargo-mutants found surviving
// in the code that grants permits, takes tokens, settles waits and closes
// fds (issue 16; docs/testing.md lists each one, and why any left are
// equivalent). Serial: they count listeners and fds.
import { getEventListeners } from 'node:events'

import { Semaphore } from '../index.js'

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
