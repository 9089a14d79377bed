#!/usr/bin/env node
// Starts kinesalite (npm, pinned by package-lock.json) on 127.0.0.1 only, for wineq's Kinesis
// tests: kinesalite's own CLI has no host option and listens on every interface.
//
//   node tests/tools/kinesalite.js PORT
//
// kinesalite is looked up in $WQ_NODE_MODULES (default ./node_modules). Streams become ACTIVE
// at once (createStreamMs 0), so a test can create one and write to it straight away.
// Prints "kinesalite ready on 127.0.0.1:PORT" on stdout once it accepts connections; exits 0
// on SIGTERM or SIGINT, 2 when kinesalite is not installed, 1 when the port cannot be bound.
'use strict'

const path = require('path')

const arg = process.argv[2]
const port = Number(arg)
if (!/^[0-9]+$/.test(arg || '') || port < 1 || port > 65535) {
  process.stderr.write('usage: node kinesalite.js PORT (1-65535)\n')
  process.exit(2)
}

const modules = path.resolve(process.env.WQ_NODE_MODULES || 'node_modules')
let kinesalite
try {
  kinesalite = require(path.join(modules, 'kinesalite'))
} catch (e) {
  process.stderr.write(`kinesalite.js: kinesalite not found in ${modules} (run 'npm ci'): ` +
    `${e.message}\n`)
  process.exit(2)
}

const server = kinesalite({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0,
  shardLimit: 100})
server.on('error', (e) => {
  process.stderr.write(`kinesalite.js: ${e.message}\n`)
  process.exit(1)
})
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`kinesalite ready on 127.0.0.1:${port}\n`)
})

function stop () {
  // kept-alive client connections would hold close() open: do not wait for them
  setTimeout(() => process.exit(0), 500).unref()
  server.close(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
