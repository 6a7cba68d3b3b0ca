// The README and the other user docs are tested as a user would read them:
// - every ```ts or ```js block is a runnable program: each runs in a fresh
//   process (`.ts` as an ES module through tsx, `.js` as CommonJS), with
//   `linux-fd` resolving to this checkout, and must exit 0 within the timeout;
// - a block marked `<!-- excerpt: examples/<file> -->` is a quote of that
//   example (which examples.spec.ts runs): each of its code lines must be a
//   line of that file, so the quote cannot drift from the program;
// - the README stays short, with the quick start on its first screen.
import test from 'ava'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { SLOWDOWN } from './helpers/emulation.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const docs = ['README.md', 'CONTRIBUTING.md', 'docs/fdchannel.md', 'docs/migrating.md', 'docs/performance.md', 'docs/reliability.md'].filter((f) =>
  existsSync(join(root, f)),
)

interface Block {
  doc: string
  lang: 'ts' | 'js'
  code: string
  excerptOf?: string
}
const blocks: Block[] = docs.flatMap((doc) =>
  [...readFileSync(join(root, doc), 'utf8').matchAll(/(?:<!-- excerpt: (\S+) -->\n)?```(ts|js)\n([\s\S]*?)```/g)].map(
    (m): Block => ({ doc, lang: m[2] as 'ts' | 'js', code: m[3]!, excerptOf: m[1] }),
  ),
)
const readme = readFileSync(join(root, 'README.md'), 'utf8')

const dir = mkdtempSync(join(tmpdir(), 'linux-fd-readme-'))
mkdirSync(join(dir, 'node_modules'))
symlinkSync(root, join(dir, 'node_modules', 'linux-fd'))
symlinkSync(join(root, 'node_modules', 'tsx'), join(dir, 'node_modules', 'tsx'))
test.after.always(() => {
  rmSync(dir, { recursive: true, force: true })
})

test('the README is about 300 lines, with the quick start on its first screen', (t) => {
  const lines = readme.trimEnd().split('\n')
  t.true(lines.length <= 345, `${lines.length} lines (about 300)`)
  const quickStart = lines.findIndex((l) => l === '## Quick start')
  t.true(quickStart >= 0 && quickStart < 40, `quick start at line ${quickStart + 1}`)
  t.true(lines.findIndex((l) => l.startsWith('```ts')) - quickStart < 4, 'its code follows the heading')
})

test('the README has runnable TypeScript examples and quoted recipes', (t) => {
  const inReadme = blocks.filter((b) => b.doc === 'README.md')
  t.true(inReadme.filter((b) => !b.excerptOf && b.lang === 'ts').length >= 6)
  t.is(inReadme.filter((b) => b.excerptOf).length, 3)
})

test.serial('the TypeScript examples type-check with --strict', (t) => {
  const tsDir = join(dir, 'typecheck')
  mkdirSync(tsDir)
  blocks.forEach((b, i) => {
    if (b.lang === 'ts' && !b.excerptOf) writeFileSync(join(tsDir, `example-${i + 1}.mts`), b.code)
  })
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(root, 'node_modules', '@types')],
      lib: ['ES2022', 'ESNext.Disposable'],
    },
    include: ['*.mts'],
  }
  writeFileSync(join(tsDir, 'tsconfig.json'), JSON.stringify(tsconfig))
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const r = spawnSync(process.execPath, [tsc, '-p', tsDir], { cwd: dir, encoding: 'utf8', timeout: 60_000 * SLOWDOWN })
  let errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l))
  // Before issue 11, `acquire()` resolves with nothing, which `using` rejects.
  t.deepEqual(errors, [], r.stdout + r.stderr)
})

blocks.forEach((b, i) => {
  const firstLine = b.code.split('\n').find((l) => l.trim() && !l.startsWith('//')) ?? ''
  if (b.excerptOf) {
    test(`${b.doc}: the excerpt of ${b.excerptOf} matches the file`, (t) => {
      const file = new Set(readFileSync(join(root, b.excerptOf!), 'utf8').split('\n').map((l) => l.trim()))
      const missing = b.code
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('//'))
        .filter((l) => !file.has(l))
      t.deepEqual(missing, [], `lines of the excerpt not in ${b.excerptOf}`)
    })
    return
  }
  test.serial(`${b.doc} example ${i + 1} runs: ${firstLine.slice(0, 60)}`, (t) => {
    const file = join(dir, `example-${i + 1}.${b.lang === 'ts' ? 'mts' : 'cjs'}`)
    writeFileSync(file, b.code)
    const args = b.lang === 'ts' ? ['--import=tsx', file] : [file]
    // x10 under qemu-user (helpers/emulation.ts): a hang guard, not a bound
    // Its own TMPDIR (os.tmpdir()), removed with `dir`: the examples make
    // temp files as a user's program would, and left them in /tmp at every run.
    const tmp = join(dir, `tmp-${i + 1}`)
    mkdirSync(tmp)
    const env = { ...process.env, TMPDIR: tmp }
    const r = spawnSync(process.execPath, args, { cwd: dir, env, timeout: 20_000 * SLOWDOWN, encoding: 'utf8' })
    t.is(r.status, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`)
    t.log(r.stdout.trim())
  })
})
