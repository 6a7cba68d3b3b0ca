/**
 * The fd-owning core shared by `EventCounter`, `Semaphore`, `Timer`,
 * `FdChannel` and `FdChannelServer`: the
 * native handle, the cached fd number, the FIFO queue of waiters over one
 * native watch, abort, close, `ref()`/`unref()`, the async iterator, and the
 * sync wait (docs/design.md, "Waiting on the event loop").
 *
 * Rules it keeps:
 * - A value is read from the fd only for a waiter that is at the head of the
 *   queue at that moment, in the watch's callback or in the first call: an
 *   aborted or returned waiter is removed first, so it never consumes a token.
 * - Every waiter settles exactly once: with a value, an `AbortError`, the
 *   use-after-close error, or the OS error of a failed read (a socket's
 *   read error settles only the waiter at the head: `SocketPolicy`).
 * - The watch is started only while someone waits (the native side then pins
 *   the callback, and so this object), and stopped when the queue empties.
 * - A value taken at a fairness cut is held for its waiter until delivered,
 *   and the waiter counts as pending. Where the value can go back to the fd
 *   (an eventfd's count: `GiveBack`), an abort or `close()` before the
 *   delivery gives it back and rejects; a timer's expirations, a message or
 *   a connection cannot go back, and are delivered whatever comes.
 * Not part of the public API (only what src/index.ts re-exports is).
 * @module
 */
import { performance } from 'node:perf_hooks'
import { native } from './binding'
import { AbortError, abortErrorOf, describeReturned, errnoError, illegalConstructor, invalidReturn, invalidThis, useAfterClose, type ErrnoError } from './errors'
import { unlisten } from './validate'
import { after, cancelAfter, later } from './timers'

/** The native fd handle (an `External`). */
export type Handle = ReturnType<typeof native.fdHandleFrom> & object
type Watch = Exclude<ReturnType<typeof native.watchOpen>, number>

/**
 * A non-blocking read of `fd`: a value, `undefined` for "nothing yet"
 * (`EAGAIN`); throws on error. `fd` is the public number for a direct call,
 * and the watch's private dup when the watch fired.
 */
export type Read<T> = (fd: number) => T | undefined

/**
 * What a socket (`FdChannel`, `FdChannelServer`) changes in its `FdCore`:
 * - a read error settles only the waiter at the head of the queue (one bad
 *   message or connection; the socket stays usable), and a watch error is
 *   read through first (`#onError`), where a counter's fails every waiter;
 * - its iterators also end, rather than throw, on `endCodes` (the peer is
 *   gone);
 * - `onShutdown` runs on close or loss, after the waiters were rejected,
 *   with the error they got (the owner's other pending work gets it too).
 */
export interface SocketPolicy {
  readonly endCodes: ReadonlySet<string>
  readonly onShutdown: (err: Error) => void
}

/**
 * Gives a value taken from the fd back to it (an eventfd: writes the count a
 * take read, or the 1 an acquire read); false if the write failed. For a
 * value taken at a fairness cut whose waiter is aborted, or whose object is
 * closed, before the delivery ({@link FdCore.close}).
 */
export type GiveBack<T> = (fd: number, value: T) => boolean

interface Waiter<T> {
  resolve(value: T): void
  reject(error: unknown): void
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  /** The token of the iterator's `next()` call this waiter serves, if any. */
  iter: object | undefined
  /** Its neighbours in its object's queue of waiters. */
  prev: Waiter<T> | undefined
  next: Waiter<T> | undefined
  /** Whether a value was taken for it at a fairness cut (`value`) and is not yet delivered: it is on its object's deferred list. */
  held: boolean
  value: T | undefined
}

/**
 * The async iterator of a waiting object (`for await (const v of timer)`,
 * `timer[Symbol.asyncIterator]()`): `next()` resolves with each value, and
 * with `{ done: true, value: undefined }` once the object is closed or
 * `return()` was called. Assignable to `AsyncIterableIterator<T>`.
 */
export interface FdIterator<T> extends AsyncIterator<T, undefined, undefined> {
  /**
   * The next value; `{ done: true, value: undefined }` once the object is
   * closed or the iterator ended. An iterator made by `iterate({ signal })`
   * rejects its pending calls with an `AbortError` when the signal aborts
   * (one not yet pending rejects the same way), then is done.
   */
  next(): Promise<IteratorResult<T, undefined>>
  /** Ends the iterator: pending `next()` calls that have not taken a value resolve done. */
  return(): Promise<IteratorResult<T, undefined>>
  /** Ends the iterator as `return()` does, and rejects with `err`. */
  throw(err?: unknown): Promise<IteratorResult<T, undefined>>
  /** The iterator itself. */
  [Symbol.asyncIterator](): FdIterator<T>
}

/** Only this module makes iterators: `new` on their class from outside throws `ERR_ILLEGAL_CONSTRUCTOR`. */
const iteratorToken = Symbol('WaitIterator')

