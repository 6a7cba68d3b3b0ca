// Writes package.json's version into the Cargo workspace's
// `[workspace.package] version`, for `npm version` (the `version` script):
// the crates carry the npm package's version, and packaging.spec checks that
// the two agree. The build that follows in that script updates Cargo.lock.
import { readFileSync, writeFileSync } from 'node:fs'

const { version } = JSON.parse(readFileSync('package.json', 'utf8'))
const cargo = readFileSync('Cargo.toml', 'utf8')
const section = /(\[workspace\.package\][^[]*?\nversion = ")[^"]*(")/
if (!section.test(cargo)) throw new Error('Cargo.toml: no version under [workspace.package]')
writeFileSync('Cargo.toml', cargo.replace(section, `$1${version}$2`))
console.log(`Cargo.toml: workspace version ${version}`)
