#!/usr/bin/env node
// Checks the ELF of every built artifact (.cache/artifacts/<target>/*.node,
// from scripts/platforms/build-all.sh) and prints a table:
//   - the machine is the target's (x86-64 / AArch64);
//   - musl: no GLIBC_ symbol version at all;
//   - gnu: the newest glibc it needs is at most MAX_GLIBC[target], the number
//     docs/platforms.md states (checked too: the two must agree). "Needs" is
//     the newest GLIBC_ symbol version AND the glibc that introduced each
//     unversioned strong libc symbol: a sysroot older than a function links
//     it without a version (memfd_create against glibc 2.17), and the loader
//     then fails on any glibc that lacks it. An unversioned symbol not in
//     UNVERSIONED below fails the check, so a new one gets looked at;
//   - its NEEDED libraries are exactly the expected set.
// Uses binutils' readelf. Exit 1 on any failure.
//   node scripts/platforms/check-elf.mjs [--target <triple>]... [dir]
//   (default: all four, in .cache/artifacts)
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '../..')
const args = process.argv.slice(2)
const only = []
while (args[0] === '--target') only.push(args.splice(0, 2)[1])
const dir = resolve(args[0] ?? join(root, '.cache/artifacts'))

const TARGETS = {
  'x86_64-unknown-linux-gnu': {
    abi: 'linux-x64-gnu',
    machine: 'Advanced Micro Devices X86-64',
    // glibc 2.17 still had libdl/librt/libpthread apart from libc
    needed: ['libc.so.6', 'libdl.so.2', 'libgcc_s.so.1', 'libpthread.so.0', 'librt.so.1', 'ld-linux-x86-64.so.2'],
  },
  'aarch64-unknown-linux-gnu': {
    abi: 'linux-arm64-gnu',
    machine: 'AArch64',
    // Debian's aarch64 std links no librt
    needed: ['libc.so.6', 'libdl.so.2', 'libgcc_s.so.1', 'libpthread.so.0', 'ld-linux-aarch64.so.1'],
  },
  'x86_64-unknown-linux-musl': {
    abi: 'linux-x64-musl',
    machine: 'Advanced Micro Devices X86-64',
    needed: ['libc.so', 'libgcc_s.so.1'],
  },
  'aarch64-unknown-linux-musl': {
    abi: 'linux-arm64-musl',
    machine: 'AArch64',
    needed: ['libc.so'],
  },
}
// The newest glibc each gnu build may need. docs/platforms.md states these
// numbers ("needs glibc X.Y or newer" in the target's row); keep them equal.
const MAX_GLIBC = {
  'x86_64-unknown-linux-gnu': '2.27',
  'aarch64-unknown-linux-gnu': '2.27',
}
// Strong, unversioned, undefined symbols a gnu build may have, with the glibc
// release that added each (weak ones are optional: std looks them up).
const UNVERSIONED = {
  memfd_create: '2.27',
}

const readelf = (...args) => execFileSync('readelf', ['-W', ...args], { encoding: 'utf8' })
const cmpVer = (a, b) => {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number))
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0)
  }
  return 0
}

const doc = existsSync(join(root, 'docs/platforms.md')) ? readFileSync(join(root, 'docs/platforms.md'), 'utf8') : ''
const rows = []
let failed = false
for (const [target, want] of Object.entries(TARGETS)) {
  if (only.length && !only.includes(target)) continue
  const file = join(dir, target, `linux-fd.${want.abi}.node`)
  const row = { target, machine: '-', glibc: '-', needed: '-', result: 'ok' }
  const problems = []
  if (!existsSync(file)) {
    problems.push(`missing ${file}`)
  } else {
    const machine = /Machine:\s*(.+)/.exec(readelf('-h', file))?.[1].trim() ?? '?'
    row.machine = machine
    if (machine !== want.machine) problems.push(`machine ${machine}, want ${want.machine}`)

    const versions = [...readelf('-V', file).matchAll(/Name: (GLIBC_[0-9.]+)/g)].map((m) => m[1].slice(6))
    const newest = versions.sort(cmpVer).at(-1)
    if (target.endsWith('-musl')) {
      row.glibc = versions.length ? `GLIBC_${newest}!` : 'none'
      if (versions.length) problems.push(`musl build needs GLIBC_ versions: ${versions.join(' ')}`)
    } else {
      const max = MAX_GLIBC[target]
      let need = newest ?? '0'
      const why = []
      const und = readelf('--dyn-syms', file)
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f[4] === 'GLOBAL' && f[6] === 'UND' && f[7] && !f[7].includes('@'))
        .map((f) => f[7])
      for (const sym of und) {
        const since = UNVERSIONED[sym]
        if (!since) {
          problems.push(`unversioned undefined symbol ${sym}: add it to UNVERSIONED with the glibc that introduced it`)
        } else {
          why.push(`${sym} ${since}`)
          if (cmpVer(since, need) > 0) need = since
        }
      }
      row.glibc = `${need} (versions <= ${newest}${why.length ? ', unversioned ' + why.join(' ') : ''}; max ${max})`
      if (cmpVer(need, max) > 0) problems.push(`needs glibc ${need} > ${max}`)
      const stated = new RegExp(`${target}[^\\n]*needs glibc ${max.replace('.', '\\.')} or newer`)
      if (!stated.test(doc)) problems.push(`docs/platforms.md does not state "${target} ... needs glibc ${max} or newer"`)
    }

    const needed = [...readelf('-d', file).matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g)].map((m) => m[1])
    row.needed = needed.join(' ')
    const extra = needed.filter((n) => !want.needed.includes(n))
    const absent = want.needed.filter((n) => !needed.includes(n))
    if (extra.length || absent.length) {
      problems.push(`NEEDED differs: unexpected [${extra.join(' ')}], missing [${absent.join(' ')}]`)
    }
  }
  if (problems.length) {
    failed = true
    row.result = 'FAIL: ' + problems.join('; ')
  }
  rows.push(row)
}

const cols = ['target', 'machine', 'glibc', 'needed', 'result']
const width = Object.fromEntries(cols.map((c) => [c, Math.max(c.length, ...rows.map((r) => r[c].length))]))
const line = (r) => '| ' + cols.map((c) => r[c].padEnd(width[c])).join(' | ') + ' |'
console.log(line(Object.fromEntries(cols.map((c) => [c, c]))))
console.log('|' + cols.map((c) => '-'.repeat(width[c] + 2)).join('|') + '|')
for (const r of rows) console.log(line(r))
if (failed) {
  console.error('check-elf: FAILED')
  process.exit(1)
}
console.log(`check-elf: ${rows.length} artifacts ok`)