/**
 * Fairness. A wait that finds its value at once resolves without a trip
 * through the event loop, so a loop of such awaits (a semaphore with permits
 * to spare, a timer whose loop body outlasts its interval, a channel a peer
 * floods) would run in one turn and starve timers and I/O. Once such
 * resolutions have gone on for {@link FAST_RUN_MS} in one turn, the next is
 * deferred by two `setImmediate` hops, which let the loop turn, timers
 * included. The clock is read
 * once a turn and then every 8th such resolution, so the fast path pays
 * about nothing (docs/design.md, "Waiting on the event loop"). The clock is
 * monotonic: with `Date.now`, a step back of the wall clock (NTP,
 * `settimeofday`) in the middle of a run kept the loop from turning for as
 * long as the step. Taken at load from `node:perf_hooks`: under Node, fake
 * timers (Sinon, Jest, Vitest) replace the global `performance` object, not
 * this function, before or after load. Bun's `jest.useFakeTimers()` freezes
 * this clock as well (and `Date.now`): runs are then not cut, as before.
 */
const FAST_RUN_MS = 10
let fastRun = 0
let fastSince = 0
/**
 * Whether this turn's run has been cut. The cut is shared: once one object
 * defers, every object's ready resolutions defer until the loop turns. Per
 * object, each of N objects with values ready went on until its own next
 * clock read (8 resolutions each; 64 timers held a `setTimeout(0)` 535 ms:
 * mem36 H1).
 */
let cut = false
const newTurn = (): void => void ((fastRun = 0), (cut = false))

/** Counts one ready resolution of this turn (the first reads the clock and schedules the turn's reset). */
function countReady(): void {
  if (fastRun++ === 0) {
    later(newTurn)
    fastSince = clock()
  }
}

/** Whether the turn's run may go on: not cut, and under {@link FAST_RUN_MS} at the clock read of every 8th resolution; else it is cut. */
function runGoesOn(): boolean {
  if (cut) return false
  if ((fastRun & 7) !== 0 || clock() - fastSince < FAST_RUN_MS) return true
  cut = true
  return false
}

/**
 * The fairness rule for an async call that is not a wait of an `FdCore` but
 * may find its result at once in a loop: `lockFile` whose first try locks,
 * `FdChannel.connect` to a server that accepts at once. `undefined` while
 * the turn's run goes on, else a promise to await first, settled two
 * `setImmediate` hops later, as a cut wait's value is delivered. A loop of
 * `await lockFile(p)` + a sync job + `release()` never let the loop turn:
 * its SIGTERM handler, timers and I/O waited for good (s46-proc M1). The
 * caller awaits it and returns its own value, so its return is always the
 * value, never a promise of it. Each cut's loop turn also runs the Node-API
 * finalizers that the run left pending (about 1 ms after 1,500 locks): work
 * done later anyway, but now inside such a loop (docs/bench-floor.md).
 */
export function fairTurn(): Promise<void> | undefined {
  countReady()
  if (runGoesOn()) return undefined
  return new Promise<void>((resolve) => later(() => later(resolve)))
}
/** `performance.now` from `node:perf_hooks`, bound at load (see {@link FAST_RUN_MS}); also the clock of {@link FdCore.pauseEnded}. */
export const clock: () => number = performance.now.bind(performance)

/** How long one slice of a sync wait blocks in `poll(2)` before JS runs again (ms). */
const SYNC_SLICE_MS = 20

/**
 * The shared core. Not exported from the package: each public class holds
 * one in a `#private` field.
 * @param socket - undefined for a counter or timer; see {@link SocketPolicy}.
 */
export class FdCore<T> {
  /** The fd number, or -1 once closed or lost. */
  fd: number
  /** Whether the fd was found closed behind the object's back. */
  lost = false
  /**
   * Whether the fd may have reached another process: its number was read
   * (the `fd` getter, which every way of passing it goes through, or
   * `util.inspect`, which prints it) or the object came from `fromFd`. Such an fd is read with a read that never
   * waits (`preadv2(RWF_NOWAIT)`), because a peer sharing the open file
   * description can clear its `O_NONBLOCK`; an fd that never left the
   * process keeps the cheaper `read(2)` (docs/reliability.md, "A peer that
   * clears O_NONBLOCK"). Set through {@link FdCore.share}.
   */
  shared = false
  #h: Handle | undefined
  #lostError: ErrnoError | undefined
  readonly #owner: string
  #read: Read<T>
  /**
   * The waiters in arrival order: a doubly linked list through the waiters
   * themselves (`prev`/`next`), so that adding, removing (an abort) and
   * taking the head (a grant) are O(1) however many wait. With an array,
   * `indexOf` + `splice` per abort and `shift()` per grant made 40,000
   * aborts take 0.7 s and 40,000 grants 0.4–0.6 s (s40-eventfd LOW-4).
   */
  #head: Waiter<T> | undefined
  #tail: Waiter<T> | undefined
  #size = 0
  #watch: Watch | undefined
  /** The watch's private dup, read when the watch fires. */
  #watchFd = -1
  #started = false
  #refed = true
  /**
   * The watch's callback, held here on purpose: a stopped watch holds it
   * only weakly (rt/watch.rs), so without this field a GC between two waits
   * collects it and the next wait never wakes (event-counter.spec pins it).
   */
  readonly #onFire: (errno?: number) => void
  readonly #socket: SocketPolicy | undefined
  /**
   * Typed without `T`, so that an `FdCore<T>` stays assignable to
   * `FdCore<unknown>` (channel.ts's error helpers take one); it is only
   * passed values of this core's own reads.
   */
  readonly #giveBack: ((fd: number, value: unknown) => boolean) | undefined
  /**
   * The waiters whose values were taken at a fairness cut, in call order,
   * until the deferred delivery; undefined when none. While there are some,
   * a ready value joins them rather than resolving at once: a later call
   * settled before an earlier one (diff35 L4). One deferred drain delivers
   * them all, so a stream of ready awaits never stays on the deferred path.
   * A waiter given back meanwhile (`held` false) is skipped.
   */
  #deferred: Waiter<T>[] | undefined
  /** How many waiters on {@link FdCore.#deferred} still hold their value; they count in `pending`. */
  #held = 0
  /** The timer that ends a {@link FdCore.pause}; undefined when not paused. */
  #paused: ReturnType<typeof setTimeout> | undefined
  /** When the last {@link FdCore.pause} ended ({@link clock}), on time or cut short; 0 before any. */
  #pauseEnded = 0

