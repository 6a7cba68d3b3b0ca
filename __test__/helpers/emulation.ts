// Emulation: the arm64 suites also run under qemu-user on an x86_64 machine
// (scripts/platforms/test-node-arm64.sh), where Node runs several times
// slower than on hardware and a child Node takes seconds to start.
import { readFileSync } from 'node:fs'

const read = (path: string): string => {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

/**
 * Whether this process is emulated by qemu-user on an x86 host: non-x64 code
 * that sees an x86 CPU. qemu-user 7.2 passes the host's /proc/cpuinfo
 * through (vendor_id); newer qemu-user makes up an arm64 one for an aarch64
 * guest, but sysfs is still the host's (/sys/devices/system/cpu/modalias
 * reads `cpu:type:x86,…`), so either one tells. Without this, every
 * scaled() bound would silently turn back to native speed.
 */
export const underQemu =
  process.arch !== 'x64' &&
  (/^vendor_id\s*:/m.test(read('/proc/cpuinfo')) || read('/sys/devices/system/cpu/modalias').startsWith('cpu:type:x86'))

/**
 * What a wall-clock bound written for native speed is multiplied by: 1
 * natively, 10 under qemu-user. A test that scales a bound says so with
 * `t.log` (see `scaled`), so a pass under emulation is never a silent one.
 */
export const SLOWDOWN = underQemu ? 10 : 1

/** `ms` times SLOWDOWN, logged through `log` (a test's t.log) when scaled. */
export function scaled(ms: number, log: (m: string) => void, what: string): number {
  if (SLOWDOWN !== 1) log(`under qemu-user: ${what} bound ${ms} ms scaled x${SLOWDOWN} to ${ms * SLOWDOWN} ms`)
  return ms * SLOWDOWN
}
