/**
 * Argument checks, with Node's codes and messages (see errors.ts). Every
 * public function checks its arguments here before its one native call, so
 * the binding receives only valid primitives.
 * Not part of the public API (only what src/index.ts re-exports is).
 * @module
 */
import { types } from 'node:util'

import { invalidArgType, invalidArgValue, outOfRange, useAfterClose } from './errors'

/** Largest value an eventfd counter holds (2^64-2). */
export const EVENTFD_MAX = 2n ** 64n - 2n
/** 2^64-1, the largest u64 (what the kernel itself may refuse). */
export const U64_MAX = 2n ** 64n - 1n

/** An object that carries an fd: a `fs.promises.FileHandle`, or one of this package's objects. */
export interface HasFd {
  /** The fd number. */
  readonly fd: number
}

/**
 * Something with an fd: an fd number, or an object with a numeric `fd`
 * property. A closed object of a class (a linux-fd object, a `FileHandle`:
 * `fd` -1) is `ERR_USE_AFTER_CLOSE` naming the class, as its own methods
 * throw after `close()` (also for a linux-fd object whose fd was found
 * closed outside the package, whose own methods say `EBADF`); a negative
 * number, or a plain object's, is `ERR_OUT_OF_RANGE`.
 */
export type FdLike = number | HasFd

/** Options of a wait that an `AbortSignal` can end (`take`, `acquire`, `wait`, `receive`, `accept`). */
export interface WaitOptions {
  /** Ends the wait: the promise rejects with an `AbortError` (the signal's reason as `cause`), and nothing is taken. */
  signal?: AbortSignal | undefined
}

/** A non-negative int32 fd from a number or an object's `fd` property. */
export function toFd(value: unknown, name = 'fd'): number {
  let fd = value
  if (typeof value === 'object' && value !== null) fd = (value as { fd?: unknown }).fd
  if (typeof fd !== 'number') {
    const err = invalidArgType(name, 'of type number or an object with a numeric fd property', value)
    // What a linux-fd object becomes in `workerData` or a `postMessage`:
    // the structured clone keeps no private field (s37-app L3).
    if (fd === undefined && isEmptyPlainObject(value)) err.message += ' (an object posted to a worker arrives as {}: post its fd number)'
    throw err
  }
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
    // A closed linux-fd object or FileHandle says -1: name it, as its own
    // methods would. A plain `{ fd: -1 }` is just a bad number.
    const closed = fd === -1 && value !== fd ? className(value as object) : undefined
    if (closed !== undefined) throw useAfterClose(closed)
    throw outOfRange(name, '>= 0 && <= 2147483647', fd)
  }
  return fd
}

/** Whether `value` is `{}`: a plain object with no own keys (and no proxy). */
function isEmptyPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || types.isProxy(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return (proto === Object.prototype || proto === null) && Reflect.ownKeys(value).length === 0
}

/** The class name of an object of a class (`Semaphore`, `FileHandle`); undefined for a plain object. */
function className(value: object): string | undefined {
  try {
    const name: unknown = value.constructor?.name
    return typeof name === 'string' && name !== '' && name !== 'Object' ? name : undefined
  } catch {
    return undefined
  }
}

/** An integer number in `min … max` (inclusive), or `dflt` when undefined. */
export function toInt(value: unknown, name: string, min: number, max: number, dflt?: number): number {
  if (value === undefined && dflt !== undefined) return dflt
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(name, Number.isInteger(value) ? `>= ${min} && <= ${max}` : 'an integer', value)
  }
  return value
}

/** An int32 (C `int`), as flags and commands are. */
export function toInt32(value: unknown, name: string, dflt?: number): number {
  return toInt(value, name, -0x80000000, 0x7fffffff, dflt)
}

/** A safe integer or a bigint in `min … max`, as a bigint. */
export function toBigInt(value: unknown, name: string, min: bigint, max: bigint): bigint {
  let v: bigint
  if (typeof value === 'bigint') v = value
  else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw outOfRange(name, 'a safe integer or a bigint', value)
    v = BigInt(value)
  } else throw invalidArgType(name, 'of type number or bigint', value)
  if (v < min || v > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value)
  return v
}

