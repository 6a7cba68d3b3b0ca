// The fairness cut of ready awaits (src/waiter.ts, FAST_RUN_MS), reached
// without timing anything, for the specs that test what happens to a wait
// taken at the cut.
import { EventCounter } from '../../index.js'

/**
 * Puts this turn's run of ready awaits past the fairness cut (src/waiter.ts,
 * FAST_RUN_MS), without timing anything: a ready take of another object
 * starts the run (the turn's first clock read), a 12 ms busy loop outlasts
 * the 10 ms, and 8 more ready takes reach the next clock read (every 8th),
 * all in one synchronous block. The next ready wait of the turn, on any
 * object, is then cut. Returns the takes, to await at the end; the counter
 * is closed once they have settled.
 */
export function cutTheTurn(): Promise<unknown> {
  const busy = new EventCounter()
  const takes: Promise<bigint>[] = []
  busy.add(1)
  takes.push(busy.take())
  for (const end = performance.now() + 12; performance.now() < end; );
  for (let i = 0; i < 8; i++) {
    busy.add(1)
    takes.push(busy.take())
  }
  return Promise.all(takes).finally(() => busy.close())
}
