/**
 * eventfd: Python's `os.eventfd`, `os.eventfd_read` and `os.eventfd_write`,
 * and the typed classes over it, {@link EventCounter} and {@link Semaphore}.
 * @module
 */
import { inspect } from 'node:util'
import { nameOf, shown } from './inspect'
import { native } from './binding'
import { errnoError, fdKindError, fromFdError, illegalConstructor, invalidThis, wrongFdKind } from './errors'
import { Adoption, FdCore, type FdIterator, type Handle } from './waiter'
import { EVENTFD_MAX, U64_MAX, type FdLike, type WaitOptions, toAdopt, toBigInt, toFd, toInt, toInt32, waitSignal } from './validate'

/** Close-on-exec flag for {@link eventfd} (`EFD_CLOEXEC`). Set by default. */
export const EFD_CLOEXEC: number = native.EFD_CLOEXEC
/**
 * Non-blocking flag for {@link eventfd} (`EFD_NONBLOCK`): a read at zero or a
 * write past the maximum fails with `EAGAIN` instead of blocking.
 */
export const EFD_NONBLOCK: number = native.EFD_NONBLOCK
/** Semaphore flag for {@link eventfd} (`EFD_SEMAPHORE`): each read takes 1. */
export const EFD_SEMAPHORE: number = native.EFD_SEMAPHORE

/**
 * `eventfd(initval, flags)`—Creates an eventfd counter and returns its fd, as
 * Python's `os.eventfd`. The caller owns the fd and closes it with
 * `fs.closeSync`.
 * @param initval - initial counter value, a number in 0 … 2^32-1 (as
 * Python's `os.eventfd` takes an int; a bigint is refused here, though
 * `new EventCounter(0n)` takes one).
 * @param flags - `EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE`, an int32; defaults to `EFD_CLOEXEC`.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` if `initval` or `flags` is not a number (a bigint included).
 * @throws {RangeError} `ERR_OUT_OF_RANGE` if `initval` is not an integer in 0 … 2^32-1, or `flags` not an integer in -2^31 … 2^31-1.
 * @throws {Error} `EINVAL` for unknown flags, `EMFILE`/`ENFILE` when out of fds.
 * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
 * @example
 * ```ts
 * const fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
 * eventfdWrite(fd, 3)
 * eventfdRead(fd) // 3n
 * ```
 */
export function eventfd(initval: number, flags?: number): number {
  const init = toInt(initval, 'initval', 0, 0xffffffff)
  const f = toInt32(flags, 'flags', EFD_CLOEXEC)
  const fd = native.eventfd(init, f)
  if (fd < 0) throw errnoError(fd, 'eventfd')
  return fd
}

/**
 * `eventfd_read(fd)`—Reads the counter and returns it as a bigint, as
 * Python's `os.eventfd_read`: the whole value (resetting it to 0), or 1 with
 * `EFD_SEMAPHORE`. Blocks the calling thread while the counter is 0, unless
 * the fd is non-blocking. To wait without blocking, use {@link EventCounter}
 * or {@link Semaphore}.
 * @param fd - an fd number, or an object with a numeric `fd` property.
 * @throws {Error} `EAGAIN` on a non-blocking fd at 0, `EBADF` on a closed fd,
 * `EINVAL` when fewer than 8 bytes are read. The fd is not checked to be an
 * eventfd (nor is it by Python): any file that gives 8 bytes is read as a
 * native-endian u64.
 * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
 */
export function eventfdRead(fd: FdLike): bigint {
  const r = native.eventfdRead(toFd(fd))
  if (typeof r === 'number') throw errnoError(r, 'eventfd_read')
  return r
}

/**
 * `eventfd_write(fd, value)`—Adds `value` to the counter, as Python's
 * `os.eventfd_write`. Blocks the calling thread if the sum would pass
 * 2^64-2, unless the fd is non-blocking. Any value that fits a u64 reaches
 * the kernel, which refuses 2^64-1 with `EINVAL`, as Python's does.
 * @param fd - an fd number, or an object with a numeric `fd` property.
 * @param value - a safe integer or a bigint in 0 … 2^64-1.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` if `value` is outside 0 … 2^64-1.
 * @throws {Error} `EAGAIN` on a non-blocking fd that would overflow, `EINVAL`
 * for 2^64-1 or when fewer than 8 bytes are written, `EBADF`. The fd is not
 * checked to be an eventfd (nor is it by Python): any file that takes 8
 * bytes is written.
 * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
 */
