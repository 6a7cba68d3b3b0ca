// scripts/check-safety.mjs, the SAFETY-comment gate of .ci/run, checked on
// planted Rust files: it must flag what lacks a comment, including code that
// hides behind a '"' char literal (issue 16), and pass what has one.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const script = fileURLToPath(new URL('../scripts/check-safety.mjs', import.meta.url))

function check(files: Record<string, string>): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'check-safety-'))
  mkdirSync(join(dir, 'src'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'src', name), text)
  try {
    const r = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' })
    return { status: r.status, out: r.stdout + r.stderr }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('an unsafe block after a \'"\' char literal on the same line is still found', (t) => {
  const r = check({ 'x.rs': `fn f() {\n    let q = '"'; let p = unsafe { g() };\n}\n` })
  t.is(r.status, 1, r.out)
  t.regex(r.out, /x\.rs:2: unsafe block without/)
})

test('a SAFETY comment within 3 lines passes; lifetimes and escaped char literals do not confuse it', (t) => {
  const r = check({
    'y.rs': `fn f() {\n    // SAFETY: g has no preconditions.\n    let q = '"'; let p = unsafe { g() };\n}\nfn h<'a>(x: &'a u8) -> char { '\\'' }\n`,
  })
  t.is(r.status, 0, r.out)
})

test('a SAFETY comment further than 3 lines up does not count', (t) => {
  const r = check({ 'z.rs': `fn f() {\n    // SAFETY: too far.\n    a();\n    b();\n    c();\n    unsafe { g() };\n}\n` })
  t.is(r.status, 1, r.out)
})