/** A boolean, or `dflt` when undefined. */
export function toBool(value: unknown, name: string, dflt: boolean): boolean {
  if (value === undefined) return dflt
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value)
  return value
}

// %TypedArray%.prototype[Symbol.toStringTag]'s getter reads a view's own
// kind from its internal slot (a prototype swapped by user code cannot fool
// it, as it fools `instanceof`), and V8 inlines it.
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object
/** A prototype's getter, taken at load. */
function getterOf<T>(proto: object, key: PropertyKey): (this: unknown) => T {
  return Object.getOwnPropertyDescriptor(proto, key)!.get as (this: unknown) => T
}
const typedArrayKind = getterOf<string | undefined>(TypedArrayPrototype, Symbol.toStringTag)
// The getters of a view's length, buffer and offset, which read its internal
// slots: an own `length` (Object.defineProperty) or a getter on a swapped
// prototype changes what `view.length` says, not these (s52-fcntl MED-1: a
// 4-byte array claiming 1000 got a 1000-byte copy of stale pool memory).
const typedArrayLength = getterOf<number>(TypedArrayPrototype, 'length')
const typedArrayBuffer = getterOf<ArrayBufferLike>(TypedArrayPrototype, 'buffer')
const typedArrayByteOffset = getterOf<number>(TypedArrayPrototype, 'byteOffset')
const typedArrayByteLength = getterOf<number>(TypedArrayPrototype, 'byteLength')
const dataViewBuffer = getterOf<ArrayBufferLike>(DataView.prototype, 'buffer')
const dataViewByteOffset = getterOf<number>(DataView.prototype, 'byteOffset')
const dataViewByteLength = getterOf<number>(DataView.prototype, 'byteLength')
const arrayBufferByteLength = getterOf<number>(ArrayBuffer.prototype, 'byteLength')
const sharedArrayBufferByteLength = getterOf<number>(SharedArrayBuffer.prototype, 'byteLength')

const NO_BYTES = new Uint8Array(0)
// Taken at load: user code replacing these globals later cannot change how
// arguments are read.
const isView = ArrayBuffer.isView
const { isArrayBuffer, isSharedArrayBuffer } = types

/**
 * The bytes of an `ArrayBufferView`, `ArrayBuffer` or `SharedArrayBuffer`,
 * without a copy, or undefined for anything else: a `Uint8Array` (or
 * `Buffer`) as it is, any other view as a new `Uint8Array` over the same
 * bytes. An `Int16Array` whose prototype was set to `Uint8Array.prototype`
 * is still read as its 2-byte elements' bytes. A view's buffer, offset and
 * length are read from its internal slots (the getters taken at load), never
 * from properties user code can shadow; read the length of the result with
 * `byteCount`, not `.length`, which a `Uint8Array` returned as it is
 * may shadow.
 *
 * One rule for every argument that takes bytes (`fcntl`, `ioctl`,
 * `MemFile`, `FdChannel.send`): a detached buffer, a view of one, or a view
 * out of bounds of a shrunk resizable buffer has no bytes. A `Uint8Array`
 * of one already has length 0; a `DataView`'s `byteLength` throws, and such
 * a buffer cannot be viewed again, which used to surface as a `TypeError`
 * with no `code`.
 */
export function bufferBytes(value: unknown): Uint8Array | undefined {
  if (isView(value)) {
    const kind = typedArrayKind.call(value)
    if (kind === 'Uint8Array') return value as Uint8Array
    try {
      return kind === undefined
        ? new Uint8Array(dataViewBuffer.call(value), dataViewByteOffset.call(value), dataViewByteLength.call(value))
        : new Uint8Array(typedArrayBuffer.call(value), typedArrayByteOffset.call(value), typedArrayByteLength.call(value))
    } catch {
      return NO_BYTES
    }
  }
  if (isArrayBuffer(value)) return arrayBufferByteLength.call(value) === 0 ? NO_BYTES : new Uint8Array(value)
  if (isSharedArrayBuffer(value)) return sharedArrayBufferByteLength.call(value) === 0 ? NO_BYTES : new Uint8Array(value)
  return undefined
}

