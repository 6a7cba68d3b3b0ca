'use strict'
// The demo grows with the package; see README.
const lfd = require('..')

const fd = lfd.eventfd(0, lfd.EFD_NONBLOCK)
lfd.eventfdWrite(fd, 2)
lfd.eventfdWrite(fd, 40n)
console.log('eventfd counter after writes of 2 and 40n:', lfd.eventfdRead(fd))
try {
  lfd.eventfdRead(fd)
} catch (e) {
  console.log('reading it again without blocking:', e.code, e.message)
}
require('node:fs').closeSync(fd)
