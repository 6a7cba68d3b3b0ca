// Reads the per-process memcheck logs that scripts/valgrind-ava.sh leaves and
// sorts their error records into ours (the stack names the addon or one of
// our crates) and the rest (node, V8, libc). Prints ours in full, the rest as
// a count per kind. Exits 1 if any record is ours and not in KNOWN below.
//
//   node scripts/valgrind-summary.mjs <log dir> <addon file name>
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const [dir, addon] = process.argv.slice(2)
if (!dir || !addon) {
  console.error('usage: node scripts/valgrind-summary.mjs <log dir> <addon file name>')
  process.exit(2)
}
const oursRe = new RegExp(`${addon.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|linux_fd_(core|node)`)

// Records through the addon that are understood, each with its reason
// (docs/notes-reliability.md): printed, but they do not fail the run.
const KNOWN = [
  {
    re: /definitely lost[\s\S]*napi_async_init[\s\S]*EnvState::get/,
    why: 'EnvState never calls napi_async_destroy on its async context: 40 bytes once per env (process or worker)',
  },
  {
    re: /definitely lost[\s\S]*napi_create_promise/,
    why: 'a promise still pending when its env stopped (a worker terminated mid-wait): Node-API cannot free an unsettled deferred once the env can no longer run JS',
  },
  {
    re: /^Syscall param ioctl\(FIONREAD\) points to unaddressable[\s\S]*ioctl_int/,
    why: "deliberate: fcntl.spec's EFAULT test passes an integer address to a pointer-taking ioctl",
  },
]

const ours = []
const known = []
const noise = new Map()
let processes = 0
let suppressed = 0
let withErrors = 0
const unfinished = []
for (const name of readdirSync(dir).filter((n) => n.endsWith('.log')).sort()) {
  const lines = readFileSync(join(dir, name), 'utf8')
    .split('\n')
    .filter((l) => /^==\d+== ?/.test(l))
    .map((l) => l.replace(/^==\d+== ?/, ''))
    // valgrind's own notes (large mappings): not errors, and not followed by a blank line
    .filter((l) => !l.startsWith('Warning: '))
  processes++
  const command = (lines.find((l) => l.startsWith('Command: ')) ?? 'Command: ?').slice(9)
  const summary = lines.find((l) => l.startsWith('ERROR SUMMARY:'))
  const m = summary && /(\d+) errors from .*suppressed: (\d+)/.exec(summary)
  if (m) {
    suppressed += Number(m[2])
    if (Number(m[1]) > 0) withErrors++
  }
  // Records are separated by blank lines; an error record has a stack.
  let para = []
  const paras = []
  for (const l of [...lines, '']) {
    if (l.trim() === '') {
      if (para.length) paras.push(para)
      para = []
    } else para.push(l)
  }
  for (const p of paras) {
    if (!p.some((l) => /^\s+(at|by) 0x/.test(l))) continue
    const text = p.join('\n')
    if (oursRe.test(text)) {
      const k = KNOWN.find((k) => k.re.test(text))
      if (k) known.push(`${name}: ${p[0]}\n      known: ${k.why}`)
      else ours.push(`--- ${name} (${command})\n${text}`)
    } else {
      const kind = p[0]
        .replace(/\d[\d,]*/g, 'N')
        .replace(/ in loss record .*/, '')
      noise.set(kind, (noise.get(kind) ?? 0) + 1)
    }
  }
  if (!summary) unfinished.push(`${name} (${command.slice(0, 100)})`)
}

console.log(`=== valgrind summary: ${processes} process logs in ${dir}`)
if (unfinished.length) {
  console.log(`    ${unfinished.length} processes did not finish normally (killed, e.g. by a test's timeout), so no leak check:`)
  for (const u of unfinished.slice(0, 5)) console.log(`      ${u}`)
  if (unfinished.length > 5) console.log(`      …`)
}
console.log(`    processes with unsuppressed errors: ${withErrors}; suppressed errors: ${suppressed}`)
console.log(`    records naming the addon or our crates, known and explained: ${known.length}`)
for (const r of known) console.log(`    ${r}`)
console.log(`    records naming the addon or our crates, not known: ${ours.length}`)
for (const r of ours) console.log(r + '\n')
console.log(`    other records (node, V8, libc), by kind: ${noise.size ? '' : 'none'}`)
for (const [k, n] of [...noise].sort((a, b) => b[1] - a[1])) console.log(`      ${n} x ${k}`)
process.exit(ours.length ? 1 : 0)
