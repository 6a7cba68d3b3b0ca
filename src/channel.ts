/**
 * fd passing between any processes of one host: {@link FdChannel} over
 * `AF_UNIX` `SOCK_SEQPACKET` sockets with `SCM_RIGHTS`, and
 * {@link FdChannelServer}, its listening side. Design and security defaults:
 * docs/fdchannel.md.
 * @module
 */
import { fstatSync } from 'node:fs'
import { inspect } from 'node:util'
import { native } from './binding'
import { shown } from './inspect'
import { abortErrorOf, errnoError, fdCallError, fromFdError, illegalConstructor, invalidArgType, invalidArgValue, invalidThis, outOfRange, wrongFdKind } from './errors'
import { clock, fairTurn, FdCore, type FdIterator, type Handle } from './waiter'
import { bufferBytes, byteCount, toAdopt, toBool, toFd, toInt, toOptions, toSignal, toStr, type FdLike, type WaitOptions, unlisten, waitSignal } from './validate'
import { after, cancelAfter } from './timers'

type FdList = Exclude<ReturnType<typeof native.channelFdsDup>, number>

/**
 * Most fds one message carries: the kernel's `SCM_MAX_FD` (253).
 * @see https://man7.org/linux/man-pages/man7/unix.7.html
 */
export const FD_CHANNEL_MAX_FDS: number = native.CHANNEL_MAX_FDS
/**
 * Largest message, in bytes, that {@link FdChannel} sends or receives
 * (65536): a `SOCK_SEQPACKET` message must fit the socket's send buffer
 * whole, and 64 KiB fits the default one with room to spare.
 * @see https://man7.org/linux/man-pages/man7/socket.7.html
 */
export const FD_CHANNEL_MAX_MESSAGE: number = native.CHANNEL_MAX_MESSAGE

const token = Symbol('linux-fd.channel')
const NO_FDS = new Int32Array(0)
const EAGAIN = -11
const EBADF = -9
const EPERM = -1
const EPIPE = -32
const ENOBUFS = -105
const EADDRINUSE = -98
const ECONNABORTED = -103
const ECONNRESET = -104
const ENOTSOCK = -88
const EPROTOTYPE = -91
/** Why `channelPeer(fd, true)` refused an fd for `fromFd`, by its errno (crates/core channel.rs, `checked_peer_cred`). */
const NOT_A_CHANNEL = new Map([
  [ENOTSOCK, 'not a socket'],
  [EPROTOTYPE, 'a socket of another type'], // SOCK_STREAM would run messages together
  [-97, 'not a Unix socket'], // EAFNOSUPPORT
  [-22, 'a listening socket'], // EINVAL
  [-107, 'not connected'], // ENOTCONN
])
/** Connections a server refuses (or finds aborted) in one read before it lets the event loop turn. */
const REFUSED_PER_READ = 64
/**
 * `accept4` errors of a resource the process or the system ran out of (fds:
 * `EMFILE`, `ENFILE`; kernel memory: `ENOBUFS`, `ENOMEM`). The connection
 * stays in the backlog, so a server waits and tries again rather than fail
 * its accept (s41-chan MED-2), as Go's `http.Server` does for temporary
 * accept errors.
 */
const ACCEPT_RETRY = new Set([-24, -23, -105, -12])
/** The first wait before `accept4` is tried again after an {@link ACCEPT_RETRY} error, doubled each time it fails again… */
const ACCEPT_RETRY_FIRST_MS = 5
/** …up to this. */
const ACCEPT_RETRY_MAX_MS = 1000
/** The least time between two `LINUX_FD_ACCEPT_RETRY` warnings of one server (one per run of failures, at most this often). */
const ACCEPT_WARN_EVERY_MS = 60_000
/** Errors that mean the peer is gone: they end an iterator instead of throwing. */
const PEER_GONE = new Set(['EPIPE', 'ECONNRESET'])

// ---------------------------------------------------------------------------
// Received fds

// Only this module makes a ReceivedFds (see its private constructor).
let makeReceivedFds: (list: FdList | undefined) => ReceivedFds

/**
 * The fds that arrived with one message. They are owned here: they are
 * closed by `close()`, by `using` at scope exit, or when this object is
 * garbage-collected, unless you take them first. They arrive close-on-exec.
 *
 * - `take(i)` hands fd `i` to you: the number is then yours to close (or to
 *   adopt: `Semaphore.fromFd(fds.take(0), { adopt: true })`).
 * - `peek(i)` shows its number while it stays owned here, e.g. for
 *   `Semaphore.fromFd(fds.peek(0))`, which duplicates it.
 * @example
 * ```ts
 * const { data, fds } = await channel.receive()
 * using _ = fds                                  // closes what is not taken
 * const sem = Semaphore.fromFd(fds.take(0), { adopt: true })
 * ```
 * @see https://man7.org/linux/man-pages/man3/cmsg.3.html
 * @see https://man7.org/linux/man-pages/man2/recvmsg.2.html
 */
export class ReceivedFds implements Disposable, Iterable<number> {
  #list: FdList | undefined
  readonly #length: number

  static {
    makeReceivedFds = (list) => new ReceivedFds(token, list)
  }

  /** Not for `new`: a message's fds come from {@link FdChannel.receive} and its iterator. @throws {TypeError} `ERR_ILLEGAL_CONSTRUCTOR`. */
  private constructor(key: typeof token, list: FdList | undefined) {
    if (key !== token) throw illegalConstructor()
    this.#list = list
    this.#length = list === undefined ? 0 : native.channelFdsCount(list)
  }

