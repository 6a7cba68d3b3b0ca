// Recipe: a file lock plus shared memory between processes.
//
// Three child processes each do ROUNDS updates of two shared things:
// - a JSON log file, read, appended to and rewritten under `lockFile()`;
// - a counter in a MemFile that every process maps (no copy, no messages),
//   incremented under the same lock with a plain read-modify-write.
// Each child holds the lock across an `await`, so without the lock updates
// would be lost. The parent checks that none was.
//
//   node --import=tsx examples/lock-and-memory.ts
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { MemFile, lockFile } from '../index.js'

const CHILDREN = 3
const ROUNDS = 50

async function child(logPath: string, id: string): Promise<void> {
  using mem = MemFile.fromFd(3, { adopt: true })
  const counter = new Uint32Array(mem.map({ writable: true })) // shared with every process
  for (let r = 0; r < ROUNDS; r++) {
    using lock = await lockFile(logPath) // exclusive OFD lock; waits without blocking the loop
    const log: string[] = JSON.parse(readFileSync(logPath, 'utf8'))
    const seen = counter[0]!
    await yieldToLoop() // hold the lock across an await, as real code does
    counter[0] = seen + 1
    log.push(`child ${id} round ${r}`)
    writeFileSync(logPath, JSON.stringify(log)) // other fds on the file do not drop an OFD lock
  } // each round's lock is released when its `using` scope ends
  mem.unmap(counter.buffer)
}

async function parent(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'linux-fd-recipe-'))
  const logPath = join(dir, 'log.json')
  writeFileSync(logPath, '[]')
  using mem = MemFile.create('counter')
  mem.truncate(4096)
  mem.addSeals({ shrink: true }) // nobody can shrink it, so no mapping can SIGBUS
  const counter = new Uint32Array(mem.map({ writable: true }))

  const codes = await Promise.all(
    Array.from({ length: CHILDREN }, (_, i) => {
      const p = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'child', logPath, String(i)], {
        stdio: ['ignore', 'inherit', 'inherit', mem.fd],
      })
      return new Promise<number | null>((resolve) => p.on('close', resolve))
    }),
  )
  const entries = (JSON.parse(readFileSync(logPath, 'utf8')) as string[]).length
  const expected = CHILDREN * ROUNDS
  console.log(`${CHILDREN} processes x ${ROUNDS} rounds: shared counter ${counter[0]}, log entries ${entries}, expected ${expected}`)
  const ok = codes.every((c) => c === 0) && counter[0] === expected && entries === expected
  mem.unmap(counter.buffer)
  rmSync(dir, { recursive: true, force: true })
  if (!ok) {
    console.error('FAIL: an update was lost or a child failed')
    process.exitCode = 1
  }
}

;(process.argv[2] === 'child' ? child(process.argv[3]!, process.argv[4]!) : parent()).catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
