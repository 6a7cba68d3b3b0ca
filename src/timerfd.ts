/**
 * timerfd: the `Timer` class, and Python 3.13's low-level `os.timerfd_*`
 * functions with their constants.
 *
 * Times: the low-level functions take seconds as numbers (the `Ns` forms
 * nanoseconds as bigints), as Python does; `Timer` takes milliseconds (`Ns`:
 * nanoseconds). Two rules hold for every form:
 * - a positive time below 1 ns is 1 ns, never 0: 0 would disarm the timer
 *   (or make a periodic timer a one-shot one);
 * - the kernel takes any time a `time_t` holds (2^63-1 seconds), and treats
 *   every time beyond `KTIME_MAX` (2^63-1 ns, about 292 years) as exactly
 *   that: the timer never expires. Larger seconds are a `RangeError` stating
 *   that bound.
 * @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
 * @module
 */
import * as util from 'node:util'

import { native } from './binding'
import { shown } from './inspect'
import { errnoError, fdKindError, fromFdError, invalidArgType, invalidArgValue, invalidThis, outOfRange, wrongFdKind } from './errors'
import { Adoption, FdCore, type FdIterator, type Handle } from './waiter'
import { type FdLike, type WaitOptions, toAdopt, toBigInt, toBool, toFd, toInt32, toOptions, toStr, waitSignal } from './validate'

/** Close-on-exec flag for {@link timerfdCreate} (`TFD_CLOEXEC`); always added, as Python does. */
export const TFD_CLOEXEC: number = native.TFD_CLOEXEC
/** Non-blocking flag for {@link timerfdCreate} (`TFD_NONBLOCK`): a read before the first expiration fails with `EAGAIN`. */
export const TFD_NONBLOCK: number = native.TFD_NONBLOCK
/** {@link timerfdSettime} flag (`TFD_TIMER_ABSTIME`): `initial` is an absolute value of the timer's clock. */
export const TFD_TIMER_ABSTIME: number = native.TFD_TIMER_ABSTIME
/**
 * {@link timerfdSettime} flag (`TFD_TIMER_CANCEL_ON_SET`): with an absolute
 * `CLOCK_REALTIME` (or `CLOCK_REALTIME_ALARM`) timer, a discontinuous change
 * of the clock makes the next read fail with `ECANCELED`. The kernel silently
 * ignores it for any other timer. A periodic timer with a tick unread when
 * the failing read comes stops there (the kernel re-arms a periodic timerfd
 * when its ticks are read, and that read failed): settime it again.
 */
export const TFD_TIMER_CANCEL_ON_SET: number = native.TFD_TIMER_CANCEL_ON_SET
/** `CLOCK_REALTIME`: wall-clock time, which can jump (`settimeofday`, NTP steps). */
export const CLOCK_REALTIME: number = native.CLOCK_REALTIME
/** `CLOCK_MONOTONIC`: never jumps; stops while the system is suspended. */
export const CLOCK_MONOTONIC: number = native.CLOCK_MONOTONIC
/** `CLOCK_BOOTTIME`: like `CLOCK_MONOTONIC`, but counts the time the system is suspended. */
export const CLOCK_BOOTTIME: number = native.CLOCK_BOOTTIME
/** `CLOCK_REALTIME_ALARM`: `CLOCK_REALTIME` that wakes a suspended system; needs `CAP_WAKE_ALARM` (else `EPERM`). */
export const CLOCK_REALTIME_ALARM: number = native.CLOCK_REALTIME_ALARM
/** `CLOCK_BOOTTIME_ALARM`: `CLOCK_BOOTTIME` that wakes a suspended system; needs `CAP_WAKE_ALARM` (else `EPERM`). */
export const CLOCK_BOOTTIME_ALARM: number = native.CLOCK_BOOTTIME_ALARM
/** `CLOCK_MONOTONIC_RAW`, for {@link clockGettime}: monotonic, and not slewed by NTP (a timerfd refuses it: `EINVAL`). */
export const CLOCK_MONOTONIC_RAW: number = native.CLOCK_MONOTONIC_RAW
/** `CLOCK_MONOTONIC_COARSE`, for {@link clockGettime}: `CLOCK_MONOTONIC` at the last tick, cheaper to read (a timerfd refuses it). */
export const CLOCK_MONOTONIC_COARSE: number = native.CLOCK_MONOTONIC_COARSE
/** `CLOCK_REALTIME_COARSE`, for {@link clockGettime}: `CLOCK_REALTIME` at the last tick (a timerfd refuses it). */
export const CLOCK_REALTIME_COARSE: number = native.CLOCK_REALTIME_COARSE
/** `CLOCK_TAI`, for {@link clockGettime}: International Atomic Time, `CLOCK_REALTIME` plus the leap-second offset the system was given (0 if none; a timerfd refuses it). */
export const CLOCK_TAI: number = native.CLOCK_TAI
/** `CLOCK_PROCESS_CPUTIME_ID`, for {@link clockGettime}: CPU time used by this process, all threads (a timerfd refuses it). */
export const CLOCK_PROCESS_CPUTIME_ID: number = native.CLOCK_PROCESS_CPUTIME_ID
/** `CLOCK_THREAD_CPUTIME_ID`, for {@link clockGettime}: CPU time used by the calling thread (a timerfd refuses it). */
export const CLOCK_THREAD_CPUTIME_ID: number = native.CLOCK_THREAD_CPUTIME_ID

const EAGAIN = -11
/** 2^63-1: `KTIME_MAX` in nanoseconds, the longest time the kernel keeps. */
const KTIME_MAX = 2n ** 63n - 1n
/** 2^63: no time_t holds this many seconds. */
const TIME_T_LIMIT = 2 ** 63
const SECONDS_RANGE = '>= 0 and < 2 ** 63 (seconds, the range of the kernel\'s time_t)'
const MS_RANGE = '>= 0 and < 9223372036854775808000 (milliseconds: 2 ** 63 seconds, the range of the kernel\'s time_t)'