  /** How many fds the message carried (taken ones included). */
  get length(): number {
    if (typeof this !== 'object' || this === null || !(#list in this)) throw invalidThis('ReceivedFds')
    return this.#length
  }

  /** How many fds are still owned here (neither taken nor closed). */
  get remaining(): number {
    if (typeof this !== 'object' || this === null || !(#list in this)) throw invalidThis('ReceivedFds')
    const list = this.#list
    if (list === undefined) return 0
    let n = 0
    for (let i = 0; i < this.#length; i++) if (native.channelFdsPeek(list, i) >= 0) n++
    return n
  }

  #index(i: unknown): number {
    return toInt(i, 'index', 0, Math.max(0, this.#length - 1))
  }

  /**
   * The number of fd `i`, which stays owned here (closed with this object).
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a bad index.
   * @throws {TypeError} `ERR_INVALID_ARG_VALUE` if fd `i` was taken or closed.
   */
  peek(i: number): number {
    if (typeof this !== 'object' || this === null || !(#list in this)) throw invalidThis('ReceivedFds')
    if (this.#length === 0) throw outOfRange('index', 'an index of a received fd (none were received)', i)
    const n = this.#index(i)
    const fd = this.#list === undefined ? EBADF : native.channelFdsPeek(this.#list, n)
    if (fd < 0) throw invalidArgValue('index', i, 'names an fd that was taken or closed')
    return fd
  }

  /**
   * Takes fd `i`: from now on the caller owns the number and closes it
   * (`fs.closeSync`), or hands it to a class with `{ adopt: true }`.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a bad index.
   * @throws {TypeError} `ERR_INVALID_ARG_VALUE` if fd `i` was taken or closed.
   */
  take(i: number): number {
    if (typeof this !== 'object' || this === null || !(#list in this)) throw invalidThis('ReceivedFds')
    if (this.#length === 0) throw outOfRange('index', 'an index of a received fd (none were received)', i)
    const n = this.#index(i)
    const fd = this.#list === undefined ? EBADF : native.channelFdsTake(this.#list, n)
    if (fd < 0) throw invalidArgValue('index', i, 'names an fd that was taken or closed')
    return fd
  }

  /** Takes every fd still owned here, in order; the caller owns them all. */
  takeAll(): number[] {
    if (typeof this !== 'object' || this === null || !(#list in this)) throw invalidThis('ReceivedFds')
    const out: number[] = []
    const list = this.#list
    if (list === undefined) return out
    for (let i = 0; i < this.#length; i++) {
      const fd = native.channelFdsTake(list, i)
      if (fd >= 0) out.push(fd)
    }
    return out
  }

  /** The numbers of the fds still owned here (peeked, not taken). */
  [Symbol.iterator](): Iterator<number, undefined, undefined> {
    if (typeof this !== 'object' || this === null || !(#list in this)) throw invalidThis('ReceivedFds')
    const list = this.#list
    const out: number[] = []
    if (list !== undefined) {
      for (let i = 0; i < this.#length; i++) {
        const fd = native.channelFdsPeek(list, i)
        if (fd >= 0) out.push(fd)
      }
    }
    return out[Symbol.iterator]()
  }

  /**
   * Closes every fd not taken. Idempotent; never throws. An fd closed
   * behind this object's back (whose number may have been reused) is
   * forgotten, never closed: checked with one `fstat` each. An fd whose
   * close may wait (a socket with `SO_LINGER` on, a tty, a file on FUSE or
   * a network filesystem: a peer can send one to stall its receiver) is
   * closed on a background thread, so this never blocks; so is one dropped
   * unclosed, or in a message `receive()` refused.
   * @see https://man7.org/linux/man-pages/man2/close.2.html
   */
  close(): void {
    if (typeof this !== 'object' || this === null || !(#list in this)) throw invalidThis('ReceivedFds')
    if (this.#list !== undefined) native.channelFdsClose(this.#list)
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    ReceivedFds.prototype.close.call(this)
  }

  /** `ReceivedFds { length: 2, fds: [ 21, 22 ] }` (the numbers still owned; `ReceivedFds {}` for a foreign receiver). */
  [inspect.custom](): string {
    if (typeof this !== 'object' || this === null || !(#list in this)) return 'ReceivedFds {}'
    return `ReceivedFds { length: ${this.#length}, fds: ${inspect([...this])} }`
  }
}

/** One message received by {@link FdChannel.receive}. */
export interface FdMessage {
  /** The bytes sent (possibly empty). Decode text with `data.toString()`. */
  data: Buffer
  /** The fds sent with it, owned until taken (see {@link ReceivedFds}). */
  fds: ReceivedFds
}

/**
 * Credentials of the process on the other end of a channel (`SO_PEERCRED`),
 * as the kernel recorded them when the connection was made.
 * @see https://man7.org/linux/man-pages/man7/unix.7.html
 */
export interface PeerCredentials {
  /** Its process id (when it connected, or created the pair). */
  readonly pid: number
  /** Its effective user id at that time. */
  readonly uid: number
  /** Its effective group id at that time. */
  readonly gid: number
}

// ---------------------------------------------------------------------------
// Argument checks

function toName(path: unknown, abstract: boolean): string {
  const p = toStr(path, 'path')
  const bytes = Buffer.byteLength(p)
  if (bytes === 0) throw invalidArgValue('path', path, 'must not be empty')
  if (!abstract && p.includes('\0')) throw invalidArgValue('path', path, 'must not contain null bytes')
  // sun_path is 108 bytes: a path needs its NUL terminator, an abstract
  // name its leading NUL.
  if (bytes > 107) throw outOfRange('path', 'at most 107 bytes long (sockaddr_un)', `${bytes} bytes`)
  return p
}

function toData(data: unknown): Uint8Array {
  // A detached buffer has no bytes (validate.ts, bufferBytes).
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : bufferBytes(data)
  if (bytes === undefined) {
    throw invalidArgType('data', 'of type string or an instance of Buffer, TypedArray, DataView, ArrayBuffer or SharedArrayBuffer', data)
  }
  // The length from the internal slot, not a property user code can shadow.
  const len = byteCount(bytes)
  if (len > FD_CHANNEL_MAX_MESSAGE) {
    throw outOfRange('data.byteLength', `<= ${FD_CHANNEL_MAX_MESSAGE}`, len)
  }
  return bytes
}

function toFdArray(fds: unknown): Int32Array {
  if (fds === undefined) return NO_FDS
  if (!Array.isArray(fds)) throw invalidArgType('fds', 'an instance of Array', fds)
  if (fds.length > FD_CHANNEL_MAX_FDS) throw outOfRange('fds.length', `<= ${FD_CHANNEL_MAX_FDS}`, fds.length)
  const out = new Int32Array(fds.length)
  for (let i = 0; i < fds.length; i++) out[i] = toFd(fds[i], `fds[${i}]`)
  return out
}

/**
 * The error of a send that failed at once (`sendmsg`), or whose fds could
 * not be duplicated for its queue (`syscall` `fcntl`: `EMFILE`, say). An
 * `EBADF` says `sendmsg` either way (the queued path said `fcntl`) and,
 * unless the channel's own fd is the one lost, which of `fds` is not open
 * (s37-chan L2).
 */
function sendError(core: FdCore<unknown>, errno: number, numbers: Int32Array, syscall = 'sendmsg'): Error {
  const err = sendFailure(core, errno, numbers.length > 0, errno === EBADF ? 'sendmsg' : syscall)
  if (errno !== EBADF || core.lost) return err
  const i = numbers.findIndex((n) => {
    try {
      fstatSync(n)
      return false
    } catch {
      return true
    }
  })
  return i < 0 ? err : errnoError(errno, 'sendmsg', undefined, `fds[${i}], fd ${numbers[i]}, is not open`)
}

/**
 * The error of a send with or without fds that failed with `errno`, at once
 * ({@link sendError}) or as its queue was flushed: the one place that tells
 * a refusal of the fds ({@link refusedFds}) from other errors.
 */
function sendFailure(core: FdCore<unknown>, errno: number, withFds: boolean, syscall = 'sendmsg'): Error {
  return errno === EPERM && withFds ? refusedFds() : core.fail(errno, syscall)
}

/**
 * `EPERM` from a `sendmsg` with fds: the peer's socket refuses them
 * (`SO_PASSRIGHTS` turned off, Linux 6.16+), or a security module forbids
 * passing one of them. The same send without fds goes through (s41-chan
 * LOW-2: the error said only "operation not permitted").
 */
function refusedFds(): Error {
  return errnoError(EPERM, 'sendmsg', undefined, 'the peer does not accept fds (SO_PASSRIGHTS is off on its socket), or a security module forbids passing one of them; a message without fds can still be sent')
}

function toUids(uids: unknown): Set<number> | null {
  // The effective uid: SO_PEERCRED reports the peer's effective uid too.
  if (uids === undefined) return new Set([process.geteuid?.() ?? 0])
  if (uids === 'any') return null
  if (typeof uids !== 'object' || uids === null || typeof (uids as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw invalidArgType('options.uids', "an iterable of uids or 'any'", uids)
  }
  const set = new Set<number>()
  for (const u of uids as Iterable<unknown>) set.add(toInt(u, 'options.uids[]', 0, 0xffffffff))
  return set
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      cancelAfter(t)
      reject(abortErrorOf(signal))
    }
    const t = after(() => {
      unlisten(signal, onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

// ---------------------------------------------------------------------------
// FdChannel

interface PendingSend {
  data: Uint8Array
  list: FdList | undefined
  resolve(): void
  reject(err: unknown): void
}

/** Longest pause between two tries of a send that found the peer's queue full (ms). */
const SEND_RETRY_MAX_MS = 16

// Only this module makes a FdChannel (see its private constructor).
let makeFdChannel: (h: Handle, peer?: PeerCredentials) => FdChannel

/** Options of {@link FdChannel.listen}. */
export interface ListenOptions {
  /** The uids allowed to connect, or `'any'` (default: this process's effective uid, as `SO_PEERCRED` reports a peer's). An empty list refuses everyone. */
  uids?: Iterable<number> | 'any' | undefined
  /** `path` is a name in Linux's abstract namespace, not a file (default false). */
  abstract?: boolean | undefined
  /** Pending connections the kernel queues (default 128). */
  backlog?: number | undefined
  /** Closes the server when aborted. */
  signal?: AbortSignal | undefined
}

/** Options of {@link FdChannel.connect}. */
export interface ConnectOptions {
  /** `path` is an abstract name (default false). */
  abstract?: boolean | undefined
  /** Aborts the retries of a connect to a full backlog. */
  signal?: AbortSignal | undefined
}

/**
 * One end of a connection that carries messages with fds between processes
 * of one host: a `SOCK_SEQPACKET` Unix socket, so each `send()` arrives as
 * one message, and `SCM_RIGHTS`, so the fds sent arrive as working
 * duplicates in the receiving process. This shares a {@link Semaphore}, an
 * {@link EventCounter}, a `MemFile`, a `Timer`, a `FileHandle` or any fd
 * with processes that are not your children: cluster or PM2 workers, a
 * sidecar, a CLI attaching to a server, systemd services.
 *
 * Make one with {@link FdChannel.pair} (hand one end to a child in `spawn`'s
 * `stdio`, and `FdChannel.fromFd(3, { adopt: true })` there), {@link FdChannel.listen} and
 * {@link FdChannel.connect} (a socket path or an abstract name), or
 * {@link FdChannel.fromFd}.
 *
 * Receiving waits on Node's own event loop; a peer that goes away rejects a
 * pending `receive()` with `EPIPE` (or `ECONNRESET` if it left messages of
 * ours unread) and ends `for await` loops: nothing hangs.
 * @see https://man7.org/linux/man-pages/man7/unix.7.html
 * @see https://man7.org/linux/man-pages/man3/cmsg.3.html
 * @example
 * ```ts
 * // server
 * const sem = new Semaphore(1)
 * using server = FdChannel.listen('/run/user/1000/app.sock')
 * for await (const ch of server) {
 *   // The client gets its own duplicate. Caught: a client may leave before
 *   // the send (EPIPE), and an error thrown here would end the loop.
 *   ch.send('semaphore', [sem]).catch(() => {}).finally(() => ch.close())
 * }
 *
 * // any other process of the same user
 * using ch = await FdChannel.connect('/run/user/1000/app.sock')
 * const { fds } = await ch.receive()
 * const shared = Semaphore.fromFd(fds.take(0), { adopt: true })
 * ```
 */
export class FdChannel implements Disposable, AsyncIterable<FdMessage> {
  readonly #core: FdCore<FdMessage>
  #peer: PeerCredentials | undefined
  /** Whether a receive saw the end (the peer gone): every later one is `EPIPE`. */
  #ended = false
  #sends: PendingSend[] = []
  #sendTimer: NodeJS.Timeout | undefined
  /** `end()` was called with sends queued: the shutdown waits for the last of them. */
  #ending = false
  #sendDelay = 0
  #refed = true

  static {
    makeFdChannel = (h, peer) => new FdChannel(token, h, peer)
  }

  /** Whether `SO_PASSCRED` was set, before the first receive. */
  #credsAsked = false
  /** Whether this channel turned it on (it was off): turned off at `close()`. */
  #credsTurnedOn = false
  /** Not for `new`: channels come from {@link FdChannel.pair}, {@link FdChannel.connect}, {@link FdChannel.fromFd} and a server. @throws {TypeError} `ERR_ILLEGAL_CONSTRUCTOR`. */
  private constructor(key: typeof token, h: Handle, peer?: PeerCredentials) {
    if (key !== token) throw illegalConstructor()
    this.#peer = peer
    const core: FdCore<FdMessage> = new FdCore(
      h,
      'FdChannel',
      (fd) => {
        // The end is final: on a socket without SO_PASSCRED (made outside
        // the package), after an empty message read as the end, a message
        // of fds only (no bytes) may still be queued; it is left to close
        // with the socket rather than read after EPIPE (docs/fdchannel.md).
        if (this.#ended) throw errnoError(EPIPE, 'recvmsg')
        // SO_PASSCRED on the socket this side receives on, and only that
        // one (docs/fdchannel.md, "Wire format"): a failure leaves the
        // core's fallback rule.
        if (!this.#credsAsked) {
          this.#credsAsked = true
          this.#credsTurnedOn = this.#core.owns() && native.channelPassCred(fd, true) === 0
        }
        const r = native.channelRecv(fd)
        if (typeof r !== 'number') return { data: r.data, fds: makeReceivedFds(r.fds ?? undefined) }
        if (r === EAGAIN) return undefined
        // A reset is as final as the end: the core reports it only once
        // nothing readable is left before the end (crates/core channel.rs).
        if (r === 0 || r === ECONNRESET) {
          this.#ended = true
          throw errnoError(r === 0 ? EPIPE : r, 'recvmsg')
        }
        // The kernel's ENOBUFS here is the fds of a message that did not
        // all fit (s46-exhaust L1: the bare message did not say so).
        if (r === ENOBUFS) throw errnoError(r, 'recvmsg', undefined, 'the fds of the message did not all fit: usually this process is out of fd numbers (RLIMIT_NOFILE), else a security module refused one; the message was dropped and its fds closed')
        throw core.fail(r, 'recvmsg')
      },
      { endCodes: PEER_GONE, onShutdown: (err) => this.#shutdown(err) },
    )
    this.#core = core
  }

  /**
   * `socketpair(AF_UNIX, SOCK_SEQPACKET)`: two connected channels. Keep one
   * and give the other's `fd` to a child process (`spawn`'s `stdio` array;
   * the child calls `FdChannel.fromFd(3, { adopt: true })`: without
   * `adopt`, fd 3 stays open beside its dup, so the child's `close()` does
   * not end your `receive()`; s46-proc M3), then close your copy of it.
   * While your copy is open the child's end has a peer still, yours: when
   * the child dies, your `receive()` keeps waiting and your sends queue
   * instead of failing with `EPIPE`.
   * @throws {Error} `EMFILE`/`ENFILE` when out of fds.
   * @see https://man7.org/linux/man-pages/man2/socketpair.2.html
   */
  static pair(): [FdChannel, FdChannel] {
    const r = native.channelPair()
    if (typeof r === 'number') throw errnoError(r, 'socketpair')
    return [new FdChannel(token, r[0]), new FdChannel(token, r[1])]
  }

  /**
   * Wraps an existing connected `SOCK_SEQPACKET` Unix socket, e.g. one end of
   * a {@link FdChannel.pair} inherited from a parent. By default the fd is
   * duplicated (`F_DUPFD_CLOEXEC`) and the caller keeps `fd`; with
   * `{ adopt: true }` the channel takes `fd` itself and sets its
   * `FD_CLOEXEC`. The open file description is made non-blocking.
   * Like every channel, it turns `SO_PASSCRED` on before its first
   * receive, which is how an empty message is told from the end
   * (docs/fdchannel.md, "Wire format").
   * @throws {TypeError} `ERR_INVALID_ARG_VALUE` unless `fd` is a connected
   * Unix `SOCK_SEQPACKET` socket (the message says which it is not): a
   * `SOCK_STREAM` socket (a `net` socket's, say) would run messages
   * together, a TCP or UDP one passes no fds, and a listening or
   * unconnected one has no peer.
   * @throws {Error} `EBADF` if `fd` is not open.
   * @throws {Error} `EBUSY` with `{ adopt: true }` if another linux-fd object owns `fd` (the fd is left alone).
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` with `{ adopt: true }` and an object for `fd`: only a number can be adopted (the object, such as a `FileHandle`, goes on owning its fd).
   * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
   * @see https://man7.org/linux/man-pages/man7/unix.7.html
   */
  static fromFd<F extends FdLike = FdLike>(fd: F, options?: { adopt?: (F extends number ? boolean : false) | undefined }): FdChannel {
    const n = toFd(fd)
    const adopt = toAdopt(options, fd)
    const peer = native.channelPeer(n, true)
    const wrong = typeof peer === 'number' ? NOT_A_CHANNEL.get(peer) : undefined
    if (wrong !== undefined) {
      // Not a socket at all: say what it is (a closed number reused, say).
      if (peer === ENOTSOCK) throw wrongFdKind(n, 'a connected SOCK_SEQPACKET Unix socket', undefined, wrong)
      throw invalidArgValue('fd', n, `must be a connected SOCK_SEQPACKET Unix socket (${wrong})`)
    }
    if (typeof peer === 'number') throw fdCallError(peer, 'getsockopt', n)
    const h = native.fdHandleFrom(n, adopt, false, true)
    if (typeof h === 'number') throw fromFdError(h, n)
    return new FdChannel(token, h)
  }

  /**
   * Listens at a socket path (or, with `abstract: true`, a name in Linux's
   * abstract namespace) for {@link FdChannel.connect}. See
   * {@link FdChannelServer} for accepting.
   *
   * Security defaults:
   * - The socket file is created with mode `0600` whatever the umask (only
   *   its owner, and root, can connect), with no window of a wider mode.
   * - Only connections from the uids in `uids` are accepted; others are
   *   closed before any message is read. The default is this process's own
   *   uid; `'any'` turns the check off. An abstract name has no file
   *   permissions at all (any process of the network namespace can connect),
   *   so there this check is the only gate.
   * - An existing file at `path` is an `EADDRINUSE` error, never replaced:
   *   remove a stale socket yourself. `close()` removes the socket file if
   *   it is still the one this server created, and so does a server that is
   *   garbage-collected unclosed or whose worker ends (not one whose process
   *   calls `process.exit()`, is killed or crashes).
   * @param path - a filesystem path (at most 107 bytes), or the abstract name.
   * @param options.uids - the uids allowed to connect, or `'any'` (default: this process's effective uid, as `SO_PEERCRED` reports a peer's).
   * @param options.abstract - use the abstract namespace (default false).
   * @param options.backlog - pending connections the kernel queues (default 128).
   * @param options.signal - closes the server when aborted.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE` for bad options.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a path over 107 bytes (the size of `sockaddr_un`'s path) or a bad `backlog`.
   * @throws {Error} `EADDRINUSE`, `EACCES`, `ENOENT` (no such directory);
   * `ABORT_ERR` (an `AbortError`) if `signal` is already aborted;
   * `EMFILE` (`syscall` `'uv_poll_init'`) when the process has fds for the
   * socket but not for the watch's own duplicate of it: a server holds two
   * fds, made at once, so that it can wait out a lack of fds as it accepts.
   * @see https://man7.org/linux/man-pages/man7/unix.7.html
   * @see https://man7.org/linux/man-pages/man2/listen.2.html
   */
  static listen(
    path: string,
    options?: ListenOptions,
  ): FdChannelServer {
    const o = toOptions(options, 'options', ['uids', 'abstract', 'backlog', 'signal'])
    const abstract = toBool(o.abstract, 'options.abstract', false)
    const name = toName(path, abstract)
    const uids = toUids(o.uids)
    const backlog = toInt(o.backlog, 'options.backlog', 0, 0x7fffffff, 128)
    const signal = toSignal(o.signal)
    if (signal?.aborted) throw abortErrorOf(signal)
    const h = native.channelListen(name, abstract, backlog)
    // A socket path goes into the message and `path`, as a lock's `open` does (an abstract name is no path).
    if (typeof h === 'number') {
      if (abstract) throw errnoError(h, 'listen')
      // A file at the path is never replaced; the usual one is the socket of
      // a server that exited without close() (user34 L4).
      const hint = h === EADDRINUSE ? 'a file is at the path: a server may be listening there; if it is the socket of one that exited without close() (a connect is refused), remove it' : undefined
      throw errnoError(h, 'listen', name, hint)
    }
    return makeFdChannelServer(h, name, abstract, uids, signal)
  }

  /**
   * Connects to a server made by {@link FdChannel.listen}. If the server's
   * backlog is full (`EAGAIN`), it retries with growing pauses (up to 100 ms)
   * until it connects or `signal` aborts.
   * @param options.abstract - `path` is an abstract name (default false).
   * @param options.signal - aborts the retries.
   * @throws {Error} (rejects) `ENOENT` (no such path), `ECONNREFUSED` (nobody
   * listens, or, for an abstract name, a socket of another type listens
   * there), `EACCES` (the socket is another user's), `EPROTOTYPE` (a path
   * whose socket is not a `SOCK_SEQPACKET` one: a `net.Server`'s, say),
   * `ABORT_ERR`.
   * @see https://man7.org/linux/man-pages/man2/connect.2.html
   */
  static async connect(path: string, options?: ConnectOptions): Promise<FdChannel> {
    const o = toOptions(options, 'options', ['abstract', 'signal'])
    const abstract = toBool(o.abstract, 'options.abstract', false)
    const name = toName(path, abstract)
    const signal = toSignal(o.signal)
    for (let delay = 1; ; delay = Math.min(delay * 2, 100)) {
      if (signal?.aborted) throw abortErrorOf(signal)
      const h = native.channelConnect(name, abstract)
      if (typeof h !== 'number') {
        const channel = new FdChannel(token, h)
        // Connected at once: the loop still turns in a loop of connects.
        const turn = fairTurn()
        if (turn !== undefined) await turn
        return channel
      }
      if (h !== EAGAIN) {
        // A `net.Server` at the path is an easy mistake (s42-docs L3).
        const hint = h === EPROTOTYPE ? 'the socket there is not an FdChannel server (not SOCK_SEQPACKET: a net.Server is SOCK_STREAM)' : undefined
        throw errnoError(h, 'connect', abstract ? undefined : name, hint)
      }
      await sleep(delay, signal)
    }
  }

  /** The socket's fd number, or -1 after `close()`. */
  get fd(): number {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
    return this.#core.fd
  }

  /** Whether `close()` was called (or the fd was found closed outside the package). */
  get closed(): boolean {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
    return this.#core.fd < 0
  }

  /** How many `receive()` calls are pending in this environment. */
  get pending(): number {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
    return this.#core.pending
  }

  /** How many sends wait for room in the peer's queue. */
  get queuedSends(): number {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
    return this.#sends.length
  }

  /**
   * The process on the other end (`SO_PEERCRED`), as it was when it
   * connected (or listened, seen from a client; or created the pair). The
   * kernel vouches for it: a peer cannot forge it. Read once, it is kept,
   * so it can still be read after `close()` (a server's channels read it
   * when they connect).
   * @throws {Error} `ERR_USE_AFTER_CLOSE` after `close()`, if it was never read before.
   * @see https://man7.org/linux/man-pages/man7/unix.7.html
   */
  get peer(): PeerCredentials {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
    if (this.#peer !== undefined) return this.#peer
    if (this.#core.fd < 0) throw this.#core.unusable()
    const r = native.channelPeer(this.#core.fd, false)
    if (typeof r === 'number') throw this.#core.fail(r, 'getsockopt')
    this.#peer = Object.freeze({ pid: r[0], uid: r[1], gid: r[2] })
    return this.#peer
  }

  /**
   * Sends one message: `data` (a string, as UTF-8, or bytes; possibly empty;
   * at most {@link FD_CHANNEL_MAX_MESSAGE} bytes) and duplicates of `fds` (at
   * most {@link FD_CHANNEL_MAX_FDS}): fd numbers or objects with an `fd`,
   * such as a `Semaphore`, `EventCounter`, `MemFile`, `Timer` or
   * `FileHandle`. You keep your own fds; the receiver gets new ones. The
   * message is sent at once when the peer's queue has room (the promise is
   * then already resolved); otherwise the fds are duplicated right away
   * (closing yours meanwhile changes nothing) and the message is retried
   * with pauses of up to 16 ms, in order behind earlier sends.
   * @throws {TypeError|RangeError} (rejects) for bad arguments.
   * @throws {Error} (rejects) `EPIPE`/`ECONNRESET` when the peer is gone,
   * `EBADF` for an fd that is not open, `ETOOMANYREFS` when too many fds are
   * in flight, `EPERM` for fds the peer does not accept (`SO_PASSRIGHTS` off
   * on its socket, Linux 6.16+, or a security module's refusal),
   * `ERR_USE_AFTER_CLOSE` after `close()` (also for sends still queued
   * then).
   * @see https://man7.org/linux/man-pages/man2/sendmsg.2.html
   */
  send(data: string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer, fds?: readonly FdLike[]): Promise<void> {
    try {
      if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
      // The fds first: reading them runs user code (an object's `fd`
      // getter, a Proxy's traps), which could grow a resizable buffer under
      // a length-tracking view after its length was checked (s52-diff L1).
      const numbers = toFdArray(fds)
      const bytes = toData(data)
      if (this.#core.fd < 0) throw this.#core.unusable()
      // What the kernel answers once the shutdown is made.
      if (this.#ending) throw errnoError(EPIPE, 'sendmsg')
      if (this.#sends.length === 0) {
        const r = native.channelSend(this.#core.fd, bytes, numbers)
        if (r >= 0) return Promise.resolve()
        if (r !== EAGAIN) throw sendError(this.#core, r, numbers)
      }
      // Queue a snapshot: a copy of the bytes and duplicates of the fds.
      // The copy first, and by the constructor, which runs no user code
      // (`slice` asks the array's species: a getter there closed the
      // channel after the fds were duplicated, and the send stayed pending
      // with the copies held; s52-chan L1). A view whose buffer was detached
      // has no bytes, as a detached buffer sends.
      let copy: Uint8Array
      try {
        copy = new Uint8Array(bytes)
      } catch {
        copy = new Uint8Array(0)
      }
      let list: FdList | undefined
      if (numbers.length > 0) {
        const l = native.channelFdsDup(numbers)
        if (typeof l === 'number') throw sendError(this.#core, l, numbers, 'fcntl')
        list = l
      }
      return new Promise<void>((resolve, reject) => {
        this.#sends.push({ data: copy, list, resolve, reject })
        this.#scheduleSend()
      })
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /**
   * Schedules the next try of the queued sends: on the next turn of the
   * event loop after a try that sent something (the peer is draining its
   * queue), else after a pause that doubles up to 16 ms (it is not reading).
   * There is no writability watch: the native watch is readable-only.
   */
  #scheduleSend(progress = false): void {
    if (this.#sendTimer !== undefined) return
    if (progress) this.#sendDelay = 0
    const t = after(() => this.#flush(), this.#sendDelay)
    if (!this.#refed) t.unref()
    this.#sendTimer = t
    this.#sendDelay = Math.min(Math.max(1, this.#sendDelay * 2), SEND_RETRY_MAX_MS)
  }

  #flush(): void {
    this.#sendTimer = undefined
    let sent = 0
    while (this.#sends.length > 0 && this.#core.fd >= 0) {
      const s = this.#sends[0]!
      const r = s.list === undefined ? native.channelSend(this.#core.fd, s.data, NO_FDS) : native.channelSendList(this.#core.fd, s.data, s.list)
      if (r === EAGAIN) {
        this.#scheduleSend(sent > 0)
        return
      }
      sent++
      this.#sends.shift()
      if (s.list !== undefined) native.channelFdsClose(s.list)
      if (r < 0) s.reject(sendFailure(this.#core, r, s.list !== undefined))
      else s.resolve()
    }
    this.#sendDelay = 0
    if (this.#ending && this.#sends.length === 0 && this.#core.fd >= 0) {
      this.#ending = false
      // The peer may be gone already (the sends then failed): nothing to end.
      native.channelShutdown(this.#core.fd)
    }
  }

  /**
   * Waits for the next message and resolves with its `data` and `fds`.
   * Messages are delivered whole and in order; concurrent calls are served
   * first come, first served.
   *
   * Cancel safety: an aborted `receive()` rejects with an `AbortError` and
   * consumes no message; except one whose message was already read and
   * waits for delivery (a loop turn that ran past the 10 ms fairness cut),
   * which resolves with it rather than lose it (the same after `close()`).
   * @throws {Error} (rejects) `EPIPE` when the peer has gone (every later
   * call too), `ECONNRESET` when it went leaving our messages unread,
   * `EMSGSIZE` for a message over {@link FD_CHANNEL_MAX_MESSAGE} bytes and
   * `ENOBUFS` when its fds did not all fit (this process is out of fds,
   * `RLIMIT_NOFILE`): for these two the message is dropped, every fd of it
   * that arrived is closed, and the channel stays usable.
   * `ABORT_ERR`, `ERR_USE_AFTER_CLOSE`.
   * @see https://man7.org/linux/man-pages/man2/recvmsg.2.html
   */
  receive(options?: WaitOptions): Promise<FdMessage> {
    try {
      if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
      return this.#core.wait(waitSignal(options))
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /**
   * Successive `receive()`s, for `for await (const { data, fds } of channel)`.
   * The loop ends when the peer goes away or the channel is closed; `break`
   * ends it without closing the channel. An error of one message
   * (`EMSGSIZE`, `ENOBUFS`) throws out of the loop, and the channel stays
   * usable: catch it and loop again to survive a hostile peer.
   */
  [Symbol.asyncIterator](): FdIterator<FdMessage> {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
    return this.#core.iterate()
  }

  /**
   * Successive `receive()`s as `for await (const m of channel)` makes them,
   * each passed `options.signal`: an abort throws its `AbortError` out of the
   * loop, consumes no message, and ends the iterator; the channel stays
   * open. A listener is on the signal only while a `next()` is pending.
   * @throws {Error} `ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE` for bad
   * options; `ERR_INVALID_THIS`.
   * @see https://man7.org/linux/man-pages/man2/recvmsg.2.html
   */
  iterate(options?: WaitOptions): FdIterator<FdMessage> {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
    return this.#core.iterate(waitSignal(options))
  }

  /**
   * `shutdown(SHUT_RDWR)`: the peer sees the end (its `receive()` rejects
   * with `EPIPE`) even while other processes hold duplicates of this
   * socket. Sends still queued go out first, as `net.Socket`'s `end()`
   * flushes: the shutdown is made once the last of them has been sent (or
   * has failed), at once when none is queued; until then this side's own
   * `receive()` goes on receiving. A `send()` after `end()` rejects with
   * `EPIPE`. The channel stays open until `close()`, which
   * drops what is still queued.
   * @throws {Error} `ERR_USE_AFTER_CLOSE` after `close()`.
   * @see https://man7.org/linux/man-pages/man2/shutdown.2.html
   */
  end(): void {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
    if (this.#core.fd < 0) throw this.#core.unusable()
    if (this.#sends.length > 0) {
      this.#ending = true
      return
    }
    const r = native.channelShutdown(this.#core.fd)
    if (r < 0) throw this.#core.fail(r, 'shutdown')
  }

  /**
   * Closes the socket: the peer sees the end. Pending receives and queued
   * sends reject with `ERR_USE_AFTER_CLOSE` (iterators end), but for a
   * receive whose message was already read and waits for delivery (past
   * the 10 ms fairness cut): it resolves with it. Fds already
   * received stay with their {@link ReceivedFds}. Idempotent; never throws.
   * @see https://man7.org/linux/man-pages/man2/close.2.html
   */
  close(): void {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
    // The option goes back off if this channel turned it on, so a socket
    // handed on after it reaches its next reader as it came (s52-diff2 M1);
    // only while the number is still this socket.
    if (this.#credsTurnedOn) {
      this.#credsTurnedOn = false
      if (this.#core.owns()) native.channelPassCred(this.#core.fd, false)
    }
    this.#core.close()
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    FdChannel.prototype.close.call(this)
  }

  /** Lets a pending receive or queued send keep the process alive (the default). Returns `this`. */
  ref(): this {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
    this.#refed = true
    this.#core.setRef(true)
    this.#sendTimer?.ref()
    return this
  }

  /** Lets the process exit even while a receive is pending or a send queued. Returns `this`. */
  unref(): this {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
    this.#refed = false
    this.#core.setRef(false)
    this.#sendTimer?.unref()
    return this
  }

  /** Whether a pending receive keeps the process alive. */
  hasRef(): boolean {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannel')
    return this.#refed
  }

  /** `FdChannel { fd: 5, closed: false, pending: 0, peer: { pid: 12, uid: 1000, gid: 1000 } }`. */
  [inspect.custom](depth: number, options: object): string {
    if (typeof this !== 'object' || this === null || !(#core in this)) return 'FdChannel {}'
    let peer: PeerCredentials | string = this.#peer ?? 'unknown'
    try {
      if (this.#peer === undefined && this.#core.fd >= 0) peer = this.peer
    } catch {}
    const body = { fd: this.#core.fd, closed: this.#core.fd < 0, pending: this.#core.pending, peer }
    return shown(this, 'FdChannel', body, depth, options)
  }

  /** The core's `onShutdown`: after the waiters, the rest gets the same error. */
  #shutdown(err: Error): void {
    this.#ending = false
    if (this.#sendTimer !== undefined) cancelAfter(this.#sendTimer)
    this.#sendTimer = undefined
    const sends = this.#sends
    this.#sends = []
    for (const s of sends) {
      if (s.list !== undefined) native.channelFdsClose(s.list)
      s.reject(err)
    }
  }
}

// ---------------------------------------------------------------------------
// FdChannelServer

// Only this module makes a FdChannelServer (see its private constructor).
let makeFdChannelServer: (h: Handle, path: string, abstract: boolean, uids: Set<number> | null, signal: AbortSignal | undefined) => FdChannelServer

/**
 * The listening side made by {@link FdChannel.listen}: `await accept()` or
 * `for await (const channel of server)` gives one {@link FdChannel} per
 * client whose uid is allowed. Connections from other uids are closed as
 * soon as they are accepted, before any message is read, and counted in
 * `rejected`.
 * @see https://man7.org/linux/man-pages/man2/accept4.2.html
 */
export class FdChannelServer implements Disposable, AsyncIterable<FdChannel> {
  readonly #core: FdCore<FdChannel>
  readonly #path: string
  readonly #abstract: boolean
  readonly #uids: Set<number> | null
  #rejected = 0
  /** The wait before the next `accept4` after an {@link ACCEPT_RETRY} error; 0 once one succeeded. */
  #retryMs = 0
  /** When the last `LINUX_FD_ACCEPT_RETRY` warning was shown (`clock()`), or -Infinity. */
  #warnedAt = -Infinity
  /** A run of failures has started that no warning has reported yet (the last one was under a minute old). */
  #unwarned = false
  #signal: AbortSignal | undefined
  #onAbort: (() => void) | undefined

  static {
    makeFdChannelServer = (h, path, abstract, uids, signal) => new FdChannelServer(token, h, path, abstract, uids, signal)
  }

  /** Not for `new`: servers come from {@link FdChannel.listen}. @throws {TypeError} `ERR_ILLEGAL_CONSTRUCTOR`. */
  private constructor(key: typeof token, h: Handle, path: string, abstract: boolean, uids: Set<number> | null, signal: AbortSignal | undefined) {
    if (key !== token) throw illegalConstructor()
    this.#path = path
    this.#abstract = abstract
    this.#uids = uids
    const core: FdCore<FdChannel> = new FdCore(
      h,
      'FdChannelServer',
      (fd) => {
        // At most REFUSED_PER_READ connections are refused (or found
        // aborted) per read; then it reports "nothing yet", and the watch,
        // level-triggered, calls again on the next loop turn. Without the
        // bound, another local user who connects and closes in a loop kept
        // this read, and the event loop, busy for as long as it went on.
        for (let refused = 0; refused < REFUSED_PER_READ; refused++) {
          const c = native.channelAccept(fd)
          if (typeof c === 'number') {
            if (c === EAGAIN) {
              // Nothing to accept: a lack of fds, if any, has not been met since.
              this.#retryMs = 0
              return undefined
            }
            if (c === ECONNABORTED) continue
            if (ACCEPT_RETRY.has(c)) return this.#retryLater(core, c)
            throw core.fail(c, 'accept4')
          }
          this.#retryMs = 0
          const p = native.channelPeer(native.fdHandleFd(c), false)
          if (typeof p === 'number' || (this.#uids !== null && !this.#uids.has(p[1]))) {
            native.fdHandleClose(c)
            this.#rejected++
            continue
          }
          return makeFdChannel(c, Object.freeze({ pid: p[0], uid: p[1], gid: p[2] }))
        }
        return undefined
      },
      { endCodes: PEER_GONE, onShutdown: () => this.#shutdown() },
    )
    this.#core = core
    // The watch (a dup of the socket) is made now: made at the first wait
    // that queues, when the process may be out of fds, it failed with the
    // very EMFILE the server waits out (s41-diff MED-1).
    const watchErr = core.openWatch()
    if (watchErr !== undefined) {
      core.close()
      throw watchErr
    }
    if (signal !== undefined) {
      this.#signal = signal
      this.#onAbort = () => this.close()
      try {
        signal.addEventListener('abort', this.#onAbort, { once: true })
      } catch (error) {
        // Bound already: close the socket and remove its file now, rather
        // than leave both to the garbage collector.
        this.close()
        throw error
      }
    }
  }

  /** The listening socket's fd number, or -1 after `close()`. */
  get fd(): number {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
    return this.#core.fd
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
    return this.#core.fd < 0
  }

  /** The path (or abstract name) it listens at. */
  get path(): string {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
    return this.#path
  }

  /** Whether `path` is a name in the abstract namespace. */
  get abstract(): boolean {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
    return this.#abstract
  }

  /** How many connections were closed unread because their uid is not allowed. */
  get rejected(): number {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
    return this.#rejected
  }

  /** How many `accept()` calls are pending in this environment. */
  get pending(): number {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
    return this.#core.pending
  }

  /**
   * Waits for the next allowed connection.
   *
   * Cancel safety: an aborted `accept()` rejects with an `AbortError` and
   * accepts nothing; except one whose connection was already accepted and
   * waits for delivery (past the 10 ms fairness cut), which resolves with
   * it (the same after `close()`).
   *
   * Out of fds or kernel memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`
   * from `accept4`), it does not reject: the connection waits in the
   * backlog, and the server tries again after 5 ms, doubling up to 1 s while
   * it keeps failing, with a `LINUX_FD_ACCEPT_RETRY` warning as such a run
   * starts (at most one a minute per server).
   * Pass a `signal` to bound the wait.
   * @see https://man7.org/linux/man-pages/man2/accept4.2.html
   * @throws {Error} (rejects) `ABORT_ERR`, `ERR_USE_AFTER_CLOSE`, or the
   * `accept4` errno of another failure.
   */
  accept(options?: WaitOptions): Promise<FdChannel> {
    try {
      if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
      return this.#core.wait(waitSignal(options))
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /** Successive `accept()`s; the loop ends when the server is closed, and waits out a lack of fds as `accept()` does. */
  [Symbol.asyncIterator](): FdIterator<FdChannel> {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
    return this.#core.iterate()
  }

  /**
   * Successive `accept()`s as `for await (const ch of server)` makes them,
   * each passed `options.signal`: an abort throws its `AbortError` out of the
   * loop, accepts nothing, and ends the iterator; the server keeps
   * listening. A listener is on the signal only while a `next()` is pending.
   * @throws {Error} `ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE` for bad
   * options; `ERR_INVALID_THIS`.
   * @see https://man7.org/linux/man-pages/man2/accept4.2.html
   */
  iterate(options?: WaitOptions): FdIterator<FdChannel> {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
    return this.#core.iterate(waitSignal(options))
  }

  /**
   * Stops listening and removes the socket file if it is still the one this
   * server created (same device and inode). Pending accepts reject with
   * `ERR_USE_AFTER_CLOSE` (iterators end); channels already accepted stay
   * open. Idempotent; never throws.
   * @see https://man7.org/linux/man-pages/man2/close.2.html
   * @see https://man7.org/linux/man-pages/man2/unlink.2.html
   */
  close(): void {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
    // Closing the handle removes the socket file too, if the path still
    // names the socket it bound (crates/node handle.rs, FdHandle): the same
    // happens when a never-closed server is collected or its worker ends.
    this.#core.close()
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    FdChannelServer.prototype.close.call(this)
  }

  /** Lets a pending accept keep the process alive (the default). Returns `this`. */
  ref(): this {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
    this.#core.setRef(true)
    return this
  }

  /** Lets the process exit even while an accept is pending. Returns `this`. */
  unref(): this {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
    this.#core.setRef(false)
    return this
  }

  /** Whether a pending accept keeps the process alive. */
  hasRef(): boolean {
    if (typeof this !== 'object' || this === null || !(#core in this)) throw invalidThis('FdChannelServer')
    return this.#core.refed
  }

  /**
   * `FdChannelServer { fd: 5, path: '/tmp/s.sock', abstract: false, closed: false, pending: 0, rejected: 0, uids: 'any', acceptRetry: 0 }`
   * (`uids`: the allowed uids, or `'any'`; `acceptRetry`: the pause under
   * way, in ms, after `accept4` ran out of fds, before it is tried again;
   * else 0).
   */
  [inspect.custom](depth: number, options: object): string {
    if (typeof this !== 'object' || this === null || !(#core in this)) return 'FdChannelServer {}'
    const body = {
      fd: this.#core.fd,
      path: this.#path,
      abstract: this.#abstract,
      closed: this.#core.fd < 0,
      pending: this.#core.pending,
      rejected: this.#rejected,
      uids: this.#uids === null ? 'any' : [...this.#uids],
      acceptRetry: this.#core.paused ? this.#retryMs : 0,
    }
    return shown(this, 'FdChannelServer', body, depth, options)
  }

  /**
   * `accept4` failed with an {@link ACCEPT_RETRY} error: stops accepting for
   * a while (5 ms, doubled on each failure in a row, up to 1 s; a failure
   * over 1 s after the last pause ended starts at 5 ms again), and says so
   * with a `LINUX_FD_ACCEPT_RETRY` warning as a run of failures starts, if
   * the server's last one is a minute old (else once it is, if the run
   * lasts that long). Returns "nothing yet" for the read.
   */
  #retryLater(core: FdCore<FdChannel>, errno: number): undefined {
    // A read made during a pause is not another failure of the retry
    // (s41-diff L2). No read is made then today (a wait reads at once only
    // with nobody queued, and a pause has a waiter queued), so this guards
    // a change to FdCore, and no test can reach it (s42-diff2 L3a).
    if (core.paused) return undefined
    // A failure is the next in a row if it came as the last pause ended (a
    // waiter still queued: the watch reads again at once). One over
    // ACCEPT_RETRY_MAX_MS after the pause ended (on time, or cut short as
    // the last waiter left) followed a time with nobody waiting, and starts
    // again at the first step: before, the doubling went on from the last
    // pause, however long ago it was (s42-diff2 L4). The end is the pause's
    // real end, not when it was due: a pause cut short by an abort kept
    // doubling, and a loop stalled past its due end restarted it (s43-diff M1).
    const inRow = this.#retryMs !== 0 && clock() - core.pauseEnded <= ACCEPT_RETRY_MAX_MS
    this.#retryMs = inRow ? Math.min(this.#retryMs * 2, ACCEPT_RETRY_MAX_MS) : ACCEPT_RETRY_FIRST_MS
    core.pause(this.#retryMs)
    // Once a run, not once a server: a second run of EMFILE hours later said
    // nothing (note43). At most once a minute, so that a server that runs
    // out of fds every few seconds does not fill its log; a run that starts
    // within that minute is reported once the minute is up, if it lasts
    // (else a short run's warning stood for a long one after it: s44-diff L1).
    if (!inRow) this.#unwarned = true
    const now = clock()
    if (this.#unwarned && now - this.#warnedAt >= ACCEPT_WARN_EVERY_MS) {
      this.#unwarned = false
      this.#warnedAt = now
      const e = errnoError(errno, 'accept4')
      try {
        process.emitWarning(
          `FdChannelServer at ${this.#path}: ${e.message}. Connections wait in the backlog; accepting is tried again after ${ACCEPT_RETRY_FIRST_MS} ms, backing off to ${ACCEPT_RETRY_MAX_MS} ms (this warning is shown as a run of failures starts, at most once a minute)`,
          { code: 'LINUX_FD_ACCEPT_RETRY' },
        )
      } catch {} // a replaced process.emitWarning: the retry goes on either way
    }
    return undefined
  }

  /** The core's `onShutdown` (closed or lost): the abort signal lets go of this server. */
  #shutdown(): void {
    if (this.#onAbort !== undefined) unlisten(this.#signal, this.#onAbort)
    this.#onAbort = undefined
    this.#signal = undefined
  }
}
