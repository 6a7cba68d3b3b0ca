/**
 * linux-fd: Linux file-descriptor primitives for Node.js, awaited on Node's
 * own event loop: eventfd as {@link EventCounter} and {@link Semaphore},
 * memfd as {@link MemFile}, timerfd as {@link Timer}, file locks
 * ({@link lockFile}), and the Python-style low-level functions of `os` and
 * `fcntl`.
 * @packageDocumentation
 */
export * from './eventfd'
export * from './memfd'
export * from './timerfd'
export * from './fcntl'
export * from './lock'
export * from './channel'
export { waitBackend } from './waiter'
export type { FdIterator } from './waiter'
export { AbortError } from './errors'
export type { ErrnoError } from './errors'
export type { FdLike, HasFd, WaitOptions } from './validate'