/** A time in seconds (or, with `ms`, milliseconds): a number from 0 up to what a time_t holds. */
function toTime(value: unknown, name: string, ms: boolean, dflt?: number): number {
  if (value === undefined && dflt !== undefined) return dflt
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  // NaN and ±Infinity fail these comparisons too.
  if (!(value >= 0 && value < (ms ? TIME_T_LIMIT * 1000 : TIME_T_LIMIT))) {
    throw outOfRange(name, ms ? MS_RANGE : SECONDS_RANGE, value)
  }
  return value
}

/** A time in nanoseconds: a safe integer or a bigint, 0 … 2^63-1. */
function toNs(value: unknown, name: string, dflt?: bigint): bigint {
  if (value === undefined && dflt !== undefined) return dflt
  return toBigInt(value, name, 0n, KTIME_MAX)
}

/**
 * `set(0, interval)`: the kernel disarms a timer whose initial expiration is
 * 0, whatever the interval, so the interval would never start. `set(0, 100)`
 * read as "now, then every 100 ms" (as `setInterval` users expect) silently
 * never fired (s44-user); it is refused instead. `set(0)` still disarms.
 */
function disarmsInterval(name: string, value: unknown, intervalName: string): TypeError {
  return invalidArgValue(name, value, `is 0, which disarms the timer whatever ${intervalName} is (timerfd_settime(2)): pass the first delay (such as the interval itself), or call disarm()`)
}

function pair<T>(r: [T, T] | number, syscall: string): [T, T] {
  if (typeof r === 'number') throw errnoError(r, syscall)
  return r
}

/**
 * `timerfd_create(clockid, flags)`: creates a disarmed timer and returns its
 * fd, as Python's `os.timerfd_create`. `TFD_CLOEXEC` is always added. The
 * caller owns the fd (close it with `fs.closeSync`), or hands it to
 * {@link Timer.fromFd} with `{ adopt: true }`.
 * @param clockid - `CLOCK_REALTIME`, `CLOCK_MONOTONIC`, `CLOCK_BOOTTIME`, or an `*_ALARM` clock.
 * @param flags - `TFD_NONBLOCK` (`TFD_CLOEXEC` is implied); default 0.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-number argument.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a non-int32 argument.
 * @throws {Error} `EINVAL` (unknown clock or flags), `EPERM` (an `*_ALARM`
 * clock without `CAP_WAKE_ALARM`), `EMFILE`/`ENFILE`.
 * @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
 * @example
 * ```ts
 * const fd = timerfdCreate(CLOCK_MONOTONIC, TFD_NONBLOCK)
 * timerfdSettime(fd, { initial: 0.5, interval: 0.5 })
 * ```
 */
export function timerfdCreate(clockid: number, flags: number = 0): number {
  const clock = toInt32(clockid, 'clockid')
  const f = toInt32(flags, 'flags', 0)
  const r = native.timerfdCreate(clock, f)
  if (r < 0) throw errnoError(r, 'timerfd_create')
  return r
}

/** The options of {@link timerfdSettime}. */
export interface TimerfdSettimeOptions {
  /** Seconds until the first expiration (with `TFD_TIMER_ABSTIME`: the clock value of it); 0, the default, disarms. */
  initial?: number | undefined
  /** Seconds between expirations after the first; 0, the default, is a one-shot timer. */
  interval?: number | undefined
  /** `TFD_TIMER_ABSTIME`, `TFD_TIMER_CANCEL_ON_SET`; default 0. */
  flags?: number | undefined
}

/** The options of {@link timerfdSettimeNs}: times in nanoseconds. */
export interface TimerfdSettimeNsOptions {
  /** Nanoseconds until the first expiration (or its clock value); 0, the default, disarms. */
  initial?: number | bigint | undefined
  /** Nanoseconds between expirations; 0, the default, is a one-shot timer. */
  interval?: number | bigint | undefined
  /** `TFD_TIMER_ABSTIME`, `TFD_TIMER_CANCEL_ON_SET`; default 0. */
  flags?: number | undefined
}

/**
 * `timerfd_settime(fd, flags, new, old)`: arms the timer, as Python's
 * `os.timerfd_settime`: `initial` seconds until the first expiration (0
 * disarms), then every `interval` seconds (0: one-shot). Times are rounded
 * to the nearest nanosecond (of the number's exact value; a tie up), but a
 * positive time is at least 1 ns. Expirations not yet read are discarded
 * (the kernel resets the count). Returns
 * the previous `[next_expiration, interval]` in seconds (relative).
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a bad fd, options or time
 * type; `ERR_INVALID_ARG_VALUE` for an unknown option.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a negative or non-finite time,
 * or one of 2^63 seconds or more (beyond the kernel's `time_t`).
 * @throws {Error} `EBADF`, `EINVAL` (not a timerfd, bad flags), `ECANCELED`
 * (`TFD_TIMER_CANCEL_ON_SET`: the clock jumped since the last read; the new
 * setting is armed all the same, as timerfd_settime(2) says and Python does).
 * @see https://man7.org/linux/man-pages/man2/timerfd_settime.2.html
 */
export function timerfdSettime(fd: FdLike, options?: TimerfdSettimeOptions): [initial: number, interval: number] {
  const n = toFd(fd)
  const o = toOptions(options, 'options', ['initial', 'interval', 'flags'])
  const flags = toInt32(o.flags, 'options.flags', 0)
  const initial = toTime(o.initial, 'options.initial', false, 0)
  const interval = toTime(o.interval, 'options.interval', false, 0)
  return pair(native.timerfdSettime(n, flags, initial, interval), 'timerfd_settime')
}

