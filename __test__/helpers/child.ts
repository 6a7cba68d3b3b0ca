// Helpers for tests that need real child processes and worker threads.
import { spawn, type StdioOptions } from 'node:child_process'
import { existsSync, fstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { SLOWDOWN } from './emulation.js'

/** Absolute path of the package entry, for children to `require`. */
export const PKG = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'index.js')

export interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * Runs `code` in a fresh `node -e` process with `lfd` bound to the package.
 * `extraFds` are passed as fds 3, 4, … of the child, `env` replaces its
 * environment. Killed (SIGKILL) after
 * `timeoutMs`, by default 30 s (300 s under qemu-user, helpers/emulation.ts).
 */
export function runNode(
  code: string,
  opts: {
    extraFds?: number[]
    args?: string[]
    env?: NodeJS.ProcessEnv
    timeoutMs?: number
    onSpawn?: (pid: number) => void
    /** Called with the child's stdout so far, each time more arrives. */
    onStdout?: (all: string) => void
  } = {},
): Promise<ChildResult> {
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...(opts.extraFds ?? [])]
  const prelude = `const lfd = require(${JSON.stringify(PKG)});\n`
  const child = spawn(process.execPath, [...(opts.args ?? []), '-e', prelude + code], { stdio, env: opts.env ?? process.env })
  opts.onSpawn?.(child.pid!)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => {
    stdout += d
    opts.onStdout?.(stdout)
  })
  child.stderr!.on('data', (d) => (stderr += d))
  // The default is a hang guard, not a bound a test checks: x10 under qemu-user.
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000 * SLOWDOWN)
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** Number of open fds of this process. */
/** Whether `fd` is open in this process. */
export function isOpen(fd: number): boolean {
  try {
    fstatSync(fd)
    return true
  } catch {
    return false
  }
}

export function fdCount(): number {
  return readdirSync('/proc/self/fd').length
}

/**
 * The open fds of this process, each as `"N target"` (the readlink of
 * `/proc/self/fd/N`) and what identifies the object behind it (see
 * `identity`). An entry whose readlink fails closed before it could
 * be named, so it is not open, and is left out. Most often that entry is
 * readdirSync's own directory fd: its number changes whenever a lower fd
 * closes between two listings, and listed as a bare number it once counted
 * as a leaked fd in CI (`['33']`).
 */
export function fdList(): string[] {
  return list(true)
}

function list(mark: boolean): string[] {
  return readdirSync('/proc/self/fd').flatMap((n) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${n}`)
      if (mark && target.startsWith('anon_inode:')) markListed(Number(n))
      return [`${n} ${target}${identity(n)}`]
    } catch {
      return []
    }
  })
}

/**
 * What tells two files of one name apart: every memfd of a name reads as
 * `/memfd:name (deleted)`, so a leaked one could hide behind a finalized one
 * that had the same number; fdinfo's `ino:` is the memfd's own inode (a
 * socket's or pipe's is in the name already). Eventfds and timerfds share
 * one anonymous inode, and fdinfo's `eventfd-id:` is no identity either: it
 * is reused as soon as the eventfd closes (an eventfd closed and a new one
 * made gave the same number and the same id, checked on 6.18). Those are
 * told apart by `markListed` instead.
 */
function identity(n: string): string {
  const ino = /^ino:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${n}`, 'utf8'))?.[1]
  return ino === undefined ? '' : ` ino ${ino}`
}

type Fcntl = { fcntl(fd: number, cmd: number, arg?: number): number; F_GETOWN: number; F_SETOWN: number }
let pkg: Fcntl | undefined
const lfd = (): Fcntl => (pkg ??= createRequire(import.meta.url)(PKG) as Fcntl)

