// The generated loader's musl detection, by simulation: no musl system is
// reachable here. A child process preloads __test__/fixtures/loader-mocks.cjs,
// which stubs /usr/bin/ldd, process.report and `ldd --version`, then requires
// a copy of the generated loader, binding.js, from a temp dir (so neither the local .node nor a
// platform package can be found) and reports what the loader tried.
import test, { type ExecutionContext } from 'ava'
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// ava runs every spec with the project root as its working directory.
const fixtures = join(process.cwd(), '__test__', 'fixtures')
const GLIBC_LDD = '#! /bin/bash\n# ldd: print shared object dependencies\nTEXTDOMAIN=libc\nRTLDLIST="/lib64/ld-linux-x86-64.so.2"\n'
const MUSL_LDD = '#!/bin/sh\nexec /lib/ld-musl-x86_64.so.1 --list "$@"\n'
const GLIBC_REPORT = {
  header: { glibcVersionRuntime: '2.36', glibcVersionCompiler: '2.28' },
  sharedObjects: ['/lib/x86_64-linux-gnu/libc.so.6'],
}
const MUSL_REPORT = { header: {}, sharedObjects: ['/lib/ld-musl-x86_64.so.1', '/usr/lib/libstdc++.so.6'] }

interface Mock {
  ldd: string | null
  report: object | null
  lddCmd?: string | null
  arch?: string
}
interface Outcome {
  loaded: boolean
  tried: string[]
  probes: string[]
}

let dir: string
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'linux-fd-loader-'))
  copyFileSync(join(process.cwd(), 'binding.js'), join(dir, 'binding.js'))
})
test.after.always(() => rmSync(dir, { recursive: true, force: true }))

// The simulated arch is x64 unless a case says otherwise: the cases name the
// x64 packages and must pass on any host, arm64 under emulation included.
function load(mock: Mock): Outcome {
  const out = execFileSync(
    process.execPath,
    ['--require', join(fixtures, 'loader-mocks.cjs'), join(fixtures, 'load-and-report.cjs'), join(dir, 'binding.js')],
    { env: { ...process.env, LOADER_MOCK: JSON.stringify({ lddCmd: null, arch: 'x64', ...mock }) }, encoding: 'utf8' },
  )
  return JSON.parse(out)
}

/** The platform suffixes (`linux-x64-gnu`, …) the loader tried, files and packages. */
function triedPlatforms(o: Outcome): string[] {
  const found = new Set<string>()
  for (const m of o.tried) {
    for (const hit of m.matchAll(/linux-(x64|arm64)-(gnu|musl)/g)) found.add(hit[0])
  }
  return [...found]
}

function assertTried(t: ExecutionContext, o: Outcome, platform: string) {
  t.false(o.loaded)
  t.deepEqual(triedPlatforms(o), [platform])
  t.true(o.tried.some((m) => m.includes(`Cannot find module './linux-fd.${platform}.node'`)), 'the local .node')
  t.true(o.tried.some((m) => m.includes(`Cannot find module 'linux-fd-${platform}'`)), 'the platform package')
}

test('a glibc /usr/bin/ldd picks linux-x64-gnu without asking process.report', (t) => {
  const o = load({ ldd: GLIBC_LDD, report: MUSL_REPORT })
  assertTried(t, o, 'linux-x64-gnu')
  t.deepEqual(o.probes, ['ldd-file'])
})

test('a musl /usr/bin/ldd picks linux-x64-musl', (t) => {
  const o = load({ ldd: MUSL_LDD, report: GLIBC_REPORT })
  assertTried(t, o, 'linux-x64-musl')
  t.deepEqual(o.probes, ['ldd-file'])
})

test('without /usr/bin/ldd, a glibcVersionRuntime report header picks linux-x64-gnu', (t) => {
  const o = load({ ldd: null, report: GLIBC_REPORT })
  assertTried(t, o, 'linux-x64-gnu')
  t.deepEqual(o.probes, ['ldd-file', 'getReport(excludeNetwork=true)'])
})

test('without /usr/bin/ldd, a report with no glibc header and a musl shared object picks linux-x64-musl', (t) => {
  const o = load({ ldd: null, report: MUSL_REPORT })
  assertTried(t, o, 'linux-x64-musl')
})

test('the loader sets process.report.excludeNetwork before getReport(), so a slow reverse DNS cannot hang it', (t) => {
  const o = load({ ldd: null, report: GLIBC_REPORT })
  t.true(o.probes.includes('getReport(excludeNetwork=true)'), o.probes.join(', '))
})

test('with no /usr/bin/ldd, no process.report and no ldd command, the loader falls back to gnu', (t) => {
  const o = load({ ldd: null, report: null, lddCmd: null })
  assertTried(t, o, 'linux-x64-gnu')
  t.deepEqual(o.probes, ['ldd-file', 'ldd-command'])
})

test('with no /usr/bin/ldd and no process.report, `ldd --version` naming musl picks linux-x64-musl', (t) => {
  const o = load({ ldd: null, report: null, lddCmd: 'musl libc (x86_64)\nVersion 1.2.5\n' })
  assertTried(t, o, 'linux-x64-musl')
  t.deepEqual(o.probes, ['ldd-file', 'ldd-command'])
})

test('on arm64 the same detection picks linux-arm64-gnu or linux-arm64-musl', (t) => {
  assertTried(t, load({ ldd: null, report: GLIBC_REPORT, arch: 'arm64' }), 'linux-arm64-gnu')
  assertTried(t, load({ ldd: null, report: MUSL_REPORT, arch: 'arm64' }), 'linux-arm64-musl')
})