/**
 * `timerfd_settime` in nanoseconds, as Python's `os.timerfd_settime_ns`:
 * `initial` and `interval` are safe integers or bigints up to 2^63-1
 * (`KTIME_MAX`, the longest time the kernel keeps). Returns the previous
 * `[next_expiration, interval]` as bigints.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE` (unknown option).
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a time outside 0 … 2^63-1 or an unsafe integer.
 * @throws {Error} `EBADF`, `EINVAL`, `ECANCELED`.
 * @see https://man7.org/linux/man-pages/man2/timerfd_settime.2.html
 */
export function timerfdSettimeNs(fd: FdLike, options?: TimerfdSettimeNsOptions): [initial: bigint, interval: bigint] {
  const n = toFd(fd)
  const o = toOptions(options, 'options', ['initial', 'interval', 'flags'])
  const flags = toInt32(o.flags, 'options.flags', 0)
  const initial = toNs(o.initial, 'options.initial', 0n)
  const interval = toNs(o.interval, 'options.interval', 0n)
  return pair(native.timerfdSettimeNs(n, flags, initial, interval), 'timerfd_settime')
}

/**
 * `timerfd_gettime(fd)`: `[next_expiration, interval]` in seconds, as
 * Python's `os.timerfd_gettime`. The expiration is always relative, even for
 * a timer set with `TFD_TIMER_ABSTIME`; a next expiration of 0 is a
 * disarmed timer (the interval may still read as set: disarming with
 * `initial` 0 keeps the interval given with it), which a one-shot timer is
 * once it has expired, its expiration read or not. A periodic timer whose
 * next expiration is due within the clock's resolution (an interval of a
 * few ns) can read 0 too.
 * @throws {Error} `EBADF`, `EINVAL` (not a timerfd).
 * @see https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html
 */
export function timerfdGettime(fd: FdLike): [initial: number, interval: number] {
  return pair(native.timerfdGettime(toFd(fd)), 'timerfd_gettime')
}

/**
 * `timerfd_gettime(fd)` in nanoseconds, as Python's `os.timerfd_gettime_ns`.
 * @throws {Error} `EBADF`, `EINVAL` (not a timerfd).
 * @see https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html
 */
export function timerfdGettimeNs(fd: FdLike): [initial: bigint, interval: bigint] {
  return pair(native.timerfdGettimeNs(toFd(fd)), 'timerfd_gettime')
}

/**
 * `clock_gettime(clockid)` in nanoseconds, as Python's
 * `time.clock_gettime_ns`: the clock's current value, on the scale of an
 * absolute (`TFD_TIMER_ABSTIME`) setting. `CLOCK_MONOTONIC` is
 * `process.hrtime.bigint()`'s clock; the boottime clocks have no other
 * reader in Node.
 * @param clockid - `CLOCK_REALTIME`, `CLOCK_MONOTONIC`, `CLOCK_BOOTTIME`, an `*_ALARM` clock, or any other clock id.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-number.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a non-integer or one outside -2^31 … 2^31-1.
 * @throws {Error} `EINVAL` (`syscall` `'clock_gettime'`): an unknown clock,
 * or an alarm clock on a machine with no real-time clock device to wake it.
 * @see https://man7.org/linux/man-pages/man2/clock_gettime.2.html
 * @example
 * ```ts
 * const fd = timerfdCreate(CLOCK_BOOTTIME)
 * const in5s = clockGettimeNs(CLOCK_BOOTTIME) + 5_000_000_000n
 * timerfdSettimeNs(fd, { flags: TFD_TIMER_ABSTIME, initial: in5s })
 * ```
 */
export function clockGettimeNs(clockid: number): bigint {
  return clockNow(toInt32(clockid, 'clockid'))
}

/**
 * `clock_gettime(clockid)` in seconds, as Python's `time.clock_gettime`
 * (see {@link clockGettimeNs}, which keeps every nanosecond).
 * @throws As {@link clockGettimeNs}.
 * @see https://man7.org/linux/man-pages/man2/clock_gettime.2.html
 */
export function clockGettime(clockid: number): number {
  const ns = clockGettimeNs(clockid)
  return Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9
}

function clockNow(id: number): bigint {
  const r = native.clockGettimeNs(id)
  if (typeof r === 'number') throw errnoError(r, 'clock_gettime')
  return r
}

/**
 * `clock_getres(clockid)` in nanoseconds: the clock's resolution, the
 * smallest step its readings (and timers on it) take. 1 for the
 * high-resolution clocks (a tick where high-resolution timers are off,
 * `highres=off`); a scheduler tick (1–10 ms) for the `*_COARSE` ones.
 * @param clockid - any clock id, as for {@link clockGettimeNs}.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-number.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a non-integer or one outside -2^31 … 2^31-1.
 * @throws {Error} `EINVAL` (`syscall` `'clock_getres'`): an unknown clock,
 * or an alarm clock on a machine with no real-time clock device.
 * @see https://man7.org/linux/man-pages/man2/clock_getres.2.html
 * @example
 * ```ts
 * clockGetresNs(CLOCK_MONOTONIC_COARSE) // 4000000n with HZ=250
 * ```
 */
export function clockGetresNs(clockid: number): bigint {
  const r = native.clockGetresNs(toInt32(clockid, 'clockid'))
  if (typeof r === 'number') throw errnoError(r, 'clock_getres')
  return r
}

/**
 * `clock_getres(clockid)` in seconds, as Python's `time.clock_getres`
 * (see {@link clockGetresNs}).
 * @throws As {@link clockGetresNs}.
 * @see https://man7.org/linux/man-pages/man2/clock_getres.2.html
 */
export function clockGetres(clockid: number): number {
  return Number(clockGetresNs(clockid)) / 1e9
}

