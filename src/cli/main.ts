#!/usr/bin/env node
// Entry point. js-libp2p 3 needs Node.js 22 or newer: say so plainly instead of crashing on a
// missing Promise.withResolvers deep inside a stream, and only then load the program.
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  process.stderr.write(`error: p2pweights needs Node.js 22 or newer, this is ${process.versions.node}. ` +
    'Inside the p2pweights folder, run it as `npx p2pweights …` (npm install brings Node 24), or install Node.js 24.\n')
  process.exit(1)
}
await import('./program.js')
