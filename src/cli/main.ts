#!/usr/bin/env node
// Entry point. js-libp2p 3 needs Node.js 22 or newer: say so plainly instead of crashing on a
// missing Promise.withResolvers deep inside a stream, and only then load the program.
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  process.stderr.write(`error: p2pweights needs Node.js 22 or newer, this is ${process.versions.node}. ` +
    'Inside the p2pweights folder, run it as `npx p2pweights …` (npm install brings Node 24), or install Node.js 24.\n')
  process.exit(1)
}

// Garbage collection was most of what a transfer cost beyond the crypto: every 64 KiB read from
// a socket and every decrypted frame is a fresh ArrayBuffer. V8 answers that much external
// memory with full mark-compacts, by default about 60 per GiB fetched, each walking the whole
// heap. Three V8 settings make them rare (docs/architecture.md, "Garbage collection"):
// - external memory counted in the global heap limit rather than a limit of its own;
// - that limit at twice the live size after a collection (V8 would go up to 4x, and a crowd
//   fetcher's RSS with it);
// - a 4 MiB semi-space: most buffers die young and a scavenge every few MiB frees them, where
//   V8 grows it to 64 MiB on a server and carries ~100 MiB of dead buffers.
// With the 1 MiB stream window (net/node.ts): a lone fetch from one seeder ~1.5x as fast, at a
// lower peak RSS; a crowd of 16 on 2 cores ~8% slower, at the same RSS (scripts/bench*.mjs).
// The semi-space only takes effect at start-up, so the process replaces itself once with it:
// same PID, so systemd, Docker and signals see one process. A value given by hand (a flag or
// NODE_OPTIONS) wins; without process.execve (Windows, Node < 23.11) it runs as it is.
const SEMI_SPACE = '--max-semi-space-size'
const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some(a => a.startsWith(SEMI_SPACE))
if (!given && typeof process.execve === 'function' && process.argv[1] != null) {
  process.execve(process.execPath, [process.execPath, ...process.execArgv, `${SEMI_SPACE}=4`, ...process.argv.slice(1)], process.env)
}
// The other two are set at run time, as they can be: V8 reads them whenever it sets a limit.
// Only on the Node.js they were measured on (24, which npm install brings): V8 prints an
// unknown flag's error to stdout, which would break --json.
if (major === 24) (await import('node:v8')).setFlagsFromString('--external-memory-accounted-in-global-limit --heap-growing-percent=100')
await import('./program.js')