/**
 * `read(fd, &u64, 8)` on a timerfd: the number of expirations since the last
 * read (what Python gets with `int.from_bytes(os.read(fd, 8), 'little')`).
 * On a blocking fd it blocks the thread until the timer expires. `0n` if the
 * kernel returned no bytes, as it may on a blocking fd when the clock steps
 * back past a periodic `CLOCK_REALTIME` timer's expiration (timerfd_create(2),
 * NOTES; Python's `os.read` gives `b''`): read again.
 * @throws {Error} `EAGAIN` (non-blocking, not expired yet), `ECANCELED` (the
 * clock jumped under `TFD_TIMER_CANCEL_ON_SET`), `EBADF`, `EINVAL` (also for
 * a file that is not a timerfd and read as no bytes or as a count of 0,
 * which a timerfd never gives, so that "read again" cannot loop for ever).
 * @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
 */
export function timerfdRead(fd: FdLike): bigint {
  const r = native.timerfdRead(toFd(fd))
  if (typeof r === 'number') throw errnoError(r, 'timerfd_read')
  return r
}

/** A clock of a {@link Timer}. */
export type TimerClock = 'monotonic' | 'realtime' | 'boottime' | 'realtime-alarm' | 'boottime-alarm'

const CLOCK_IDS: Record<TimerClock, number> = {
  monotonic: native.CLOCK_MONOTONIC,
  realtime: native.CLOCK_REALTIME,
  boottime: native.CLOCK_BOOTTIME,
  'realtime-alarm': native.CLOCK_REALTIME_ALARM,
  'boottime-alarm': native.CLOCK_BOOTTIME_ALARM,
}

/**
 * The clock `now()` reads: an alarm clock's own time is its base clock's
 * (the kernel's alarm clocks read `CLOCK_REALTIME`/`CLOCK_BOOTTIME`), but
 * `clock_gettime` refuses an alarm clock with `EINVAL` on a machine with no
 * real-time clock device, where its timers still work (mem36 L5).
 */
const NOW_IDS: Record<TimerClock, number> = {
  ...CLOCK_IDS,
  'realtime-alarm': native.CLOCK_REALTIME,
  'boottime-alarm': native.CLOCK_BOOTTIME,
}

/** The clock whose id is `id`, or `null` for none of the five (or no id). */
function clockName(id: number | null): TimerClock | null {
  for (const [name, value] of Object.entries(CLOCK_IDS)) if (value === id) return name as TimerClock
  return null
}

/** `value` as a clock name, checked. */
function toClock(value: unknown, name: string): TimerClock {
  const clock = toStr(value, name)
  if (!Object.hasOwn(CLOCK_IDS, clock)) {
    throw invalidArgValue(name, value, `must be one of ${Object.keys(CLOCK_IDS).map((c) => `'${c}'`).join(', ')}`)
  }
  return clock as TimerClock
}

/**
 * The options of {@link Timer.set} and {@link Timer.setNs}: `cancelOnSet`
 * only with `absolute: true` (the kernel ignores it on a relative timer, so
 * the types and the run-time check both refuse it there).
 */
export type TimerSetOptions =
  | {
      /** `initial` is an absolute value of the timer's clock (`TFD_TIMER_ABSTIME`), not a delay. Default false. */
      absolute?: boolean | undefined
      /** Only with `absolute: true`. */
      cancelOnSet?: false | undefined
    }
  | {
      /** `initial` is an absolute value of the timer's clock (`TFD_TIMER_ABSTIME`). */
      absolute: true
      /**
       * On a `'realtime'` or `'realtime-alarm'` clock: a discontinuous change
       * of the clock rejects pending waits (and fails the next read) with
       * `ECANCELED` (`TFD_TIMER_CANCEL_ON_SET`). Default false. After
       * `ECANCELED`, call `set()` again: a periodic timer with a tick unread
       * when the failing read came has stopped (`get()` then says `remaining: 0` and the
       * interval), and an absolute deadline wants recomputing anyway.
       *
       * To learn of wall-clock jumps while a monotonic timer drives the
       * work (a daemon's housekeeping), keep a second, `'realtime'` timer
       * armed far ahead (absolute, one-shot, with `cancelOnSet`):
       * `jumps.set(jumps.now() + 86_400_000, 0, { absolute: true, cancelOnSet: true })`
       * (milliseconds of the realtime clock; interval 0: one-shot). Each
       * time its wait rejects with `ECANCELED`, handle the jump and arm it
       * again; when a wait resolves instead (a day passed), arm it again too.
       * A `set()` with `cancelOnSet` after a jump that no read has seen
       * throws `ECANCELED` itself, once, *after arming the timer with the
       * new setting* (timerfd_settime(2): "the timer is successfully
       * rearmed"): the throw reports the jump, not a failed `set()`, so do
       * not arm a fallback on it. `disarm()` and a `set()` without
       * `cancelOnSet` do not report it, nor clear it: a jump while armed
       * with `cancelOnSet` and not yet read is still reported by the next
       * `set()` with `cancelOnSet`, after a `disarm()` too (the kernel's
       * rule, and Python's).
       */
      cancelOnSet?: boolean | undefined
    }

// A handle (and its clock) passed from Timer.fromFd to the constructor
// (`Adoption`, src/waiter.ts); closing a stray object uses Timer's own close().
const timers = new Adoption<{ h: Handle; clock: TimerClock }, Timer>(
  (v) => native.fdHandleClose(v.h),
  (t) => Timer.prototype.close.call(t),
)

/** A timer's setting, as {@link Timer.get} (milliseconds) and {@link Timer.getNs} (nanoseconds) report it. */
export interface TimerSetting<T extends number | bigint> {
  /** Time to the next expiration (0: disarmed, as a one-shot timer is once it has expired; or, with an interval of a few ns, due now). */
  remaining: T
  /** The period (0: a one-shot timer). */
  interval: T
}

