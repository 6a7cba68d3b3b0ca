// Fails, listing each one, if an `unsafe` block, fn or impl under crates/
// lacks its justification just above it:
//   unsafe { … }, unsafe impl   need a `// SAFETY:` comment,
//   unsafe fn (any ABI)         needs a `// SAFETY:` comment or a `# Safety`
//                               section in its `///` doc comment,
// The `// SAFETY:` line must be one of the 3 lines just above (the project's
// rule: a longer explanation goes above it, the SAFETY line next to the
// code). A `# Safety` doc section may be further up its doc comment. A blank
// line ends the search.
//
//   node scripts/check-safety.mjs [dir…]     (default: crates)
//
// Whether the comment says *why* the block holds is for review; this only
// checks that one is there.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const roots = process.argv.length > 2 ? process.argv.slice(2) : ['crates']

function* rustFiles(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'target' || name === 'node_modules') continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) yield* rustFiles(p)
    else if (name.endsWith('.rs')) yield p
  }
}

/** The line without string/char literals and without a trailing // comment. */
function codeOf(line) {
  let out = ''
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (c === '"') {
      // skip to the closing quote (escapes honoured); raw strings are rare here
      for (i++; i < line.length && line[i] !== '"'; i++) if (line[i] === '\\') i++
      out += '""'
    } else if (c === "'") {
      // A char literal ('"', '\'', '\u{22}') is skipped whole, so its quote
      // cannot open a fake string; a lifetime ('a) is kept as it is.
      const lit = /^'(\\(u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'/.exec(line.slice(i))
      if (lit) {
        out += "''"
        i += lit[0].length - 1
      } else {
        out += c
      }
    } else if (c === '/' && line[i + 1] === '/') {
      break
    } else {
      out += c
    }
  }
  return out
}

const isComment = (l) => /^\s*\/\//.test(l)
// `unsafe {`, `unsafe impl`, `unsafe fn`, `unsafe extern "C" fn name` (a
// definition, not an `unsafe extern "C" fn(…)` pointer type), `unsafe extern` blocks.
const KINDS = [
  { re: /\bunsafe\s*\{/g, kind: 'unsafe block', doc: false },
  { re: /\bunsafe\s+impl\b/g, kind: 'unsafe impl', doc: false },
  { re: /\bunsafe\s+(extern\s+""\s+)?fn\s+[A-Za-z_$]/g, kind: 'unsafe fn', doc: true },
  { re: /\bunsafe\s+extern\s+""\s*\{/g, kind: 'unsafe extern block', doc: false },
]

const problems = []
let count = 0
for (const root of roots) {
  for (const file of rustFiles(root)) {
    const lines = readFileSync(file, 'utf8').split('\n')
    lines.forEach((line, i) => {
      if (isComment(line)) return
      const code = codeOf(line)
      for (const { re, kind, doc } of KINDS) {
        for (const _ of code.matchAll(re)) {
          count++
          if (!justified(lines, i, doc)) {
            problems.push(`${relative('.', file)}:${i + 1}: ${kind} without ${doc ? '`// SAFETY:` or `/// # Safety`' : '`// SAFETY:`'} above it\n    ${line.trim()}`)
          }
        }
      }
    })
  }
}

function justified(lines, i, acceptDoc) {
  // A comment on the same line, before the keyword, also counts.
  if (/\/\/\s*SAFETY:/.test(lines[i].split(/\bunsafe\b/)[0])) return true
  for (let j = i - 1; j >= 0; j--) {
    const l = lines[j]
    if (l.trim() === '') return false
    const near = i - j <= 3
    if (near && /\/\/\s*SAFETY:\s*\S/.test(l)) return true // own line, or trailing
    if (acceptDoc && /^\s*\/\/\/\s*#\s*Safety\b/.test(l)) return true
    if (!near && !(acceptDoc && /^\s*(\/\/\/|#\[)/.test(l))) return false
  }
  return false
}

if (problems.length) {
  console.error(problems.join('\n'))
  console.error(`\ncheck-safety: ${problems.length} of ${count} unsafe items lack a justification`)
  process.exit(1)
}
console.log(`check-safety: all ${count} unsafe items under ${roots.join(', ')} carry a SAFETY comment or # Safety doc`)