export function eventfdWrite(fd: FdLike, value: number | bigint): void {
  const n = toFd(fd)
  const r =
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
      ? native.eventfdWrite(n, value)
      : native.eventfdWriteBig(n, toBigInt(value, 'value', 0n, U64_MAX))
  if (r < 0) throw errnoError(r, 'eventfd_write')
}

const token = Symbol('linux-fd.internal')

/** `fromFd` shared by both classes: checks the fd's kind, then dups or adopts it. */
function handleFromFd(fd: unknown, options: unknown, semaphore: boolean): Handle {
  const n = toFd(fd)
  const adopt = toAdopt(options, fd)
  const kind = native.fdKind(n)
  if (typeof kind === 'number') throw fdKindError(kind, n)
  const want = semaphore ? 'eventfd-semaphore' : 'eventfd'
  if (kind !== want && kind !== 'unknown') {
    throw wrongFdKind(n, `an eventfd ${semaphore ? 'with' : 'without'} EFD_SEMAPHORE`, kind)
  }
  // Without /proc the kind is 'unknown' and the fd may be any file: its
  // identity is then read with its own fstat, not taken to be the shared
  // one of eventfds (a regular file's short read, EINVAL, was then taken
  // for a lost fd, and the dup forgotten instead of closed).
  const h = native.fdHandleFrom(n, adopt, kind !== 'unknown', true)
  if (typeof h === 'number') throw fromFdError(h, n)
  return h
}

function discard(h: Handle): void {
  native.fdHandleClose(h)
}

// The handle a `fromFd` leaves for the constructor (`Adoption`, src/waiter.ts),
// one per class; closing a stray object uses the class's own close().
const counters = new Adoption<Handle, EventCounter>(discard, (c) => EventCounter.prototype.close.call(c))
const semaphores = new Adoption<Handle, Semaphore>(discard, (s) => Semaphore.prototype.close.call(s))

function open(initial: unknown, semaphore: boolean): Handle {
  // A number as it is (no bigint made on this path); a bigint too, as the
  // count, take() and release() are bigints (user34 L6).
  const init =
    typeof initial === 'number' || initial === undefined
      ? toInt(initial, 'initial', 0, 0xffffffff, 0)
      : Number(toBigInt(initial, 'initial', 0n, 0xffffffffn))
  const h = native.eventfdOpen(init, semaphore)
  if (typeof h === 'number') throw errnoError(h, 'eventfd')
  return h
}

function count(core: FdCore<unknown>): bigint {
  if (core.fd < 0) throw core.unusable('read')
  const r = native.eventfdCount(core.fd)
  if (typeof r === 'number') throw core.fail(r, 'read')
  return r
}

function show(self: object, name: string, core: FdCore<unknown>, depth: number, options: object): string {
  // The number is printed (console.log, a log line): it may leave the
  // process from here as well as through the `fd` getter (FdCore.shared).
  // Not once closed: -1 reaches nobody, and `shared` then stays what it
  // was at close (a Permit of a closed semaphore reads it).
  core.share()
  const state: Record<string, unknown> = { fd: core.fd, closed: core.closed, pending: core.pending }
  if (!core.closed) {
    // Read without count()'s error path: there core.fail finds a number
    // closed behind the object's back, marks the object lost and rejects its
    // pending waits, so printing it changed it (and printed the state before:
    // `closed: false`; s51-efd). On an error the count is left out.
    const r = native.eventfdCount(core.fd)
    if (typeof r !== 'number') state.count = r
  }
  return shown(self, name, state, depth, options, { fd: core.fd })
}

/**
 * An eventfd counter that awaits on Node's own event loop.
 *
 * `add()` adds to the counter; `take()` waits until it is non-zero and takes
 * all of it. Any process or thread holding the fd can add or take, so it is a
 * cheap cross-process and cross-thread wake-up: pass `counter.fd` in
 * `child_process.spawn`'s `stdio` array, or post it to a worker, and call
 * `EventCounter.fromFd(fd)` there (in a child, `EventCounter.fromFd(3, {
 * adopt: true })`, so that no second copy of the inherited fd stays open).
 *
 * Waiting uses a `uv_poll` on this environment's loop: no thread is blocked
 * and libuv's threadpool is not used. Pending `take()`s on one object are
 * served first come, first served (another object on the same fd, in this
 * thread or another, is served in whatever order the kernel wakes them, as
 * another process is: s40-eventfd MED-1); `tryTake()` and `takeSync()` do not
 * queue, and take a non-zero count even while `take()`s are pending. The fd is close-on-exec and
 * non-blocking. An object that is garbage-collected without `close()` closes
 * its fd. If JS closes `counter.fd` itself, the next call throws `EBADF` and
 * the object gives the number up without ever closing it.
 * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
 * @example
 * ```ts
 * using counter = new EventCounter()
 * setTimeout(() => counter.add(2), 10)
 * console.log(await counter.take()) // 2n
 * ```
 */
