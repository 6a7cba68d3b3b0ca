'use strict'
// A 1 ms periodic timer for DURATION: linux-fd's Timer (timerfd: `await
// t.wait()` in a loop, and `for await (const n of t)`) against Node's
// `setInterval(fn, 1)`, rounds interleaved. Per wake-up we record the time
// since the previous one (the first: since the timer was armed).
//
// - jitter: |interval - 1 ms| per wake, p50 / p99 / max;
// - drift: elapsed time at the last wake - counted ticks x 1 ms (how far the
//   caller's idea of time, counting ticks, is behind the clock);
// - overruns: ticks that came without a wake of their own (a timerfd read
//   returning n > 1 counts n - 1): the wake-ups the loop missed;
// - lost: ticks expected from the elapsed time (floor(elapsed / 1 ms)) minus
//   ticks counted: expirations the caller can never know about.
// A timerfd counts every expiration, so its `lost` stays ~0 whatever its
// overruns; setInterval counts one tick per callback, so what it misses is lost.
//
// Usage: node bench/timer.js [--quick] [--json]
const lfd = require('..')
const { median, runAsScript } = require('./common.js')

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 5
const DURATION = quick ? 1000 : 2000 // ms per variant and round
const PERIOD = 1 // ms
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]

function stats(t0, wakes, ticks) {
  // wakes: performance.now() of each wake; ticks: total expirations counted
  const intervals = wakes.map((t, i) => t - (i ? wakes[i - 1] : t0))
  const jitter = intervals.map((x) => Math.abs(x - PERIOD)).sort((a, b) => a - b)
  const elapsed = wakes[wakes.length - 1] - t0
  const expected = Math.floor(elapsed / PERIOD + 1e-6)
  return {
    wakes: wakes.length,
    ticks,
    expected,
    overruns: ticks - wakes.length,
    lost: expected - ticks,
    driftMs: elapsed - ticks * PERIOD,
    jitterP50Ms: pct(jitter, 50),
    jitterP99Ms: pct(jitter, 99),
    jitterMaxMs: jitter[jitter.length - 1],
  }
}

const variants = {
  'Timer await wait()': async () => {
    const t = new lfd.Timer()
    const wakes = []
    let ticks = 0
    const t0 = performance.now()
    t.set(PERIOD, PERIOD)
    while (performance.now() - t0 < DURATION) {
      ticks += Number(await t.wait())
      wakes.push(performance.now())
    }
    t.close()
    return stats(t0, wakes, ticks)
  },
  'Timer for await (iterator)': async () => {
    const t = new lfd.Timer()
    const wakes = []
    let ticks = 0
    const t0 = performance.now()
    t.set(PERIOD, PERIOD)
    for await (const n of t) {
      ticks += Number(n)
      const now = performance.now()
      wakes.push(now)
      if (now - t0 >= DURATION) break
    }
    t.close()
    return stats(t0, wakes, ticks)
  },
  'setInterval(fn, 1)': () =>
    new Promise((resolve) => {
      const wakes = []
      const t0 = performance.now()
      const iv = setInterval(() => {
        const now = performance.now()
        wakes.push(now)
        if (now - t0 >= DURATION) {
          clearInterval(iv)
          resolve(stats(t0, wakes, wakes.length))
        }
      }, PERIOD)
    }),
}

async function main() {
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]))
  for (let r = 0; r < ROUNDS; r++) for (const [name, run] of Object.entries(variants)) samples[name].push(await run())
  const rows = Object.entries(samples).map(([name, runs]) => {
    const row = { name }
    for (const k of Object.keys(runs[0])) row[k] = +median(runs.map((s) => s[k])).toFixed(4)
    row.jitterP99MinMs = +Math.min(...runs.map((s) => s.jitterP99Ms)).toFixed(4)
    row.jitterP99MaxMs = +Math.max(...runs.map((s) => s.jitterP99Ms)).toFixed(4)
    row.rounds = runs
    return row
  })
  return { rounds: ROUNDS, durationMs: DURATION, periodMs: PERIOD, rows }
}

function print(res) {
  console.log(`${res.periodMs} ms periodic timer for ${res.durationMs / 1000} s, median of ${res.rounds} rounds; jitter = |interval - ${res.periodMs} ms| per wake`)
  console.log(`  ${'variant'.padEnd(28)} ${'jitter p50'.padStart(10)} ${'p99'.padStart(9)} ${'(p99 min-max)'.padStart(17)} ${'max'.padStart(9)} ${'drift'.padStart(9)}  wakes  ticks  expected  overruns  lost`)
  const ms = (x) => `${x.toFixed(3)} ms`
  for (const r of res.rows) {
    console.log(
      `  ${r.name.padEnd(28)} ${ms(r.jitterP50Ms).padStart(10)} ${ms(r.jitterP99Ms).padStart(9)} ${`(${r.jitterP99MinMs.toFixed(2)}-${r.jitterP99MaxMs.toFixed(2)})`.padStart(17)} ${ms(r.jitterMaxMs).padStart(9)} ${`${r.driftMs.toFixed(1)} ms`.padStart(9)} ${String(r.wakes).padStart(6)} ${String(r.ticks).padStart(6)} ${String(r.expected).padStart(9)} ${String(r.overruns).padStart(9)} ${String(r.lost).padStart(5)}`,
    )
  }
}

module.exports = { main, print }
runAsScript(module, main, print)