  /**
   * @param h - the handle that owns the fd.
   * @param owner - the class name, for errors (`"Semaphore was closed"`).
   * @param read - the non-blocking read a waiter is settled with.
   * @param socket - a socket's policy ({@link SocketPolicy}); none for a counter.
   * @param giveBack - how a value taken at a fairness cut goes back to the fd
   * ({@link GiveBack}); none where it cannot (a timer, a socket).
   */
  constructor(h: Handle, owner: string, read: Read<T>, socket?: SocketPolicy, giveBack?: GiveBack<T>) {
    this.#h = h
    this.fd = native.fdHandleFd(h)
    this.#owner = owner
    this.#read = read
    this.#onFire = (errno) => this.#fire(errno)
    this.#socket = socket
    this.#giveBack = giveBack as ((fd: number, value: unknown) => boolean) | undefined
  }

  /** Whether `close()` ran or the fd was lost. */
  get closed(): boolean {
    return this.fd < 0
  }

  /** Whether a {@link FdCore.pause} is under way. */
  get paused(): boolean {
    return this.#paused !== undefined
  }

  /** When the last {@link FdCore.pause} ended ({@link clock}): on time, or cut short as the last waiter left or the fd closed; 0 before any. */
  get pauseEnded(): number {
    return this.#pauseEnded
  }

  /** Waits pending in this environment: queued, or holding a value taken at a fairness cut. */
  get pending(): number {
    return this.#size + this.#held
  }

  /**
   * The error for a call on a closed object: `ERR_USE_AFTER_CLOSE`, or, once
   * the fd was lost, the `EBADF` that found it out, again.
   */
  unusable(_syscall?: string): Error {
    const lost = this.#lostError
    if (lost === undefined) return useAfterClose(this.#owner)
    const err = errnoError(-9, lost.syscall)
    err.message = lost.message
    return err
  }

  /**
   * Whether the fd is open and still this object's (one `fstat`, as
   * {@link FdCore.fail} checks): for a call that would change a file that
   * reused the number, made rarely (FdChannel's `SO_PASSCRED`).
   */
  owns(): boolean {
    return this.fd >= 0 && this.#h !== undefined && !native.fdHandleLost(this.#h)
  }

  /**
   * The error for a native call that returned `errno`. On any error but
   * `EAGAIN`, `ECANCELED` and `EINTR` (which our own file gives), checks
   * whether the fd was closed behind our back: `EBADF`, or `EINVAL` (what
   * an 8-byte read or write gives on a reused number whose file is short),
   * but also `EISDIR`, `ENOTCONN`, `ESPIPE`… from a file of another kind on
   * the number (s52-timer F1: a directory's `EISDIR` was reported as the
   * timer's own). If so the object gives the number up (never closing it),
   * the error is `EBADF`, and pending waits reject with it. The check is one
   * `fstat` (and an fdinfo read once the number was shared), on error paths
   * only.
   */
  fail(errno: number, syscall: string): Error {
    if (errno !== -11 && errno !== -125 && errno !== -4 && this.#h !== undefined && native.fdHandleLost(this.#h)) {
      const err = errnoError(-9, syscall)
      err.message += `: fd ${this.fd} of this ${this.#owner} was closed outside linux-fd`
      this.lost = true
      this.#lostError = err
      this.#shutdown(err)
      return err
    }
    return errnoError(errno, syscall)
  }

  /** Waits for a value; see the class docs of the owners for cancel safety. */
  wait(signal: AbortSignal | undefined, iter?: object): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.fd < 0) return reject(this.unusable('read'))
      // Reading `aborted` may run user code (a getter) that closes us.
      const aborted = signal?.aborted === true
      if (this.fd < 0) return reject(this.unusable('read'))
      if (aborted) return reject(abortErrorOf(signal))
      if (this.#size === 0) {
        let value: T | undefined
        try {
          value = this.#read(this.fd)
        } catch (e) {
          return reject(e)
        }
        if (value !== undefined) {
          countReady()
          if (this.#deferred === undefined && runGoesOn()) return resolve(value)
          const w: Waiter<T> = { resolve, reject, signal, onAbort: undefined, iter, prev: undefined, next: undefined, held: false, value: undefined }
          this.#defer(w, value)
          // Where the value can go back, an abort before the delivery gives
          // it back and rejects (see #defer); else it is delivered anyway.
          if (signal !== undefined && this.#giveBack !== undefined) this.#listen(w, signal)
          return
        }
      }
      const w: Waiter<T> = { resolve, reject, signal, onAbort: undefined, iter, prev: undefined, next: undefined, held: false, value: undefined }
      w.prev = this.#tail
      if (this.#tail === undefined) this.#head = w
      else this.#tail.next = w
      this.#tail = w
      this.#size++
      const err = this.#startWatch()
      if (err !== undefined) {
        this.#remove(w)
        return reject(err)
      }
      if (signal !== undefined) this.#listen(w, signal)
    })
  }

