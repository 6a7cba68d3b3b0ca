// Fd leaks that `npm test` itself must catch (issue 16): every class frees its
// fd on close(), and on garbage collection without close(). Each case runs in
// a child with --expose-gc, so nothing else in the process moves the count.
import test from 'ava'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runNode } from './helpers/child.js'

const dir = mkdtempSync(join(tmpdir(), 'linux-fd-leaks-'))

const makers: Record<string, string> = {
  EventCounter: 'new lfd.EventCounter(0)',
  Semaphore: 'new lfd.Semaphore(0)',
  Timer: 'new lfd.Timer()',
  MemFile: "lfd.MemFile.create('leak')",
  FileLock: `lfd.tryLockFile(${JSON.stringify(join(dir, 'lock'))} + i)`,
}

// One wait each, so the objects that can wait have also made their watch (a
// second fd, the poll's private dup) before they are closed or dropped.
const exercise: Record<string, string> = {
  EventCounter: '{ const p = o.take(); o.add(1); await p }',
  Semaphore: '{ const p = o.acquire(); o.release(1); (await p).release() }',
  Timer: 'o.set(0.001); await o.wait()',
  MemFile: "o.write('x'); o.unmap(o.map({ writable: true, unsafeAllowShrink: true }))",
  FileLock: '',
}

for (const [name, make] of Object.entries(makers)) {
  test.serial(`${name}: close() frees every fd it made`, async (t) => {
    const r = await runNode(
      `const n = () => require('fs').readdirSync('/proc/self/fd').length
       ;(async () => {
         { const i = -1; const o = ${make}; ${exercise[name]}; o.${name === 'FileLock' ? 'release' : 'close'}() } // warm up
         const before = n()
         for (let i = 0; i < 300; i++) {
           const o = ${make};
           ${exercise[name]};
           o.${name === 'FileLock' ? 'release' : 'close'}()
         }
         console.log(JSON.stringify({ before, after: n() }))
       })().catch((e) => { console.error(e); process.exit(1) })`,
    )
    t.is(r.code, 0, r.stderr)
    const { before, after } = JSON.parse(r.stdout)
    t.is(after, before, `${after - before} fds left open by 300 ${name}s`)
  })

  test.serial(`${name}: an object dropped without close() frees its fds when collected`, async (t) => {
    const r = await runNode(
      `const n = () => require('fs').readdirSync('/proc/self/fd').length
       ;(async () => {
         const before = n()
         // In a function of its own, so no live frame still holds the last object.
         const mid = await (async () => {
           for (let i = 0; i < 300; i++) {
             const o = ${make};
             ${exercise[name]};
           }
           return n()
         })()
         for (let i = 0; i < 20 && n() > before; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 5)) }
         console.log(JSON.stringify({ before, mid, after: n() }))
       })().catch((e) => { console.error(e); process.exit(1) })`,
      { args: ['--expose-gc'] },
    )
    t.is(r.code, 0, r.stderr)
    const { before, mid, after } = JSON.parse(r.stdout)
    t.true(mid > before, 'the objects held fds before collection')
    t.is(after, before, `${after - before} fds still open after collection`)
  })
}