/** A year in milliseconds: the margin of `Timer`'s wall-clock-scale check. */
const YEAR_MS = 366 * 86_400_000

/**
 * A timer on a timerfd that awaits on Node's own event loop.
 *
 * `wait()` resolves with the number of expirations since the last read, so a
 * late reader sees missed ticks counted instead of losing them, and a
 * periodic timer does not drift: its schedule is the kernel's, not the sum
 * of callback delays. (One exception, the kernel's: with `cancelOnSet`, a
 * clock change fails the next read with `ECANCELED` and the ticks counted
 * until then are dropped with it; a periodic timer with a tick unread by
 * then stops until the next `set()`.) Times are in milliseconds (`setNs`/`getNs`:
 * nanoseconds). The fd is close-on-exec and non-blocking; pending waits on
 * one object are served first come, first served (`tryWait()` and
 * `waitSync()` do not queue: they take ticks that are there even while
 * `wait()`s are pending). An object that is
 * garbage-collected without `close()` closes its fd.
 * @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
 * @example
 * ```ts
 * using timer = new Timer()
 * timer.set(100, 100) // first tick after 100 ms, then every 100 ms
 * for await (const ticks of timer) {
 *   console.log(`${ticks} tick(s)`) // more than 1n if the loop fell behind
 * }
 * ```
 */
export class Timer implements Disposable, AsyncIterable<bigint> {
  readonly #core: FdCore<bigint>
  readonly #clock: TimerClock