  /**
   * Listens for `signal`'s abort, which takes `w` out of the queue, or gives
   * back the value it holds, and rejects it with an `AbortError`.
   */
  #listen(w: Waiter<T>, signal: AbortSignal): void {
    const onAbort = (): void => {
      if (this.#drop(w)) w.reject(abortErrorOf(signal))
    }
    w.onAbort = onAbort
    // A signal whose addEventListener or `aborted` getter throws must
    // not leave this waiter queued: its promise would reject while the
    // started watch kept the process alive for good (issue 13 item 7).
    try {
      signal.addEventListener('abort', onAbort, { once: true })
      // The listener may have been added too late (aborted synchronously
      // by addEventListener itself), or the object closed meanwhile.
      if (signal.aborted) onAbort()
    } catch (error) {
      if (this.#drop(w)) w.reject(error)
    }
  }

  /**
   * Cancels `w`: out of the queue, or its held value given back (then
   * unlistened). False if it is neither queued nor holding a value that
   * could go back: it is settled, or its value will be delivered.
   */
  #drop(w: Waiter<T>): boolean {
    if (this.#remove(w)) return true
    const given = this.#giveUp(w)
    if (given === 'back') {
      this.#unlisten(w)
      return true
    }
    // The give-back found the fd closed behind our back (the handle has
    // forgotten the number): the object learns it now, as from a failed
    // call, so that no later call uses a number that may name another file
    // (s51-diff L2: add() wrote into one). `w`'s value is delivered.
    if (given === 'lost') this.fail(-9, 'eventfd_write')
    return false
  }

  /**
   * Gives the value `w` holds back to the fd, if it can go back: the
   * object's fd is still its own (one `fstat`, on this rare path; a number
   * closed behind our back may name another file by now) and the write
   * succeeds. Runs no user code. `'back'` if it went back; otherwise `w`
   * keeps it, to be delivered: `'lost'` if the fd was found closed behind
   * our back (the caller decides who reports that), `'kept'` for any other
   * reason.
   */
  #giveUp(w: Waiter<T>): 'back' | 'kept' | 'lost' {
    const h = this.#h
    if (!w.held || this.#giveBack === undefined || h === undefined) return 'kept'
    if (native.fdHandleLost(h)) return 'lost'
    if (!this.#giveBack(this.fd, w.value)) return 'kept'
    w.held = false
    w.value = undefined
    this.#held--
    return 'back'
  }

  /**
   * Blocks the thread until a value can be read. Sleeps in `poll(2)` in
   * slices, returning to JS between them, so `worker.terminate()` and
   * `process.exit()` end the wait within one slice without taking anything.
   */
  waitSync(): T {
    for (;;) {
      if (this.fd < 0) throw this.unusable('read')
      const value = this.#read(this.fd)
      if (value !== undefined) return value
      const r = native.pollReadable(this.fd, SYNC_SLICE_MS)
      if (r < 0) throw this.fail(r, 'poll')
    }
  }

  /**
   * Delivers a value taken at a fairness cut a loop iteration later, after
   * any taken before it. Through two setImmediate hops: a run that began in
   * the timers or poll phase is cut before this iteration's check phase, and
   * one hop resumed it there, so the next timers phase came only after a
   * second 10 ms run (setTimeout(0) waited 20 ms; user34 L7). The second hop
   * always lands after a timers phase.
   *
   * Until then `w` holds the value and is pending. Such a wait was neither
   * queued nor pending, and had no abort listener, so `close()` and an abort
   * missed it: it resolved after them, with a permit that could not go back
   * or a count taken from a counter other fds share (s51-efd HIGH). Where
   * the value can go back ({@link GiveBack}), they now give it back and
   * reject. The read is not put off to the delivery instead (queue at the
   * cut, read two hops later): a take gets the count at its call, and
   * `add(1); take(); add(1); take()` at a cut would then give the first
   * take 2 and leave the second waiting (mutants.spec, diff35b M1).
   */
  #defer(w: Waiter<T>, value: T): void {
    w.held = true
    w.value = value
    this.#held++
    if (this.#deferred !== undefined) {
      this.#deferred.push(w)
      return
    }
    const list = [w]
    this.#deferred = list
    later(() =>
      later(() => {
        // Cleared after the loop: a listener's removal below is user code,
        // and a close() there must find the values still held to give them
        // back; a ready wait called there joins the list, and is delivered
        // by this loop, in call order.
        for (const d of list) {
          if (!d.held) continue
          const v = d.value as T
          d.held = false
          d.value = undefined
          this.#held--
          // Settled, then unlistened, as in #drain.
          d.resolve(v)
          this.#unlisten(d)
        }
        this.#deferred = undefined
      }),
    )
  }

  /**
   * An async iterator of successive waits; it ends on close or `return()`,
   * and each wait takes `signal` (an abort rejects, then ends it).
   */
  iterate(signal?: AbortSignal): FdIterator<T> {
    return new WaitIterator(iteratorToken, this, signal)
  }

  /** Whether a wait's rejection ends an iterator (`done`) rather than failing it. */
  endsIterator(err: unknown): boolean {
    const code = (err as { code?: unknown } | null | undefined)?.code
    return code === 'ERR_USE_AFTER_CLOSE' || this.#socket?.endCodes.has(code as string) === true
  }

  /**
   * Removes the queued waiters of the given `next()` calls (their tokens),
   * so they consume nothing, and calls `done` with each removed token. A
   * call not in the queue has already taken its value, which it delivers.
   */
  endIterator(tokens: ReadonlyMap<object, unknown>, done: (token: object) => void): void {
    for (const w of this.#waiters()) {
      if (w.iter !== undefined && tokens.has(w.iter) && this.#remove(w)) done(w.iter)
    }
  }

  /** Lets a pending wait keep the process alive, or not. */
  setRef(refed: boolean): void {
    this.#refed = refed
    if (this.#watch !== undefined) native.watchRef(this.#watch, refed)
    if (this.#paused !== undefined) (refed ? this.#paused.ref() : this.#paused.unref())
  }

  /**
   * Stops watching for `ms` milliseconds, then watches again if someone
   * still waits. For a read that failed for want of a resource that the
   * fd's readiness does not bring back: a listening socket stays readable
   * while `accept4` fails with `EMFILE`, so the level-triggered watch would
   * call it again at once, forever. Waiters stay queued; the timer keeps
   * the process alive only as the watch would (`ref()`/`unref()`), and
   * `close()`, or the last waiter leaving, cancels it. A pause already under
   * way is kept as it is.
   */
  pause(ms: number): void {
    if (this.#paused !== undefined || this.fd < 0) return
    this.#stopWatch()
    // Also with nobody queued yet: the first try of a wait reads before it
    // queues (s41-diff2 L1: without the pause, the watch read again at once
    // and the first pause was the second step). The waiter that queues next
    // finds the pause; if it leaves, `#stopWatch` ends the pause.
    const timer = after(() => {
      this.#paused = undefined
      this.#pauseEnded = clock()
      if (this.#size === 0 || this.fd < 0) return
      const err = this.#startWatch()
      if (err !== undefined) this.#failAll(err)
    }, ms)
    if (!this.#refed) timer.unref()
    this.#paused = timer
  }

  /** Whether a pending wait keeps the process alive. */
  get refed(): boolean {
    return this.#refed
  }

  /** The native handle, for owners that need it (undefined once closed). */
  get handle(): Handle | undefined {
    return this.#h
  }

  /**
   * Closes the fd (idempotent, never throws). Pending waits reject with the
   * use-after-close error; iterators end. True if this call closed it.
   */
  /**
   * Marks the fd as known outside the object ({@link FdCore.shared}), and
   * the first time has the binding record what fdinfo says of it (one
   * read): every eventfd, timerfd and epoll fd has the same `fstat`
   * identity, so without it a number that JS closed and libuv reused for a
   * new worker's epoll fd was closed by `close()`, and the process aborted
   * (s51-eventfd MED-2). Nothing once closed or lost (-1 reaches nobody,
   * and `shared` then stays what it was: a `Permit` reads it).
   */
  share(): void {
    if (this.shared || this.fd < 0 || this.#h === undefined) return
    this.shared = true
    native.fdHandleShare(this.#h)
  }

  close(): boolean {
    const h = this.#h
    if (h === undefined) return false
    // Values taken at a fairness cut and not yet delivered go back while the
    // fd is still ours; their waiters then reject as the queued ones do.
    // Writes only, no user code: nothing can change the list meanwhile.
    let back: Waiter<T>[] | undefined
    if (this.#held > 0) {
      back = []
      // A loss found here is close()'s own to report (below).
      for (const w of this.#deferred!) if (this.#giveUp(w) === 'back') back.push(w)
    }
    this.#h = undefined
    // Built only when someone waits: an Error captures a stack, which made
    // create+close 3.5x slower than the old build (bench/instructions.js).
    let err: Error | undefined
    if (native.fdHandleClose(h) < 0) {
      // The number no longer names our file (JS closed it, and it may have
      // been reused): it was forgotten, not closed. Pending waits learn why.
      const lost = errnoError(-9, 'close')
      lost.message += `: fd ${this.fd} of this ${this.#owner} was closed outside linux-fd`
      this.lost = true
      this.#lostError = lost
      err = lost
    }
    this.#shutdown(err, back)
    return true
  }

  /** Gives the fd up, and rejects the queued waiters and those whose held values went `back` (first: they were called earlier). */
  #shutdown(err: Error | undefined, back?: Waiter<T>[]): void {
    this.fd = -1
    this.#endPause()
    if (this.#watch !== undefined) {
      native.watchClose(this.#watch)
      this.#watch = undefined
      this.#watchFd = -1
      this.#started = false
    }
    const queue = back === undefined || back.length === 0 ? this.#takeAll() : [...back, ...this.#takeAll()]
    const socket = this.#socket
    if (queue.length === 0 && socket === undefined) return
    const error = err ?? useAfterClose(this.#owner)
    for (const w of queue) {
      // Settled, then unlistened, as in #drain (s40-diff3 L3).
      w.reject(error)
      this.#unlisten(w)
    }
    socket?.onShutdown(error)
  }

  /**
   * Makes the watch now (its private dup of the fd and its poll handle),
   * not started; else the first wait that queues makes it. For an owner
   * whose reads can fail for want of fds: a watch made then would fail for
   * the same reason (`uv_poll_init` `EMFILE`), and a {@link FdCore.pause}
   * could not end (s41-diff MED-1).
   */
  openWatch(): Error | undefined {
    if (this.#watch !== undefined || this.fd < 0) return undefined
    const w = native.watchOpen(this.fd, this.#onFire)
    if (typeof w === 'number') return this.fail(w, 'uv_poll_init')
    this.#watch = w
    this.#watchFd = native.watchFd(w)
    if (!this.#refed) native.watchRef(w, false)
    return undefined
  }

  #startWatch(): Error | undefined {
    // Paused: the pause's timer starts the watch if someone still waits.
    if (this.#started || this.#paused !== undefined) return undefined
    const err = this.openWatch()
    if (err !== undefined) return err
    const r = native.watchStart(this.#watch!)
    if (r < 0) return this.fail(r, 'uv_poll_start')
    this.#started = true
    return undefined
  }

  /** Stops the watch, and ends a pause: nobody waits, or a pause begins. */
  #stopWatch(): void {
    if (this.#started && this.#watch !== undefined) native.watchStop(this.#watch)
    this.#started = false
    // Nobody waits: a pause's timer must not hold the process (s41-diff L1).
    this.#endPause()
  }

  /** Cancels a {@link FdCore.pause}'s timer, if one is pending. */
  #endPause(): void {
    if (this.#paused === undefined) return
    cancelAfter(this.#paused)
    this.#paused = undefined
    this.#pauseEnded = clock()
  }

  #remove(w: Waiter<T>): boolean {
    // Out of the queue, a waiter has no neighbours and is not the head.
    if (w.prev === undefined && this.#head !== w) return false
    this.#unlink(w)
    // Stopped first: the watch never stays started with nobody waiting.
    if (this.#size === 0) this.#stopWatch()
    this.#unlisten(w)
    return true
  }

  #unlisten(w: Waiter<T>): void {
    if (w.onAbort !== undefined) unlisten(w.signal, w.onAbort)
    w.onAbort = undefined
  }

  /** The watch saw the fd readable (or failed with `errno`). */
  #fire(errno?: number): void {
    if (errno === undefined) this.#drain()
    else if (this.#socket !== undefined) this.#onError(errno)
    else this.#failAll(this.fail(errno, 'poll'))
  }

  /** Settles waiters while values can be read; stops the watch once none wait. */
  #drain(): void {
    while (this.#size > 0 && this.fd >= 0) {
      let value: T | undefined
      try {
        value = this.#read(this.#watchFd)
      } catch (e) {
        // A counter's read error is the fd's: every waiter gets it. A
        // socket's is one message's: only the head does, unless the read
        // found the fd lost (the shutdown then settled everyone).
        if (this.#socket === undefined || this.fd < 0) return this.#failAll(e)
        const head = this.#shift()
        head.reject(e)
        this.#unlisten(head)
        continue
      }
      if (value === undefined) return
      const w = this.#shift()
      // Values taken at a fairness cut and not yet delivered go first
      // (diff35b M1). `w` then keeps its abort listener if its value can go
      // back: an abort before the delivery gives it back (#defer).
      if (this.#deferred !== undefined) {
        this.#defer(w, value)
        if (this.#giveBack !== undefined) continue
      } else w.resolve(value)
      // Settled first: a signal's removeEventListener is user code, which
      // may wait again and, the queue being empty, take the next value on
      // the fast path; settled after, that wait came first (s40-diff2 L1).
      this.#unlisten(w)
    }
    if (this.#size === 0) this.#stopWatch()
  }

  /** Takes the head out of the queue; the caller settles it, then unlistens. */
  #shift(): Waiter<T> {
    const w = this.#head!
    this.#unlink(w)
    return w
  }

  /** Takes `w`, which is in the queue, out of it. */
  #unlink(w: Waiter<T>): void {
    if (w.prev === undefined) this.#head = w.next
    else w.prev.next = w.next
    if (w.next === undefined) this.#tail = w.prev
    else w.next.prev = w.prev
    w.prev = w.next = undefined
    this.#size--
  }

  /** The waiters in order (a copy: the queue is unchanged). */
  #waiters(): Waiter<T>[] {
    const all: Waiter<T>[] = []
    for (let w = this.#head; w !== undefined; w = w.next) all.push(w)
    return all
  }

  /** Empties the queue, and returns its waiters in order. */
  #takeAll(): Waiter<T>[] {
    const all = this.#waiters()
    for (const w of all) w.prev = w.next = undefined
    this.#head = this.#tail = undefined
    this.#size = 0
    return all
  }

  /**
   * A socket's watch reported an error. libuv reports `POLLERR` as
   * `UV_EBADF`, and a socket has `POLLERR` while an error is pending on it
   * (`ECONNRESET` when the peer went leaving data unread), so unless the fd
   * really was lost, this reads: the read reports the socket's own error
   * (and clears it). The native side stops the watch before an error
   * callback (libuv has stopped its handle), so it is restarted here if
   * someone still waits. If the reads settled nobody, the error is
   * persistent: every waiter gets it.
   */
  #onError(errno: number): void {
    this.#started = false
    const err = this.fail(errno, 'poll')
    if (this.fd < 0) return
    const before = this.#size
    this.#drain()
    const left = this.#size
    // A read that paused (a server out of fds) settled nobody, but is not a
    // persistent error: the pause's timer starts the watch again (s41-diff L3).
    if (left === 0 || this.#paused !== undefined) return
    if (left === before) return this.#failAll(err)
    const e = this.#startWatch()
    if (e !== undefined) this.#failAll(e)
  }

  #failAll(err: unknown): void {
    const queue = this.#takeAll()
    this.#stopWatch()
    for (const w of queue) {
      w.reject(err)
      this.#unlisten(w)
    }
  }
}

/**
 * The async iterator of an `EventCounter`, a `Timer`, an `FdChannel`
 * (messages) or an `FdChannelServer` (connections): each `next()` waits for
 * the next value. It ends (`done: true`) when the object is closed (a lost
 * fd is an error), when a socket's peer is gone (`EPIPE`, `ECONNRESET`), or
 * when `return()` or `throw()` is called (a `break` out of `for await`),
 * without closing the object. `return()` and `throw()` also settle the
 * pending `next()` calls that are still waiting with `{ done: true }`, and
 * those consume nothing; a `next()` that has already taken its value (its
 * promise settles a microtask later) still delivers it, so no count,
 * message or fd is lost.
 */
class WaitIterator<T> implements FdIterator<T> {
  #core: FdCore<T>
  #done = false
  /** The pending `next()` calls: a token per call (its waiter's `iter`), and its resolve. */
  #pending = new Map<object, (r: IteratorResult<T, undefined>) => void>()
  /**
   * Passed to every wait, so each pending `next()` has its own listener,
   * removed when it settles: an iterator that ends leaves none behind.
   */
  #signal: AbortSignal | undefined

  constructor(key: typeof iteratorToken, core: FdCore<T>, signal: AbortSignal | undefined) {
    if (key !== iteratorToken) throw illegalConstructor()
    this.#core = core
    this.#signal = signal
  }

  /** Whether `o` is a real iterator (a foreign receiver rejects with `ERR_INVALID_THIS`). */
  static #mine(o: unknown): boolean {
    return typeof o === 'object' && o !== null && #core in o
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (!WaitIterator.#mine(this)) return Promise.reject(invalidThis('WaitIterator'))
    if (this.#done) return Promise.resolve({ value: undefined, done: true })
    // A lost fd (closed behind the object's back) is an error, not an end.
    if (this.#core.closed) {
      return this.#core.lost ? Promise.reject(this.#core.unusable('read')) : Promise.resolve({ value: undefined, done: true })
    }
    return new Promise((resolve, reject) => {
      const token = {}
      this.#pending.set(token, resolve)
      this.#core.wait(this.#signal, token).then(
        (value) => {
          this.#pending.delete(token)
          resolve({ value, done: false })
        },
        (err: unknown) => {
          this.#pending.delete(token)
          if (this.#core.endsIterator(err)) {
            this.#done = true
            resolve({ value: undefined, done: true })
          } else {
            // An abort throws out of the loop once, as a generator's throw
            // would, and the iterator is done: later next() calls resolve
            // done. The other pending calls got their own AbortError.
            if (err instanceof AbortError) this.#done = true
            reject(err)
          }
        },
      )
    })
  }

  return(): Promise<IteratorResult<T, undefined>> {
    if (!WaitIterator.#mine(this)) return Promise.reject(invalidThis('WaitIterator'))
    this.#finish()
    return Promise.resolve({ value: undefined, done: true })
  }

  throw(err?: unknown): Promise<IteratorResult<T, undefined>> {
    if (!WaitIterator.#mine(this)) return Promise.reject(invalidThis('WaitIterator'))
    this.#finish()
    return Promise.reject(err)
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  #finish(): void {
    this.#done = true
    // Only the next() calls whose waiters were still queued end here; one
    // whose read already took a value (settled, or deferred a turn by the
    // fairness rule) is no longer queued, and its then() delivers the value.
    const pending = this.#pending
    this.#core.endIterator(pending, (token) => {
      const resolve = pending.get(token)
      pending.delete(token)
      resolve?.({ value: undefined, done: true })
    })
  }
}

/**
 * How a static `fromFd` makes an instance of the class it was called on, a
 * subclass included (as `Array.from` does); one per base class. `construct`
 * leaves what `fromFd` wrapped here, keyed by the class, and runs `new C()`.
 * The first base constructor that runs with that class as its `new.target`
 * takes the value instead of making a new fd, and is recorded as its taker.
 * Whatever the subclass constructor passes `super()` is ignored.
 *
 * The object `new C()` returns must be the taker. Otherwise (the constructor
 * threw, returned another object, or made another object of its own class
 * before its `super()`, which then took the value) what was wrapped is
 * closed at once (the untaken value, or the taker), as is the object
 * returned if it was made here (not one the program already held, such as a
 * singleton), and `construct` throws: no fd waits for the garbage
 * collector, and `fromFd` never returns an object on a fresh fd in place of
 * the caller's.
 */
export class Adoption<V, T extends object> {
  #pending: Pending<V, T> | undefined
  readonly #discard: (value: V) => void
  readonly #close: (obj: T) => void

  /**
   * @param discard - closes a value no constructor took.
   * @param close - closes an object of the base class (the base's own `close`, not an override).
   */
  constructor(discard: (value: V) => void, close: (obj: T) => void) {
    this.#discard = discard
    this.#close = close
  }

  /**
   * In the base constructor, for every object it makes (`taker`, its
   * `this`): the value `construct` left for `target` (its `new.target`),
   * taken once; or undefined.
   */
  take(target: unknown, taker: T): V | undefined {
    const p = this.#pending
    if (p === undefined) return undefined
    p.made.add(taker)
    if (p.target !== target || p.taker !== undefined) return undefined
    p.taker = taker
    return p.value
  }

  /**
   * `new C()`, where `C` is `self` if it is `base` or a subclass of it (else
   * `base`: an unbound call), with `value` waiting for `base`'s constructor.
   * @throws {TypeError} `ERR_INVALID_RETURN_VALUE` if the object returned is
   * not the one that took `value`; `ERR_INVALID_THIS` for a bound subclass.
   */
  construct(base: new () => T, self: unknown, value: V): T {
    let C: new () => T
    try {
      C = classFor(base, self)
    } catch (e) {
      this.#discard(value)
      throw e
    }
    const outer = this.#pending
    const mine: Pending<V, T> = { target: C, value, taker: undefined, made: new Set() }
    this.#pending = mine
    let obj: T | undefined
    try {
      obj = new C()
    } finally {
      this.#pending = outer
      if (obj === undefined || obj !== mine.taker) {
        // Best effort on a path that throws anyway: the constructor's own
        // error, or the one below, is what the caller sees.
        try {
          if (mine.taker === undefined) this.#discard(value)
          else this.#close(mine.taker)
          // Only an object made here: a constructor may return one that the
          // program holds (a singleton, a pool's).
          if (obj !== undefined && obj !== mine.taker && mine.made.has(obj)) this.#close(obj)
        } catch {}
      }
    }
    if (obj !== mine.taker) {
      // Made here: its constructor made another of its class first, whose super() took the fd.
      const got = mine.made.has(obj) ? `another ${C.name} (the fd went to one its constructor made)` : describeReturned(obj)
      throw invalidReturn(base.name, C.name, got)
    }
    return obj
  }
}

interface Pending<V, T> {
  /** The class `fromFd` was called on. */
  target: unknown
  value: V
  /** The object whose base constructor took `value`. */
  taker: T | undefined
  /** Every object of the base class made while this was pending. */
  made: Set<T>
}

/**
 * The class `fromFd` makes for a call on `self`: `self` if it is `base` or a
 * class whose instances inherit from `base`'s prototype, else `base` (an
 * unbound call). A bound subclass has no prototype to say which class it
 * makes, yet its type says the subclass's: refused.
 */
function classFor<T extends object>(base: new () => T, self: unknown): new () => T {
  if (self === base) return base
  if (typeof self !== 'function') return base
  // Own: a bound function has none, and would read its target's parent's.
  const proto: unknown = Object.hasOwn(self, 'prototype') ? (self as { prototype: unknown }).prototype : undefined
  if (typeof proto === 'object' && proto !== null && Object.prototype.isPrototypeOf.call(base.prototype, proto)) return self as new () => T
  if (proto === undefined && Object.prototype.isPrototypeOf.call(base, self)) throw invalidThis(`${base.name} or a class extending it (not a bound function)`)
  return base
}

/**
 * Which mechanism async waits use in this environment: `'uv_poll'` (Node: a
 * `uv_poll_t` on this environment's own event loop) or `'thread'` (Bun and
 * Deno, whose `uv_*` functions are not libuv's to call: a helper thread per
 * waited fd that wakes the JS thread through a threadsafe function).
 * @see https://docs.libuv.org/en/v1.x/poll.html
 */
export function waitBackend(): 'uv_poll' | 'thread' {
  return native.waitBackend()
}
