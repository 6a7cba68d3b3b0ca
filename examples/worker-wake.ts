// Recipe: waking a worker thread with an EventCounter.
//
// The main thread posts the numbers of two counters to a worker: `work` (the
// main thread adds 1 per item it queues) and `done` (the worker adds what it
// handled). The worker awaits `work.take()` on its own event loop, so it
// sleeps without a blocked thread and without polling. A take returns
// everything added since the last one: items queued while the worker was busy
// arrive together, and none is ever lost.
//
//   node --import=tsx examples/worker-wake.ts
import { once } from 'node:events'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { setTimeout as sleep } from 'node:timers/promises'
import { EventCounter } from '../index.js'

const ITEMS = 20

async function worker(): Promise<void> {
  using work = EventCounter.fromFd(workerData.work) // a dup: the main thread keeps its objects open until this ran
  using done = EventCounter.fromFd(workerData.done)
  let handled = 0n
  let wakes = 0
  parentPort!.postMessage('ready')
  while (handled < ITEMS) {
    const n = await work.take() // resolves once the counter is non-zero, and empties it
    wakes++
    handled += n
    await sleep(10) // pretend to work; items added meanwhile wait in the counter
  }
  done.add(handled)
  console.log(`worker: handled ${handled} items in ${wakes} wake-ups`)
}

async function main(): Promise<void> {
  using work = new EventCounter()
  using done = new EventCounter()
  // The worker runs this same file. When that file is TypeScript run by tsx,
  // the worker needs tsx's require hook: Node 20 does not apply `--import`
  // hooks in workers. (Compiled to JavaScript, no flag is needed.)
  const execArgv = process.argv[1]!.endsWith('.ts')
    ? [...process.execArgv.filter((a) => !a.startsWith('--import')), '--require=tsx/cjs']
    : undefined
  const w = new Worker(process.argv[1]!, { execArgv, workerData: { work: work.fd, done: done.fd } })
  const exited = new Promise<number>((resolve) => w.on('exit', resolve))
  await once(w, 'message') // the worker is waiting
  for (let i = 0; i < ITEMS; i++) {
    work.add(1) // never blocks; wakes the worker if it is waiting
    await sleep(3)
  }
  const handled = await done.take()
  const code = await exited
  console.log(`main: the worker handled ${handled} of ${ITEMS} items`)
  if (handled !== BigInt(ITEMS) || code !== 0 || work.tryTake() !== null) {
    console.error('FAIL: items lost or counted twice, or the worker failed')
    process.exitCode = 1
  }
}

;(isMainThread ? main() : worker()).catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
