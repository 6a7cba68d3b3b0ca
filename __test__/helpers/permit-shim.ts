// Until issue 11 lands, `Semaphore#acquire()` resolves with nothing. The
// examples and the README's snippets are written for the new API, where it
// resolves with a Permit (`using permit = await sem.acquire()`). On the old
// API, this writes a preload that gives acquire()/acquireSync() that result,
// so the rest of each program still runs and is checked. Delete this file
// (and its two uses, in examples.spec.ts and readme.spec.ts) with the old API.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Semaphore } from '../../index.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Whether `acquire()` still resolves with nothing (the pre-issue-11 API). */
export const oldPermitApi = (() => {
  const probe = new Semaphore(1)
  const result: unknown = probe.acquireSync()
  probe.close()
  return result === undefined
})()

/**
 * Node flags that preload the Permit shim on the old API (none on the new
 * one), and a cleanup function for the temporary file.
 */
export function permitShimArgs(): { args: string[]; cleanup: () => void } {
  if (!oldPermitApi) return { args: [], cleanup: () => {} }
  const dir = mkdtempSync(join(tmpdir(), 'linux-fd-permit-shim-'))
  const shim = join(dir, 'permit-shim.cjs')
  writeFileSync(
    shim,
    `const { Semaphore } = require(${JSON.stringify(join(root, 'index.js'))})
const permit = (sem) => {
  let held = true
  const release = () => { if (held) { held = false; sem.release() } }
  return { release, [Symbol.dispose]: release }
}
const { acquire, acquireSync } = Semaphore.prototype
Semaphore.prototype.acquire = async function (o) { await acquire.call(this, o); return permit(this) }
Semaphore.prototype.acquireSync = function () { acquireSync.call(this); return permit(this) }
`,
  )
  return { args: [`--require=${shim}`], cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}
