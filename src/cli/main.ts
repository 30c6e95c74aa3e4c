#!/usr/bin/env node
// Entry point. js-libp2p 3 needs Node.js 22 or newer: say so plainly instead of crashing on a
// missing Promise.withResolvers deep inside a stream, and only then load the program.
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  process.stderr.write(`error: p2pweights needs Node.js 22 or newer, this is ${process.versions.node}. ` +
    'Inside the p2pweights folder, run it as `npx p2pweights …` (npm install brings Node 24), or install Node.js 24.\n')
  process.exit(1)
}

// V8 sizes the young generation from the machine's memory: up to 64 MiB per semi-space on a
// server, so a node that moves gigabytes through short-lived buffers (every decrypted frame)
// carries ~100 MiB of dead buffers between collections. 16 MiB keeps them in check: a crowd
// fetcher's peak RSS 395 -> 320-347 MiB (scripts/bench-swarm.mjs), for ~6% more CPU in a lone
// fetch (docs/architecture.md, "Memory in a crowd").
// The flag only takes effect at start-up, so the process replaces itself once with it: same PID,
// so systemd, Docker and signals see one process. A value given by hand (a flag or NODE_OPTIONS)
// wins; without process.execve (Windows, Node < 23.11) it runs as it is.
const SEMI_SPACE = '--max-semi-space-size'
const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some(a => a.startsWith(SEMI_SPACE))
if (!given && typeof process.execve === 'function' && process.argv[1] != null) {
  process.execve(process.execPath, [process.execPath, ...process.execArgv, `${SEMI_SPACE}=16`, ...process.argv.slice(1)], process.env)
}
await import('./program.js')