  /**
   * Creates a disarmed timer on `clock` (default `'monotonic'`).
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a non-string clock,
   * `ERR_INVALID_ARG_VALUE` for an unknown one.
   * @throws {Error} `EPERM` for an `*-alarm` clock without `CAP_WAKE_ALARM`;
   * `EMFILE`/`ENFILE` when out of fds.
   */
  constructor(clock?: TimerClock) {
    let h: Handle
    const adopted = timers.take(new.target, this)
    if (adopted !== undefined) {
      h = adopted.h
      this.#clock = adopted.clock
    } else {
      this.#clock = clock === undefined ? 'monotonic' : toClock(clock, 'clock')
      const r = native.timerfdOpen(CLOCK_IDS[this.#clock])
      if (typeof r === 'number') throw errnoError(r, 'timerfd_create')
      h = r
    }
    const read = (fd: number): bigint | undefined => {
      const r = native.timerfdTryRead(fd)
      if (typeof r === 'bigint') return r
      if (r === EAGAIN) return undefined
      throw core.fail(r, 'timerfd_read')
    }
    const core: FdCore<bigint> = new FdCore(h, 'Timer', read)
    this.#core = core
  }

  /**
   * Wraps an existing timerfd, e.g. one inherited from a parent process. By
   * default the fd is duplicated with `F_DUPFD_CLOEXEC`, so the object owns
   * its own copy and the caller still owns `fd`; with `{ adopt: true }` the
   * object takes ownership of `fd` itself and sets its `FD_CLOEXEC`. The
   * open file description is made non-blocking. The clock is read from
   * `/proc/self/fdinfo`. Where the kernel does not say, or `/proc` is not
   * mounted, it is `options.clock`, or `'monotonic'` without one: then, for
   * a timer on another clock, `now()` reads the wrong clock, so an absolute
   * `set(now() + ms)` is wrong, and the checks of absolute times and of
   * `cancelOnSet` judge by `'monotonic'` (relative times are right on every
   * clock). So a program that may run without `/proc` (a sandbox, an early
   * boot service) and is handed a timer on another clock should pass its
   * clock. Where `/proc` does say, an `options.clock` that differs is
   * refused.
   * Called on a subclass, it returns an instance of that subclass, as
   * {@link EventCounter.fromFd} says.
   * @throws {TypeError} `ERR_INVALID_RETURN_VALUE`: see {@link EventCounter.fromFd}.
   * @throws {TypeError} `ERR_INVALID_ARG_VALUE` if `fd` is not a timerfd, if
   * `options.clock` is not a clock name or is not the clock `/proc` reports,
   * or for an unknown option; `ERR_INVALID_ARG_TYPE`.
   * @throws {Error} `EBADF` if `fd` is not open.
   * @throws {Error} `EBUSY` with `{ adopt: true }` if another linux-fd object owns `fd` (the fd is left alone).
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` with `{ adopt: true }` and an object for `fd`: only a number can be adopted (the object, such as a `FileHandle`, goes on owning its fd).
   * @see https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html
   */
  static fromFd<T extends Timer, F extends FdLike = FdLike>(this: abstract new () => T, fd: F, options?: { adopt?: (F extends number ? boolean : false) | undefined; clock?: TimerClock | undefined }): T
  /** {@link Timer.fromFd} called unbound (or on a class whose constructor is private or takes a required argument, which fromFd would not pass): a `Timer`. */
  static fromFd<F extends FdLike = FdLike>(this: unknown, fd: F, options?: { adopt?: (F extends number ? boolean : false) | undefined; clock?: TimerClock | undefined }): Timer
  static fromFd(this: unknown, fd: FdLike, options?: { adopt?: boolean | undefined; clock?: TimerClock | undefined }): Timer {
    const n = toFd(fd)
    const adopt = toAdopt(options, fd, ['clock'])
    const given = options?.clock === undefined ? undefined : toClock(options.clock, 'options.clock')
    const kind = native.fdKind(n)
    if (typeof kind === 'number') throw fdKindError(kind, n)
    if (kind !== 'timerfd' && kind !== 'unknown') throw wrongFdKind(n, 'a timerfd', kind)
    // Read before the dup, which may take the last free fd number: out of
    // fds, the read is an error, not "the kernel does not say" (s46-diff M1).
    const id = native.timerfdClockId(n)
    if (id !== null && id < 0) throw fdKindError(id, n)
    const reported = clockName(id)
    if (given !== undefined && reported !== null && given !== reported) {
      throw invalidArgValue('options.clock', given, `is not the clock of fd ${n}, which /proc/self/fdinfo reports as '${reported}'`)
    }
    // 'unknown' (no /proc): its own fstat identity, as in eventfd.ts.
    const h = native.fdHandleFrom(n, adopt, kind !== 'unknown', true)
    if (typeof h === 'number') throw fromFdError(h, n)
    const t = timers.construct(Timer, this, { h, clock: reported ?? given ?? 'monotonic' })
    // An adopted number is the caller's too (FdCore.share).
    if (adopt) Timer.#of(t).share()
    return t
  }

  /** The core of `t`, after the brand check (a private method would fail its own, less clearly). */
  static #of(t: Timer): FdCore<bigint> {
    if (typeof t !== 'object' || t === null || !(#core in t)) throw invalidThis('Timer')
    return t.#core
  }

  /**
   * The fd number, or -1 after `close()` (as `fs.promises.FileHandle.fd`),
   * and -1 once the fd was found closed outside the package.
   */
  get fd(): number {
    const core = Timer.#of(this)
    // The number may now be closed by other code (FdCore.share).
    core.share()
    return core.fd
  }

  /**
   * Whether `close()` has been called, or the fd was found closed outside
   * the package (calls then throw `EBADF`).
   */
  get closed(): boolean {
    return Timer.#of(this).closed
  }

  /** How many waits are pending in this environment. */
  get pending(): number {
    return Timer.#of(this).pending
  }

  /** The clock: `'monotonic'`, `'realtime'`, `'boottime'`, `'realtime-alarm'` or `'boottime-alarm'`. */
  get clock(): TimerClock {
    Timer.#of(this)
    return this.#clock
  }

  #flags(options: unknown): number {
    if (options === undefined) return 0
    const o = toOptions(options, 'options', ['absolute', 'cancelOnSet'])
    const absolute = toBool(o.absolute, 'options.absolute', false)
    const cancel = toBool(o.cancelOnSet, 'options.cancelOnSet', false)
    let flags = absolute ? native.TFD_TIMER_ABSTIME : 0
    if (cancel) {
      // The kernel silently ignores the flag otherwise; say so instead.
      if (!absolute || !this.#clock.startsWith('realtime')) {
        throw invalidArgValue('options.cancelOnSet', cancel, "needs absolute: true and a 'realtime' or 'realtime-alarm' clock")
      }
      flags |= native.TFD_TIMER_CANCEL_ON_SET
    }
    return flags
  }

  /**
   * Refuses an absolute time within a year of `Date.now()` on a clock that
   * is not realtime when it is also decades ahead of the timer's own clock:
   * the monotonic and boottime clocks count from boot, so such a value (a
   * `Date.now()` deadline) armed the timer about 56 years ahead, silently
   * (s39-types M3). Both tests, because a wall clock near the epoch (no RTC
   * before NTP, or fake timers' `Date.now()` of 0) is near the boot clock,
   * and its own values must pass (s39-diff M1).
   */
  #checkAbsolute(flags: number, ms: number, name: string, value: unknown): void {
    if ((flags & native.TFD_TIMER_ABSTIME) === 0 || this.#clock.startsWith('realtime')) return
    if (Math.abs(ms - Date.now()) < YEAR_MS && ms - Number(clockNow(NOW_IDS[this.#clock])) / 1e6 > 10 * YEAR_MS) {
      throw invalidArgValue(name, value, `is on the wall-clock scale of Date.now(), but a '${this.#clock}' timer's absolute times are on its own clock: pass timer.now() + delay`)
    }
  }

  /**
   * The current value of the timer's clock in milliseconds (fractional), on
   * the scale of `set(initialMs, …, { absolute: true })`: the monotonic
   * clock is not `performance.now()`, whose zero is this process's start.
   * Reads the clock, not the fd, so it works after `close()` too. An alarm
   * clock reads its base clock (`CLOCK_REALTIME`, `CLOCK_BOOTTIME`), the same
   * time, which also works on a machine with no real-time clock device.
   * @see https://man7.org/linux/man-pages/man2/clock_gettime.2.html
   * @example
   * ```ts
   * timer.set(timer.now() + 5000, 0, { absolute: true }) // in 5 s
   * ```
   */
  now(): number {
    Timer.#of(this)
    const ns = clockNow(NOW_IDS[this.#clock])
    return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6
  }

  /**
   * `now()` in nanoseconds, as a bigint: the scale of `setNs(…, { absolute: true })`.
   * @see https://man7.org/linux/man-pages/man2/clock_gettime.2.html
   */
  nowNs(): bigint {
    Timer.#of(this)
    return clockNow(NOW_IDS[this.#clock])
  }

  /**
   * Arms the timer: the first expiration after `initialMs` milliseconds (or,
   * with `absolute`, at that value of the timer's clock in ms, which
   * {@link Timer.now | `now()`} reads: `Date.now()`'s scale only for a
   * realtime clock, and never `performance.now()`'s, whose zero is this
   * process's start), then every
   * `intervalMs` (0, the default: one-shot). `initialMs` 0 disarms, and
   * with a non-zero `intervalMs` is refused (the kernel would disarm, and
   * the interval never start). A
   * positive time is at least 1 ns, never 0. Times up to 2^63 seconds (the
   * kernel's `time_t`) are taken; beyond about 292 years (`KTIME_MAX`) the
   * kernel treats them all as "never". Re-arming does not settle pending
   * waits: they wait for the new schedule. Expirations not yet read are
   * discarded (the kernel resets the count, as it does for Python): take
   * them first with {@link Timer.tryWait | `tryWait()`} to count them.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE`; `ERR_INVALID_ARG_VALUE` for
   * an `initialMs` of 0 with a non-zero `intervalMs`, for
   * `cancelOnSet` where the kernel would ignore it, an unknown option, or
   * an absolute time within a year of `Date.now()` and decades ahead of the
   * timer's own clock, on a clock that is not realtime (a `Date.now()`
   * deadline, which would fire decades later).
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a negative or non-finite
   * time, or one of 2^63 seconds or more.
   * @throws {Error} `ERR_USE_AFTER_CLOSE` after `close()`; `EBADF` once the
   * fd was closed outside the package and a call failed (until then a
   * number reused by another timerfd is set as this one: only `close()`
   * checks before it acts; README, "Errors"); `ECANCELED` (the kernel's) from a
   * `set()` with `cancelOnSet` whose clock jumped since the timer's last
   * read: the jump is reported here, once, and the new setting *is* armed
   * all the same (timerfd_settime(2)), as in Python.
   * @see https://man7.org/linux/man-pages/man2/timerfd_settime.2.html
   */
  set(initialMs: number, intervalMs: number = 0, options?: TimerSetOptions): void {
    const core = Timer.#of(this)
    const initial = toTime(initialMs, 'initialMs', true)
    const interval = toTime(intervalMs, 'intervalMs', true, 0)
    if (initial === 0 && interval !== 0) throw disarmsInterval('initialMs', initialMs, 'intervalMs')
    const flags = this.#flags(options)
    if (flags !== 0) this.#checkAbsolute(flags, initialMs, 'initialMs', initialMs)
    if (core.fd < 0) throw core.unusable('timerfd_settime')
    const r = native.timerfdSetMs(core.fd, flags, initial, interval)
    if (r < 0) throw core.fail(r, 'timerfd_settime')
  }

  /**
   * `set()` in nanoseconds: safe integers or bigints, 0 … 2^63-1. As
   * `set()`, it discards expirations not yet read.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE` (as `set()`).
   * @throws {RangeError} `ERR_OUT_OF_RANGE` outside 0 … 2^63-1 (`KTIME_MAX`).
   * @throws {Error} `ERR_USE_AFTER_CLOSE`, `EBADF`, `ECANCELED` (as `set()`).
   * @see https://man7.org/linux/man-pages/man2/timerfd_settime.2.html
   */
  setNs(initialNs: bigint | number, intervalNs: bigint | number = 0n, options?: TimerSetOptions): void {
    const core = Timer.#of(this)
    const initial = toNs(initialNs, 'initialNs')
    const interval = toNs(intervalNs, 'intervalNs', 0n)
    if (initial === 0n && interval !== 0n) throw disarmsInterval('initialNs', initialNs, 'intervalNs')
    const flags = this.#flags(options)
    if (flags !== 0) this.#checkAbsolute(flags, Number(initial) / 1e6, 'initialNs', initialNs)
    if (core.fd < 0) throw core.unusable('timerfd_settime')
    const r = native.timerfdSetNs(core.fd, flags, initial, interval)
    if (r < 0) throw core.fail(r, 'timerfd_settime')
  }

  /**
   * Disarms the timer. Pending waits keep waiting (for a later `set()`).
   * Expirations not yet read are discarded, as by `set()`.
   * @throws {Error} `ERR_USE_AFTER_CLOSE`, `EBADF` (as `set()`).
   * @see https://man7.org/linux/man-pages/man2/timerfd_settime.2.html
   */
  disarm(): void {
    const core = Timer.#of(this)
    if (core.fd < 0) throw core.unusable('timerfd_settime')
    const r = native.timerfdSetMs(core.fd, 0, 0, 0)
    if (r < 0) throw core.fail(r, 'timerfd_settime')
  }

  /**
   * The time to the next expiration and the interval, in milliseconds
   * (`remaining` 0: disarmed, as a one-shot timer is once it has expired,
   * its expiration read or not; or, with an interval of a few ns, due now).
   * `remaining` is relative even for an absolute timer.
   * @throws {Error} `ERR_USE_AFTER_CLOSE`, `EBADF` (as `set()`).
   * @see https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html
   */
  get(): TimerSetting<number> {
    const core = Timer.#of(this)
    if (core.fd < 0) throw core.unusable('timerfd_gettime')
    const r = native.timerfdGetMs(core.fd)
    if (typeof r === 'number') throw core.fail(r, 'timerfd_gettime')
    return { remaining: r[0], interval: r[1] }
  }

  /**
   * `get()` in nanoseconds, as bigints.
   * @throws {Error} `ERR_USE_AFTER_CLOSE`, `EBADF` (as `set()`).
   * @see https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html
   */
  getNs(): TimerSetting<bigint> {
    const core = Timer.#of(this)
    if (core.fd < 0) throw core.unusable('timerfd_gettime')
    const r = native.timerfdGettimeNs(core.fd)
    if (typeof r === 'number') throw core.fail(r, 'timerfd_gettime')
    return { remaining: r[0], interval: r[1] }
  }

  /**
   * Waits for the next expiration; resolves with the number of expirations
   * since the last read (≥ 1n; more if ticks were missed).
   *
   * Cancel safety: an aborted wait rejects with an `AbortError` and reads
   * nothing, so its ticks go to the next wait; except a wait whose
   * expirations were already read and wait for delivery (a loop turn that
   * ran past the 10 ms fairness cut), which resolves with them, as they
   * cannot go back to the fd (see {@link Timer.close}). Never throws synchronously:
   * every failure, argument errors included, is a rejection.
   * @throws {Error} (rejects) `ECANCELED` after a clock jump under
   * `cancelOnSet` (every pending wait), `ABORT_ERR`, `ERR_USE_AFTER_CLOSE`
   * (pending waits when `close()` is called), `EBADF`; `ERR_INVALID_ARG_TYPE`,
   * `ERR_INVALID_ARG_VALUE` for bad options.
   * @example
   * ```ts
   * timer.set(1000)
   * await timer.wait({ signal: AbortSignal.timeout(5000) })
   * ```
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   * @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
   */
  async wait(options?: WaitOptions): Promise<bigint> {
    const core = Timer.#of(this)
    return core.wait(waitSignal(options))
  }

  /**
   * The expirations since the last read, or `null` if none; never waits,
   * even if another holder of the fd cleared `O_NONBLOCK` on its open file
   * description (with `preadv2(RWF_NOWAIT)`: Linux 6.10 or newer; on older
   * kernels such a peer makes it wait for the next expiration). The same
   * holds for the reads of `wait()` and `waitSync()`.
   * @throws {Error} `ECANCELED`, `ERR_USE_AFTER_CLOSE`, `EBADF`.
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   * @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
   */
  tryWait(): bigint | null {
    const core = Timer.#of(this)
    if (core.fd < 0) throw core.unusable('timerfd_read')
    const r = native.timerfdTryRead(core.fd)
    if (typeof r === 'bigint') return r
    if (r === EAGAIN) return null
    throw core.fail(r, 'timerfd_read')
  }

  /**
   * Blocks the calling thread until the next expiration, and returns the
   * expirations since the last read. For workers and scripts; never call it
   * on a thread whose event loop must keep running. It sleeps in `poll(2)` in
   * short slices, so `worker.terminate()` and `process.exit()` end it.
   * @throws {Error} `ECANCELED`, `ERR_USE_AFTER_CLOSE`, `EBADF`.
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   * @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
   */
  waitSync(): bigint {
    return Timer.#of(this).waitSync()
  }

  /**
   * Successive `wait()`s, for `for await (const ticks of timer)`. The loop
   * ends when the timer is closed; a `break` ends it without closing it. To
   * end it on a signal (a daemon's shutdown), iterate
   * {@link Timer.iterate | `iterate({ signal })`}.
   */
  [Symbol.asyncIterator](): FdIterator<bigint> {
    return Timer.#of(this).iterate()
  }

  /**
   * Successive `wait()`s as `for await (const ticks of timer)` makes them,
   * each passed `options.signal`: an abort throws its `AbortError` out of the
   * loop (as `timers/promises` `setInterval()` does), reads nothing (the
   * ticks go to the next wait), and ends the iterator; the timer stays open
   * and armed. A listener is on the signal only while a `next()` is pending.
   * @throws {Error} `ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE` for bad
   * options; `ERR_INVALID_THIS`.
   * @example
   * ```ts
   * timer.set(1000, 1000)
   * try {
   *   for await (const ticks of timer.iterate({ signal: AbortSignal.timeout(10_000) })) tick(ticks)
   * } catch (e) {
   *   if ((e as Error).name !== 'AbortError') throw e // the 10 s are up
   * }
   * ```
   * @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
   */
  iterate(options?: WaitOptions): FdIterator<bigint> {
    const core = Timer.#of(this)
    return core.iterate(waitSignal(options))
  }

  /**
   * Closes the fd. Pending waits reject with `ERR_USE_AFTER_CLOSE` (async
   * iterators end instead), except one whose expirations were already read
   * and wait for delivery (a loop turn that ran past the 10 ms fairness
   * cut): it still resolves with them, as they cannot go back to the fd.
   * Idempotent, and never throws (but for a foreign `this`). Later calls
   * throw `ERR_USE_AFTER_CLOSE`.
   *
   * If the fd was closed outside the package (`fs.closeSync(timer.fd)`), its
   * number may now belong to another file: `close()` (and garbage
   * collection) then forgets the number instead of closing it, checked with
   * one `fstat` (device, inode and type), and against the package's record
   * of which object owns each number it opened (so a number reused by a
   * newer `Timer`, `EventCounter` or low-level {@link timerfdCreate} call
   * is left alone). The `fstat` alone cannot tell a timerfd from another
   * timerfd, eventfd or epoll fd (they share one inode); once the timer's
   * number was read (`fd`, `util.inspect`, `fromFd` with `adopt`), the kind
   * `/proc/self/fdinfo` reports is compared too (where it cannot be read,
   * for want of an fd number or of `/proc`, `timerfd_gettime` tells a
   * timerfd), so an eventfd or libuv's epoll or inotify fd on a reused
   * number is left alone. Another timerfd opened outside the package may
   * still be closed.
   * @see https://man7.org/linux/man-pages/man2/close.2.html
   */
  close(): void {
    Timer.#of(this).close()
  }

  /** Same as `close()`, so `using timer = new Timer()` closes at scope exit. */
  [Symbol.dispose](): void {
    Timer.#of(this).close()
  }

  /** Lets a pending wait keep the process alive (the default). Returns `this`. */
  ref(): this {
    Timer.#of(this).setRef(true)
    return this
  }

  /** Lets the process exit even while a wait is pending. Returns `this`. */
  unref(): this {
    Timer.#of(this).setRef(false)
    return this
  }

  /** Whether a pending wait keeps the process alive. */
  hasRef(): boolean {
    return Timer.#of(this).refed
  }

  /** `Timer { fd: 12, closed: false, clock: 'monotonic', pending: 0, ref: true }`, or `Timer { fd: -1, closed: true, clock: 'monotonic' }` (`Timer {}` for a foreign receiver). */
  [util.inspect.custom](depth: number, options: object): string {
    if (typeof this !== 'object' || this === null || !(#core in this)) return 'Timer {}'
    const core = this.#core
    // The number is printed: it may leave the object here too (FdCore.share).
    core.share()
    const state = core.closed
      ? { fd: -1, closed: true, ...(core.lost ? { lost: true } : {}), clock: this.#clock }
      : { fd: core.fd, closed: false, clock: this.#clock, pending: core.pending, ref: core.refed }
    return shown(this, 'Timer', state, depth, options)
  }
}