export class EventCounter implements Disposable, AsyncIterable<bigint> {
  readonly #core: FdCore<bigint>

  /**
   * Creates a counter starting at `initial`.
   * @param initial - 0 … 2^32-1 (a number or a bigint), default 0.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a bad `initial`.
   * @throws {Error} `EMFILE`/`ENFILE` when out of fds.
   */
  constructor(initial?: number | bigint) {
    const adopted = counters.take(new.target, this)
    const h = adopted ?? open(initial, false)
    const core: FdCore<bigint> = new FdCore<bigint>(
      h,
      'EventCounter',
      (fd) => {
        const r = core.shared ? native.eventfdTryRead(fd) : native.eventfdRead(fd)
        if (typeof r !== 'number') return r
        if (r === -11) return undefined
        throw core.fail(r, 'eventfd_read')
      },
      undefined,
      // A count taken at a fairness cut for a take aborted or closed before
      // its delivery goes back (src/waiter.ts, #defer).
      (fd, value) => native.eventfdWriteBig(fd, value) >= 0,
    )
    if (adopted !== undefined) core.share()
    this.#core = core
  }

  /**
   * Wraps an existing eventfd made without `EFD_SEMAPHORE`, e.g. one inherited
   * from a parent process. By default the fd is duplicated with
   * `F_DUPFD_CLOEXEC`, so the object owns its own copy and the caller still
   * owns `fd`; with `{ adopt: true }` the object takes `fd` itself and sets
   * its `FD_CLOEXEC`, so a child process no longer inherits it. The open
   * file description is made non-blocking.
   *
   * Called on a subclass (`MyCounter.fromFd(fd)`), it returns an instance of
   * that subclass: its constructor runs with no arguments, and what it
   * passes `super()` is ignored (the object wraps `fd`). If that constructor
   * throws, the wrapped fd (the dup, or with `adopt` the fd itself) is
   * closed at once.
   * @throws {TypeError} `ERR_INVALID_ARG_VALUE` if `fd` is not such an eventfd.
   * @throws {TypeError} `ERR_INVALID_RETURN_VALUE` if a subclass constructor
   * returned another object, or made another object of its class before its
   * own `super()` (the wrapped fd is closed; an object the program already
   * held, such as a singleton, is left open).
   * @throws {TypeError} `ERR_INVALID_THIS` when called on a bound subclass,
   * which has no prototype to say which class it makes.
   * @throws {Error} `EBADF` if `fd` is not open.
   * @throws {Error} `EBUSY` with `{ adopt: true }` if another linux-fd object owns `fd` (the fd is left alone).
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` with `{ adopt: true }` and an object for `fd`: only a number can be adopted (the object, such as a `FileHandle`, goes on owning its fd).
   * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  static fromFd<T extends EventCounter, F extends FdLike = FdLike>(this: abstract new () => T, fd: F, options?: { adopt?: (F extends number ? boolean : false) | undefined }): T
  /** {@link EventCounter.fromFd} called unbound (or on a class whose constructor is private or takes a required argument, which fromFd would not pass): an `EventCounter`. */
  static fromFd<F extends FdLike = FdLike>(this: unknown, fd: F, options?: { adopt?: (F extends number ? boolean : false) | undefined }): EventCounter
  static fromFd(this: unknown, fd: FdLike, options?: { adopt?: boolean | undefined }): EventCounter {
    return counters.construct(EventCounter, this, handleFromFd(fd, options, false))
  }

  /** The fd number, or -1 after `close()` or once it was found closed outside the package. */
  get fd(): number {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    // The number may now reach another process (FdCore.shared); -1 cannot.
    this.#core.share()
    return this.#core.fd
  }

  /** Whether `close()` was called, or the fd was found closed outside the package. */
  get closed(): boolean {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    return this.#core.closed
  }

  /** How many waits are pending in this environment. */
  get pending(): number {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    return this.#core.pending
  }