/**
 * The number of bytes of a `Uint8Array` (as `bufferBytes` returns),
 * read from its internal slot: an own or inherited `length` property that
 * user code defined cannot change it.
 */
export function byteCount(bytes: Uint8Array): number {
  return typedArrayLength.call(bytes)
}

/** A string. */
export function toStr(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value)
  return value
}

/**
 * An options object (or `{}` for undefined), whose keys must all be in
 * `allowed`: a typo such as `{ timeout: 100 }` is `ERR_INVALID_ARG_VALUE`
 * naming the key, never silently ignored.
 */
export function toOptions<K extends string>(value: unknown, name: string, allowed: readonly K[]): Partial<Record<K, unknown>> {
  if (value === undefined || value === null) return NO_OPTIONS as Partial<Record<K, unknown>>
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidArgType(name, 'of type object', value)
  // A signal has no own enumerable key, so the check below would take it as
  // empty options, and `take(signal)` would wait for ever (s39-types M1).
  // Any object toSignal() takes as a signal (a polyfill's too: s39-diff L1).
  if ('aborted' in value && typeof (value as { addEventListener?: unknown }).addEventListener === 'function') {
    throw invalidArgType(name, 'an options object (pass { signal }, not the signal itself)', value)
  }
  // for-in, not Object.keys(): no array made per call (about 10 ns of a
  // 2.5 µs timerfd pair). It also visits inherited enumerable keys, so only
  // own ones are reported, the keys Object.keys() would give.
  for (const key in value) {
    if (!(allowed as readonly string[]).includes(key) && Object.hasOwn(value, key)) {
      throw invalidArgValue(`${name}.${key}`, (value as Record<string, unknown>)[key], `is not a known option (known: ${allowed.join(', ')})`)
    }
  }
  return value as Partial<Record<K, unknown>>
}

/** What `toOptions` returns for no options: one frozen object, not a new one per call. */
const NO_OPTIONS: Readonly<Record<string, undefined>> = Object.freeze({})

/** An `AbortSignal` (or an object with its `aborted` and listener methods), or undefined. */
export function toSignal(value: unknown, name = 'options.signal'): AbortSignal | undefined {
  if (value === undefined) return undefined
  if (
    typeof value !== 'object' ||
    value === null ||
    !('aborted' in value) ||
    typeof (value as AbortSignal).addEventListener !== 'function' ||
    typeof (value as AbortSignal).removeEventListener !== 'function'
  ) {
    throw invalidArgType(name, 'an instance of AbortSignal', value)
  }
  return value as AbortSignal
}

/**
 * The `signal` of a wait's options (`take`, `acquire`, `wait`, `receive`,
 * `accept` and the `iterate`s all take `{ signal }` and nothing else), or
 * undefined.
 */
export function waitSignal(options: unknown): AbortSignal | undefined {
  return toSignal(toOptions(options, 'options', ['signal']).signal)
}

/**
 * Removes an abort listener; never throws. The signal may be any object
 * that passed {@link toSignal}, whose `removeEventListener` may throw: the
 * callers run where a throw would leave a waiter unsettled after its value
 * was read (a watch callback) or a queue half-served.
 */
export function unlisten(signal: AbortSignal | undefined, onAbort: () => void): void {
  try {
    signal?.removeEventListener('abort', onAbort)
  } catch {}
}

/**
 * `{ adopt }` of the `fromFd` factories, given their `fd` argument. Adopting
 * takes a plain fd number: an object with an `fd` (a `FileHandle`, a
 * linux-fd object) goes on owning it, so adopting its number would leave
 * two owners of one fd (the `FileHandle`'s `close()` closed it under the
 * adopting object).
 */
export function toAdopt(options: unknown, fd: unknown, more: readonly string[] = []): boolean {
  const o = toOptions(options, 'options', ['adopt', ...more])
  const adopt = toBool(o.adopt, 'options.adopt', false)
  if (adopt && typeof fd !== 'number') {
    throw invalidArgType('fd', 'of type number with { adopt: true } (an object with an fd keeps owning it: leave adopt out to duplicate it)', fd)
  }
  return adopt
}
