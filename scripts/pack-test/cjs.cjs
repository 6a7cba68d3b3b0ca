// CommonJS consumer: require('linux-fd') must load the .node from the
// linux-fd-linux-x64-gnu package, since the root package ships none.
'use strict'
const assert = require('node:assert/strict')
const lib = require('linux-fd')
const { smoke } = require('./smoke.cjs')

const nodeFiles = Object.keys(require.cache).filter((k) => k.endsWith('.node'))
assert.deepEqual(
  nodeFiles.map((f) => f.split('/node_modules/').pop()),
  ['linux-fd-linux-x64-gnu/linux-fd.linux-x64-gnu.node'],
  'the addon came from the platform package',
)
assert.equal(lib.__napiBindingTarget, 'native')
smoke(lib, 'cjs').catch((e) => {
  console.error(e)
  process.exit(1)
})