  /**
   * The counter's current value, read without consuming it (the kernel's
   * `eventfd-count` in `/proc/self/fdinfo`). For observing only: another
   * process may change it at any moment.
   * @throws {Error} `ERR_USE_AFTER_CLOSE` after `close()`; `EBADF` if the fd
   * was closed outside the package (or `/proc` is not mounted).
   * @see https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html
   */
  get count(): bigint {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    return count(this.#core)
  }

  /**
   * Adds `value` (default 1) to the counter and wakes waiters in every
   * process and thread. Never blocks: if the counter would pass 2^64-2 it
   * throws `EAGAIN` instead. (One exception: if another holder of the fd
   * cleared `O_NONBLOCK` on its open file description, such a write waits
   * for room on the calling thread, and a worker in that wait cannot be
   * terminated, nor the process exit, until a reader makes room; the kernel
   * has no never-waiting eventfd write.)
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` unless `value` is a number or a bigint.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` unless 0 ≤ `value` ≤ 2^64-2.
   * @throws {Error} `EAGAIN` on overflow; `ERR_USE_AFTER_CLOSE` after `close()`; `EBADF` if the fd was closed outside the package and the number not reopened since (and on every later call; a file opened on the number is written to: see the README's errors).
   * @see https://man7.org/linux/man-pages/man2/write.2.html
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  add(value: number | bigint = 1): void {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    const core = this.#core
    const fd = core.fd
    if (fd < 0) throw core.unusable('eventfd_write')
    const r =
      typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
        ? native.eventfdWrite(fd, value)
        : native.eventfdWriteBig(fd, toBigInt(value, 'value', 0n, EVENTFD_MAX))
    if (r < 0) throw core.fail(r, 'eventfd_write')
  }

  /**
   * Takes the whole counter and resets it to 0, or returns `null` if it is 0.
   * Never waits, even if another process that holds the fd cleared
   * `O_NONBLOCK` on the shared open file description (as
   * `os.set_blocking(fd, True)` in Python does): once the `fd` getter was
   * read, or the object came from `fromFd`, reads use
   * `preadv2(RWF_NOWAIT)` (Linux 5.8 or newer; on older kernels such a peer
   * makes it wait for a value), which costs about 15 % more than the plain
   * `read(2)` an fd that never left the process keeps. The same holds for
   * the reads of `take()` and `takeSync()`.
   * @throws {Error} `ERR_USE_AFTER_CLOSE` after `close()`; `EBADF` if the fd was closed outside the package (and on every later call).
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  tryTake(): bigint | null {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    const core = this.#core
    if (core.fd < 0) throw core.unusable('eventfd_read')
    const r = core.shared ? native.eventfdTryRead(core.fd) : native.eventfdRead(core.fd)
    if (typeof r !== 'number') return r
    if (r === -11) return null
    throw core.fail(r, 'eventfd_read')
  }

  /**
   * Waits until the counter is non-zero, then takes all of it.
   *
   * Cancel safety: an aborted `take()` rejects with an `AbortError` and takes
   * nothing. `close()` rejects pending takes with `ERR_USE_AFTER_CLOSE`.
   * @throws {Error} (rejects) `ABORT_ERR`, `ERR_USE_AFTER_CLOSE`, or an errno error.
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  take(options?: WaitOptions): Promise<bigint> {
    try {
      if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
      return this.#core.wait(waitSignal(options))
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /**
   * Blocks the calling thread until the counter is non-zero, then takes all
   * of it. For workers and scripts; never call it on a thread whose event
   * loop must keep running. It sleeps in `poll(2)` in 20 ms slices, so
   * `worker.terminate()` and `process.exit()` end it within one slice,
   * taking nothing; signals and `close()` from another thread do not.
   * @throws {Error} `ERR_USE_AFTER_CLOSE` after `close()`; `EBADF` if the fd was closed outside the package (and on every later call).
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  takeSync(): bigint {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    return this.#core.waitSync()
  }

  /**
   * Successive `take()`s, for `for await (const n of counter)`. The loop ends
   * when the counter is closed; `break` ends it without closing the counter,
   * and settles any pending `next()` with `done`, taking nothing. To end it
   * on a signal, iterate {@link EventCounter.iterate | `iterate({ signal })`}.
   */
  [Symbol.asyncIterator](): FdIterator<bigint> {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    return this.#core.iterate()
  }

  /**
   * Successive `take()`s as `for await (const n of counter)` makes them,
   * each passed `options.signal`: an abort throws its `AbortError` out of the
   * loop (as Node's `events.on()` and `timers/promises` `setInterval()` do),
   * takes nothing, and ends the iterator; the counter stays open. The
   * iterator adds a listener to the signal only while a `next()` is pending,
   * so a loop that ends leaves none behind on a long-lived signal. More than
   * 10 loops pending on one signal (a server's shutdown signal, one loop per
   * connection) make Node warn `MaxListenersExceededWarning`, as for any
   * signal: raise the limit with `events.setMaxListeners(n, signal)`.
   * @throws {Error} `ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE` for bad
   * options; `ERR_INVALID_THIS`.
   * @example
   * ```ts
   * const ac = new AbortController()
   * process.once('SIGTERM', () => ac.abort())
   * try {
   *   for await (const n of counter.iterate({ signal: ac.signal })) handle(n)
   * } catch (e) {
   *   if ((e as Error).name !== 'AbortError') throw e
   * }
   * ```
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  iterate(options?: WaitOptions): FdIterator<bigint> {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    return this.#core.iterate(waitSignal(options))
  }

  /**
   * Closes the fd. Pending waits reject with `ERR_USE_AFTER_CLOSE` (async
   * iterators end instead). Idempotent; never throws. If the fd was closed
   * outside the package, its number may now belong to another file: `close()`
   * (and garbage collection) then forgets the number instead of closing it,
   * checked with one `fstat` (device, inode and type), and against the
   * package's record of which object owns each number it opened (so a
   * number reused by a newer `EventCounter`, `Timer` or low-level
   * {@link eventfd} call is left alone). The `fstat` alone cannot tell an
   * eventfd from another eventfd, timerfd or epoll fd (they share one
   * inode); once the object's number was read (`fd`, `util.inspect`,
   * `fromFd` with `adopt`), what `/proc/self/fdinfo` says of it is recorded
   * and compared too, so that libuv's epoll or inotify fd on a reused
   * number is left alone. An eventfd opened outside the package on a
   * kernel without `eventfd-id` in fdinfo may still be closed.
   * @see https://man7.org/linux/man-pages/man2/close.2.html
   */
  close(): void {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    this.#core.close()
  }

  /** Same as `close()`, so `using counter = new EventCounter()` closes at scope exit. */
  [Symbol.dispose](): void {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    this.#core.close()
  }

  /** Lets a pending wait keep the process alive (the default). Returns `this`. */
  ref(): this {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    this.#core.setRef(true)
    return this
  }

  /** Lets the process exit even while a wait is pending. Returns `this`. */
  unref(): this {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    this.#core.setRef(false)
    return this
  }

  /** Whether a pending wait keeps the process alive. */
  hasRef(): boolean {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('EventCounter')
    return this.#core.refed
  }

  /** `EventCounter { fd: 5, closed: false, pending: 0, count: 0n }` (`EventCounter {}` for a foreign receiver). */
  [inspect.custom](depth: number, options: object): string {
    if (typeof this !== 'object' || this === null || !(#core in this)) return 'EventCounter {}'
    return show(this, 'EventCounter', this.#core, depth, options)
  }
}

/**
 * `semaphoreTryAcquire`'s answer (1 taken, 0 none free, or a negative errno)
 * from a read that never waits, for an fd that may have left the process
 * (`FdCore.shared`).
 */
function tryAcquireShared(fd: number): number {
  const r = native.eventfdTryRead(fd)
  return typeof r !== 'number' ? 1 : r === -11 ? 0 : r
}

// Only this module makes a Permit (see its private constructor).
let makePermit: (sem: Semaphore) => Permit
// A semaphore's core: a Permit reads and writes through it, not through
// the semaphore's own members, which a subclass may override.
let coreOf: (sem: Semaphore) => FdCore<true>

/** Semaphores that already warned of a lost permit (one warning each, however many permits). */
const warned = new WeakSet<Semaphore>()

/** Whether an unreleased permit of `sem` has nothing left to go back to: the count went with the closed fd. */
function gone(sem: Semaphore): boolean {
  const core = coreOf(sem)
  return core.closed && !core.shared
}

/**
 * A permit taken from a {@link Semaphore} by `acquire()` or `acquireSync()`.
 * `release()` (or leaving a `using` scope) gives it back; releasing it twice
 * is a no-op, never an extra permit.
 *
 * Garbage collection does **not** give a permit back: one that is dropped
 * unreleased is gone, as with a raw `tryAcquire()` never followed by
 * `release()`. The count lives in the kernel and is shared with other
 * threads and processes, which must not depend on when this process
 * collects. Hold permits with `using`. Nor does the death of the process
 * or the termination of the worker that holds it (see {@link Semaphore}).
 *
 * Release permits before closing their semaphore. If the semaphore was
 * closed first and its fd never left this object, the count went with the
 * fd and `release()` does nothing. If the fd may be held elsewhere (its
 * `fd` was read or printed by `util.inspect` while open, or it came from
 * `fromFd`), the permit can no longer reach those holders: `release()`
 * emits a process warning (code `LINUX_FD_PERMIT_LOST`, once per
 * semaphore) and `released` stays false, so the loss is not silent. A warning rather than
 * an exception, as Node warns for a `FileHandle` closed by garbage
 * collection: a throw from a `using` scope's exit would wrap the body's own
 * error, and nothing at that point can give the permit back.
 * @example
 * ```ts
 * {
 *   using permit = await sem.acquire()
 *   await work()
 * } // released here, even if work() threw
 * ```
 */
export class Permit implements Disposable {
  #sem: Semaphore | undefined
  /** Released after its semaphore was closed with its fd held elsewhere: lost. */
  #lost = false

  static {
    makePermit = (sem) => new Permit(token, sem)
  }

  /** Not for `new`: permits come from {@link Semaphore.acquire} and {@link Semaphore.acquireSync}. @throws {TypeError} `ERR_ILLEGAL_CONSTRUCTOR`. */
  private constructor(key: typeof token, sem: Semaphore) {
    if (key !== token) throw illegalConstructor()
    this.#sem = sem
  }

  /**
   * Whether this permit was given back, or its semaphore was closed while
   * its fd never left it (the count is gone). False for a permit that a
   * closed semaphore could not take back from other holders of its fd.
   */
  get released(): boolean {
    if (typeof this !== 'object' || this === null || !(#sem in this)) throw invalidThis('Permit')
    const sem = this.#sem
    return sem === undefined ? !this.#lost : gone(sem)
  }

  /**
   * Gives the permit back to its semaphore (`release(1)`). Idempotent.
   * After the semaphore was closed, see the class notes: nothing to do, or
   * a `LINUX_FD_PERMIT_LOST` warning.
   * @throws {Error} `EAGAIN` if the semaphore's count would pass 2^64-2.
   * @see https://man7.org/linux/man-pages/man2/write.2.html
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  release(): void {
    if (typeof this !== 'object' || this === null || !(#sem in this)) throw invalidThis('Permit')
    const sem = this.#sem
    if (sem === undefined) return
    const core = coreOf(sem)
    if (!core.closed) {
      // `release(1)`'s write, not the method: a subclass's override of it
      // must not change what a permit gives back.
      const r = native.eventfdWrite(core.fd, 1)
      if (r < 0) throw core.fail(r, 'eventfd_write') // EAGAIN, EBADF: the permit is still held, a later call may retry
      this.#sem = undefined
      return
    }
    this.#sem = undefined
    if (gone(sem)) return
    this.#lost = true
    if (warned.has(sem)) return
    warned.add(sem)
    process.emitWarning(
      'A Permit was released after its Semaphore was closed; its fd may be held elsewhere, which is then a permit short',
      { code: 'LINUX_FD_PERMIT_LOST', detail: 'Release permits before closing the Semaphore (with `using`, declare the Semaphore first).' },
    )
  }

  /** Same as `release()`, for `using`. */
  [Symbol.dispose](): void {
    if (typeof this !== 'object' || this === null || !(#sem in this)) throw invalidThis('Permit')
    Permit.prototype.release.call(this)
  }

  /** `Permit { released: false }` (`Permit {}` for a foreign receiver). */
  [inspect.custom](): string {
    if (typeof this !== 'object' || this === null || !(#sem in this)) return 'Permit {}'
    return `${nameOf(this, 'Permit')} { released: ${this.released} }`
  }
}

/**
 * A counting semaphore on an eventfd with `EFD_SEMAPHORE`, shared across
 * processes and threads, that awaits on Node's own event loop.
 *
 * `release(n)` adds n permits; `acquire()` waits for one and returns a
 * {@link Permit} that gives it back once (`using permit = await sem.acquire()`).
 * Waiters on one object are served first come, first served; between
 * objects on the same fd (a `fromFd` copy, another worker's, another
 * process's) the kernel picks whichever it wakes first (s40-eventfd MED-1:
 * an older waiter in a worker lost to a newer one in the main thread). `tryAcquire()` and `acquireSync()` do not
 * queue: they take a free permit even while `acquire()`s are pending. No permit is ever lost or doubled: an aborted
 * `acquire()` never consumes one, and `close()` rejects pending acquires
 * without taking any. Pass `sem.fd` to a child in `spawn`'s `stdio` array and
 * call `Semaphore.fromFd(3, { adopt: true })` there, or post it to a worker
 * (keep `sem` open until the worker's `fromFd` ran: a number closed before
 * then may name another file by then).
 *
 * **A permit dies with its holder.** An eventfd has no undo: a process that
 * is killed, or a worker that is terminated (its `using` scopes do not run),
 * while it holds a permit never gives it back, and the semaphore is a
 * permit short for good. Where holders can die, give the permits of the
 * dead back from a supervisor (`release()`), or take N one-byte lock ranges
 * of a file instead ({@link tryLockFile} with `range`), which the kernel
 * frees when their holder dies (`examples/crash-safe-slots.ts`).
 * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
 * @example
 * ```ts
 * const sem = new Semaphore(2)       // two jobs at a time
 * await Promise.all(jobs.map(async (job) => {
 *   using _ = await sem.acquire()
 *   await job()
 * }))
 * ```
 */
export class Semaphore implements Disposable {
  readonly #core: FdCore<true>

  static {
    coreOf = (sem) => sem.#core
  }

  /**
   * Creates a semaphore with `initial` permits.
   * @param initial - 0 … 2^32-1 (a number or a bigint), default 0.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a bad `initial`.
   * @throws {Error} `EMFILE`/`ENFILE` when out of fds.
   */
  constructor(initial?: number | bigint) {
    const adopted = semaphores.take(new.target, this)
    const h = adopted ?? open(initial, true)
    const core: FdCore<true> = new FdCore<true>(
      h,
      'Semaphore',
      (fd) => {
        const r = core.shared ? tryAcquireShared(fd) : native.semaphoreTryAcquire(fd)
        if (r === 1) return true
        if (r === 0) return undefined
        throw core.fail(r, 'eventfd_read')
      },
      undefined,
      // A permit taken at a fairness cut for an acquire aborted or closed
      // before its delivery goes back (src/waiter.ts, #defer).
      (fd) => native.eventfdWrite(fd, 1) >= 0,
    )
    if (adopted !== undefined) core.share()
    this.#core = core
  }

  /**
   * Wraps an existing `EFD_SEMAPHORE` eventfd; see {@link EventCounter.fromFd}
   * for `adopt`, duplication and subclasses.
   * @throws {TypeError} `ERR_INVALID_ARG_VALUE` if `fd` is not a semaphore eventfd.
   * @throws {TypeError} `ERR_INVALID_RETURN_VALUE`: see {@link EventCounter.fromFd}.
   * @throws {Error} `EBADF` if `fd` is not open.
   * @throws {Error} `EBUSY` with `{ adopt: true }` if another linux-fd object owns `fd` (the fd is left alone).
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` with `{ adopt: true }` and an object for `fd`: only a number can be adopted (the object, such as a `FileHandle`, goes on owning its fd).
   * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  static fromFd<T extends Semaphore, F extends FdLike = FdLike>(this: abstract new () => T, fd: F, options?: { adopt?: (F extends number ? boolean : false) | undefined }): T
  /** {@link Semaphore.fromFd} called unbound (or on a class whose constructor is private or takes a required argument, which fromFd would not pass): a `Semaphore`. */
  static fromFd<F extends FdLike = FdLike>(this: unknown, fd: F, options?: { adopt?: (F extends number ? boolean : false) | undefined }): Semaphore
  static fromFd(this: unknown, fd: FdLike, options?: { adopt?: boolean | undefined }): Semaphore {
    return semaphores.construct(Semaphore, this, handleFromFd(fd, options, true))
  }

  /** The fd number, or -1 after `close()` or once it was found closed outside the package. */
  get fd(): number {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
    // The number may now reach another process (FdCore.shared); -1 cannot.
    this.#core.share()
    return this.#core.fd
  }

  /** Whether `close()` was called, or the fd was found closed outside the package. */
  get closed(): boolean {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
    return this.#core.closed
  }

  /** How many acquires are pending in this environment. */
  get pending(): number {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
    return this.#core.pending
  }

  /**
   * The permits free right now, read without taking any (the kernel's
   * `eventfd-count` in `/proc/self/fdinfo`). For observing only.
   * @throws {Error} `ERR_USE_AFTER_CLOSE` after `close()`; `EBADF` if the fd
   * was closed outside the package (or `/proc` is not mounted).
   * @see https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html
   */
  get count(): bigint {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
    return count(this.#core)
  }

  /**
   * Adds `count` permits (default 1), waking waiters everywhere. Never blocks
   * (but see {@link EventCounter.add} for a peer that clears `O_NONBLOCK`).
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` unless `count` is a number or a bigint.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` unless 1 ≤ `count` ≤ 2^64-2.
   * @throws {Error} `EAGAIN` if the total would pass 2^64-2; `ERR_USE_AFTER_CLOSE`; `EBADF` if the fd was closed outside the package and the number not reopened since (and on every later call; a file opened on the number is written to: see the README's errors).
   * @see https://man7.org/linux/man-pages/man2/write.2.html
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  release(count: number | bigint = 1): void {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
    const core = this.#core
    const fd = core.fd
    if (fd < 0) throw core.unusable('eventfd_write')
    const r =
      typeof count === 'number' && Number.isSafeInteger(count) && count >= 1
        ? native.eventfdWrite(fd, count)
        : native.eventfdWriteBig(fd, toBigInt(count, 'count', 1n, EVENTFD_MAX))
    if (r < 0) throw core.fail(r, 'eventfd_write')
  }

  /**
   * Takes a permit if one is free; never waits, even if another holder of
   * the fd cleared `O_NONBLOCK` on its open file description (Linux 5.8 or
   * newer; see {@link EventCounter.tryTake}). The permit is returned with
   * `release()`.
   * @throws {Error} `ERR_USE_AFTER_CLOSE` after `close()`; `EBADF` if the fd was closed outside the package (and on every later call).
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  tryAcquire(): boolean {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
    const core = this.#core
    if (core.fd < 0) throw core.unusable('eventfd_read')
    const r = core.shared ? tryAcquireShared(core.fd) : native.semaphoreTryAcquire(core.fd)
    if (r >= 0) return r === 1
    throw core.fail(r, 'eventfd_read')
  }

  /**
   * Waits for a permit and takes it; resolves with a {@link Permit} that gives
   * it back once.
   *
   * Cancel safety: an aborted `acquire()` rejects with an `AbortError` and
   * never consumes a permit; `close()` rejects pending acquires with
   * `ERR_USE_AFTER_CLOSE`.
   * @throws {Error} (rejects) `ABORT_ERR`, `ERR_USE_AFTER_CLOSE`, or an errno error.
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  acquire(options?: WaitOptions): Promise<Permit> {
    try {
      if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
      return this.#core.wait(waitSignal(options)).then(() => makePermit(this))
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /**
   * Blocks the calling thread until a permit is free, takes it, and returns
   * its {@link Permit}. For workers and scripts. It sleeps in `poll(2)` in
   * 20 ms slices, so `worker.terminate()` and `process.exit()` end it within
   * one slice, taking nothing.
   * @throws {Error} `ERR_USE_AFTER_CLOSE` after `close()`; `EBADF` if the fd was closed outside the package (and on every later call).
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  acquireSync(): Permit {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
    this.#core.waitSync()
    return makePermit(this)
  }

  /**
   * Closes the fd. Pending acquires reject with `ERR_USE_AFTER_CLOSE`.
   * Idempotent; never throws. See {@link EventCounter.close} for an fd closed
   * outside the package.
   * @see https://man7.org/linux/man-pages/man2/close.2.html
   */
  close(): void {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
    this.#core.close()
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
    this.#core.close()
  }

  /** Lets a pending acquire keep the process alive (the default). Returns `this`. */
  ref(): this {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
    this.#core.setRef(true)
    return this
  }

  /** Lets the process exit even while an acquire is pending. Returns `this`. */
  unref(): this {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
    this.#core.setRef(false)
    return this
  }

  /** Whether a pending acquire keeps the process alive. */
  hasRef(): boolean {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('Semaphore')
    return this.#core.refed
  }

  /** `Semaphore { fd: 5, closed: false, pending: 0, count: 2n }` (`Semaphore {}` for a foreign receiver). */
  [inspect.custom](depth: number, options: object): string {
    if (typeof this !== 'object' || this === null || !(#core in this)) return 'Semaphore {}'
    return show(this, 'Semaphore', this.#core, depth, options)
  }
}
