// Recipe: one copy of a daemon at a time, that a crash cannot lock out.
//
// The daemon holds an exclusive lock on its lock file for as long as it
// runs, and writes its pid into the file through the lock's own fd. A second
// copy's tryLockFile() gets null: it reads the pid from the file and exits
// with a message. The kernel drops the lock when its holder dies, so a copy
// started after a SIGKILL gets in; the pid left in the file by the dead one
// means nothing then, which is why the lock, not the file, is what counts.
// (testLock() cannot name the holder here: an OFD lock has no pid.)
//
// The parent starts copy A, then copy B (refused, naming A's pid), kills A
// with SIGKILL, starts copy C (it gets in), and stops C with SIGTERM.
//
//   node --import=tsx examples/single-instance.ts
import { spawn } from 'node:child_process'
import { ftruncateSync, mkdtempSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { tryLockFile } from '../index.js'

/** The daemon: exit 3 if another copy runs; else hold the lock until SIGTERM. */
function daemon(path: string): void {
  const lock = tryLockFile(path)
  if (lock === null) {
    const pid = readFileSync(path, 'utf8').trim() || 'not written yet'
    console.error(`already running (pid ${pid})`)
    process.exit(3)
  }
  ftruncateSync(lock.fd)
  writeSync(lock.fd, `${process.pid}\n`, 0)
  const keepAlive = setInterval(() => {}, 1 << 30)
  // Before the daemon says it runs: a SIGTERM that came first would kill it
  // with the default action, skipping the release (the lock is freed by the
  // kernel anyway, but the exit status says "killed").
  process.on('SIGTERM', () => {
    lock.release()
    clearInterval(keepAlive)
  })
  console.log(`running ${process.pid}`)
}

/** Starts a copy; resolves with its first line of output, or its exit code and stderr if it exits first. */
function start(path: string): Promise<{ pid: number; line?: string; code?: number | null; err: string; exited: Promise<number | null> }> {
  const p = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'daemon', path], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  p.stderr!.on('data', (d: Buffer) => (err += d))
  const exited = new Promise<number | null>((resolve) => p.on('close', resolve))
  return new Promise((resolve) => {
    p.stdout!.once('data', (d: Buffer) => resolve({ pid: p.pid!, line: String(d).trim(), err, exited }))
    void exited.then((code) => resolve({ pid: p.pid!, code, err, exited }))
  })
}

async function parent(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'single-'))
  const path = join(dir, 'daemon.lock')
  const check = (ok: boolean, what: string) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`)
    if (!ok) process.exitCode = 1
  }
  try {
    const a = await start(path)
    check(a.line === `running ${a.pid}`, `copy A runs (${a.line})`)
    const b = await start(path)
    check(b.code === 3 && b.err.trim() === `already running (pid ${a.pid})`, `copy B is refused: exit ${b.code}, "${b.err.trim()}"`)
    process.kill(a.pid, 'SIGKILL')
    await a.exited
    const c = await start(path)
    check(c.line === `running ${c.pid}`, `after A's SIGKILL, copy C runs (${c.line})`)
    check(readFileSync(path, 'utf8') === `${c.pid}\n`, 'the file names C now')
    process.kill(c.pid, 'SIGTERM')
    const code = await c.exited
    check(code === 0, `C stops on SIGTERM and exits ${code}`)
    const free = tryLockFile(path)
    check(free !== null, 'the lock is free again')
    free?.release()
    if (!process.exitCode) console.log('single instance: B refused while A ran; after A was killed, C started and stopped cleanly')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === 'daemon') daemon(process.argv[3]!)
else void parent()