/**
 * Marks the open file description of an anonymous-inode fd (eventfd,
 * timerfd) that {@link fdList} listed, by making this process its owner
 * (`F_SETOWN`, which only matters to a description with `O_ASYNC`, which
 * nothing here sets). A new eventfd that got the number of a finalized one
 * has no owner, so `fdsAdded` sees it as added, where its name and inode
 * alone are the same as the listed one's. (A dup of a marked description
 * shares the mark.)
 */
function markListed(fd: number): void {
  try {
    const { fcntl, F_GETOWN, F_SETOWN } = lfd()
    if (fcntl(fd, F_GETOWN) === 0) fcntl(fd, F_SETOWN, process.pid)
  } catch {} // closed meanwhile
}

/** Whether `entry` (a {@link fdList} line) names an anonymous-inode fd whose description no listing marked. */
function unmarked(entry: string): boolean {
  const [n, target] = entry.split(' ', 2)
  if (!target!.startsWith('anon_inode:')) return false
  try {
    return lfd().fcntl(Number(n), lfd().F_GETOWN) === 0
  } catch {
    return false // closed meanwhile: not open, so not added
  }
}

/**
 * The fds open now that were not open, as the same file, in `before` (an
 * {@link fdList} result): a new name or inode, or an eventfd or timerfd
 * that no listing marked (a new one on a listed number). Fewer fds than
 * before is no leak: an earlier test's object may be finalized meanwhile
 * and close its fd, so leak checks that span awaits compare lists, not
 * counts. Marks nothing, so it can be polled.
 */
export function fdsAdded(before: readonly string[]): string[] {
  return list(false).filter((f) => !before.includes(f) || unmarked(f))
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * Waits until `cond()` holds, giving the event loop turns in between; throws
 * after `ms` so a lost wake-up fails the test instead of hanging it. The
 * default, a hang guard, is x10 under qemu-user as runNode's is; an explicit
 * `ms` is taken as it is (some must stay below a 1 s idle timeout).
 */
export async function until(cond: () => boolean, ms = 5000 * SLOWDOWN): Promise<void> {
  const end = performance.now() + ms
  while (!cond()) {
    if (performance.now() > end) throw new Error(`condition not met within ${ms} ms`)
    await sleep(1)
  }
}

/** Capability numbers from linux/capability.h that some tests depend on. */
export const CAP_SYS_TIME = 25
export const CAP_WAKE_ALARM = 35

/**
 * Whether this process holds capability `cap` in its effective set (read
 * from `/proc/self/status`), so a test can expect success with it and a
 * precise errno without it, instead of accepting either.
 */
export function hasCap(cap: number): boolean {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('CapEff:'))
  if (!line) return false
  return ((BigInt('0x' + line.split(/\s+/)[1]) >> BigInt(cap)) & 1n) === 1n
}

/**
 * A directory under which a child running as another user (nobody) can
 * reach a file: `os.tmpdir()` if every directory on its path is searchable
 * by others, else `/tmp`, else `/dev/shm`. A private TMPDIR (mode 0700, as
 * `mktemp -d` makes) failed such tests with EACCES on the way to the file,
 * or let them pass for that reason rather than the one they check.
 */
export function othersTmpdir(): string {
  const searchable = (dir: string): boolean => {
    let real: string
    try {
      real = realpathSync(dir) // a symlinked TMPDIR: the directories of its target count
    } catch {
      return false
    }
    for (let p = real; ; p = dirname(p)) {
      try {
        if ((statSync(p).mode & 0o001) === 0) return false
      } catch {
        return false
      }
      if (p === '/') return true
    }
  }
  const found = [tmpdir(), '/tmp', '/dev/shm'].find(searchable)
  if (found === undefined) throw new Error('no directory that other users can reach: tmpdir(), /tmp and /dev/shm are all private')
  return found
}

/** util-linux's prlimit(1), where installed (busybox systems lack it): Node has no setrlimit, so tests that lower a child's limits use it. */
export const prlimit: string | undefined = ['/usr/bin/prlimit', '/bin/prlimit'].find((p) => existsSync(p))
