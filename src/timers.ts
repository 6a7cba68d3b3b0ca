// The timer functions the package schedules its own work with, taken at
// load: fake timers installed later (Jest's `useFakeTimers()`, Sinon's
// `FakeTimers.install()`) replace the globals, and a value already read, a
// lock already granted or a send already queued must not wait for a test to
// advance a fake clock. A lock wait settled through the global
// `setImmediate` stayed pending under fake timers while the kernel lock was
// already taken (lock.spec, "fake timers").

/** `setImmediate` as it was when the package loaded. */
export const later: typeof setImmediate = setImmediate
/** `setTimeout` as it was when the package loaded. */
export const after: typeof setTimeout = setTimeout
/** `clearTimeout` as it was when the package loaded (it must match {@link after}). */
export const cancelAfter: typeof clearTimeout = clearTimeout
