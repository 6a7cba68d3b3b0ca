// CommonJS consumer: require('linux-fd') must load the .node from the
// platform package (linux-fd-linux-x64-gnu here), since the root ships none.
'use strict'
const assert = require('node:assert/strict')
const lib = require('linux-fd')
const { smoke } = require('./smoke.cjs')

const platform = process.env.PACK_TEST_PLATFORM || 'linux-x64-gnu'

const nodeFiles = Object.keys(require.cache).filter((k) => k.endsWith('.node'))
assert.deepEqual(
  nodeFiles.map((f) => f.split('/node_modules/').pop()),
  [`linux-fd-${platform}/linux-fd.${platform}.node`],
  'the addon came from the platform package',
)
// binding.js is internal (not in the package's exports map): reached by path.
const binding = require(require('node:path').join(require('node:path').dirname(require.resolve('linux-fd')), 'binding.js'))
assert.equal(binding.__napiBindingTarget, 'native')
// Node: ERR_PACKAGE_PATH_NOT_EXPORTED; Bun: "Cannot find module" (no such code).
assert.throws(
  () => require('linux-fd/binding.js'),
  (e) => e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' || (typeof process.versions.bun === 'string' && /Cannot find module/.test(String(e.message))),
  'the raw binding is not public',
)
smoke(lib, 'cjs').catch((e) => {
  console.error(e)
  process.exit(1)
})
