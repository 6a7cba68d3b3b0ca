// Type-checked with `tsc --strict` (NodeNext) as an ES module: its import
// resolves through the `import` condition to index.d.mts, which must give
// the same named exports as index.mjs and, as its default export, the
// CommonJS entry's object.
import lfd, { EventCounter, testLock, type LockConflict, type WaitOptions } from 'linux-fd'

export async function esm(path: string, options: WaitOptions): Promise<bigint> {
  const c: LockConflict | null = testLock(path)
  console.log(c?.kind)
  // The default export is the whole API: the same class as the named export.
  const Same: typeof EventCounter = lfd.EventCounter
  using counter = new Same(1)
  const n: bigint = await counter.take(options)
  // @ts-expect-error the default export has no `default` of its own
  void lfd.default
  return n + BigInt(lfd.EFD_CLOEXEC)
}
