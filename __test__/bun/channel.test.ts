// FdChannel under Bun (scripts/bun-test.sh, with LINUX_FD_FORBID_UV=1): the
// waits go through the helper-thread watch, never libuv. Covers a pair, a
// path listener, a child process of another runtime instance, and the end of
// a connection.
import { describe, expect, test } from 'bun:test'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { FdChannel, Semaphore } from '../../index.js'

const PKG = join(import.meta.dir, '..', '..', 'index.js')

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'resolved'
  } catch (e) {
    return (e as { code: string }).code
  }
}

describe('FdChannel under Bun', () => {
  test('a pair carries a semaphore; a receive waits for the message; the end is EPIPE', async () => {
    const [a, b] = FdChannel.pair()
    const sem = new Semaphore(0)
    try {
      const pending = b.receive()
      setTimeout(() => a.send('hello', [sem]), 5)
      const { data, fds } = await pending
      expect(data.toString()).toBe('hello')
      const dup = Semaphore.fromFd(fds.take(0), { adopt: true })
      dup.release(2)
      expect(sem.count).toBe(2n)
      dup.close()
      const last = b.receive()
      a.close()
      expect(await code(last)).toBe('EPIPE')
    } finally {
      a.close()
      b.close()
      sem.close()
    }
  })

  test('listen, connect, accept on a path; a child process receives a semaphore and releases it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'linux-fd-bun-channel-'))
    const path = join(dir, 's.sock')
    const server = FdChannel.listen(path)
    const sem = new Semaphore(0)
    try {
      const child = spawn(
        process.execPath,
        [
          '-e',
          `const lfd = require(${JSON.stringify(PKG)})
           ;(async () => {
             const ch = await lfd.FdChannel.connect(${JSON.stringify(path)})
             const { fds } = await ch.receive()
             lfd.Semaphore.fromFd(fds.take(0), { adopt: true }).release(1)
             ch.close()
           })().catch((e) => { console.error(e); process.exit(1) })`,
        ],
        { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env } },
      )
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
      const ch = await server.accept()
      expect(ch.peer.pid).toBe(child.pid!)
      await ch.send('take it', [sem])
      const permit = await sem.acquire()
      permit.release()
      expect(await code(ch.receive())).toBe('EPIPE')
      expect(await exited).toBe(0)
      ch.close()
    } finally {
      server.close()
      sem.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
