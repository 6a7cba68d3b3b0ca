/**
 * `util.inspect` output of the package's classes, in one place so every
 * class follows Node's rules the same way:
 * - a subclass shows its own name (`class Jobs extends Semaphore {}` shows
 *   as `Jobs { … }`), as Node's own classes do;
 * - past the depth limit an object shows as `[Name]`, as a class instance
 *   does in `util.inspect`;
 * - the state object is shown with the depth that is left, so an
 *   `inspect(x, { depth: 0 })` never prints more than its depth asks.
 * Not part of the public API (only what src/index.ts re-exports is).
 * @module
 */
import { inspect, type InspectOptions } from 'node:util'

/**
 * What `util.inspect` passes a custom inspector: its options and `stylize`.
 * Not `util.InspectOptionsStylized`: `@types/node` 26 renamed that type
 * (`InspectContext`), and a public signature naming it failed to compile
 * there (s44-user); the public `[util.inspect.custom]` methods take `object`.
 */
type InspectContext = InspectOptions & { stylize?: (text: string, styleType: string) => string }

/**
 * The name `util.inspect` shows for `self`: its class's (a subclass's own
 * name), or `base` where that cannot be read (a prototype whose
 * `constructor` is gone, a getter that throws, an anonymous class).
 */
export function nameOf(self: object, base: string): string {
  try {
    const c: unknown = Object.getPrototypeOf(self)?.constructor
    const name: unknown = typeof c === 'function' ? c.name : undefined
    return typeof name === 'string' && name !== '' ? name : base
  } catch {
    return base
  }
}

/**
 * A `[util.inspect.custom]` result: `Name { …state }`, or `[Name]` once the
 * depth is spent. `depth` and `options` are what `util.inspect` passed (a
 * direct call of the method may pass neither).
 * @param short - what to show past the depth limit instead of `[Name]`
 *   (`EventCounter { fd: 7 }`: the fd is what a log line needs).
 */
export function shown(self: object, base: string, state: object, depth: unknown, options: unknown, short?: object): string {
  const name = nameOf(self, base)
  const opts = (typeof options === 'object' && options !== null ? options : {}) as InspectContext
  const left = typeof depth === 'number' ? depth : 2
  if (left < 0) {
    if (short !== undefined) return `${name} ${inspect(short, { ...opts, depth: 0 })}`
    return typeof opts.stylize === 'function' ? opts.stylize(`[${name}]`, 'special') : `[${name}]`
  }
  return `${name} ${inspect(state, { ...opts, depth: opts.depth === null ? null : left })}`
}
