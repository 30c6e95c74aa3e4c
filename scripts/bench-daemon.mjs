// p2pweights daemon benchmark: how long a NAS daemon with many big models seeded in place takes
// to serve again after a restart, and how much memory it holds while idle. All on 127.0.0.1.
//
//   1. generates N model folders (default 10), each one SPARSE file of ~G GiB (default 10, so
//      ~100 GiB in all; sparse: a unique 64 KiB header, the rest a hole that costs no disk) plus
//      small config/tokenizer files, in a temp dir (free space and sparseness are checked first);
//   2. starts `p2pweights daemon` (private DHT, --api 127.0.0.1:0, --json) on a fresh data dir and
//      seeds every folder through POST /api/v1/seeds, one after the other: the first seed hashes
//      every byte (whole-file and per-chunk sha-256; holes read as zeros), so this part is long;
//   3. after --idle seconds (default 10) of nothing, reads the daemon's VmRSS / VmHWM from /proc;
//   4. SIGKILLs it (a crash or power cut), starts it again on the same data dir, and measures
//      spawn → "ready" and spawn → all N models 'seeding' (GET /api/v1/models every 100 ms),
//      then idle RSS again;
//   5. the same after a clean SIGTERM (time to exit, exit code, restart times), unless
//      --no-sigterm.
// It prints a table and then one JSON object with every figure.
//
// Run: npm run build && npm run bench:daemon [-- --models 10 --gib 10 --idle 10 --dir /some/dir --keep --no-sigterm]
// Needs Node >= 22 for the daemon (npm run puts the pinned Node 24 first on PATH). --dir picks
// where the temp folder goes (default: the OS temp dir; it must support sparse files). --keep
// leaves the folder (models and data dir) in place; otherwise it is removed, also on error or
// Ctrl-C. Every wait is bounded.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, open, readdir, stat, statfs, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const BUNDLED_NODE = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url))
const NODE = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : BUNDLED_NODE
const GiB = 1024 ** 3
const HEADER = 64 * 1024
const NET_FLAGS = ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-upnp', '--no-default-bootstrap',
  '--dht-protocol', '/p2pweights-bench/kad/1.0.0']
const READY_TIMEOUT = 120_000
const SEED_TIMEOUT = 15 * 60_000
const ALL_SEEDING_TIMEOUT = 10 * 60_000
const EXIT_TIMEOUT = 30_000
const POLL_MS = 100

const { values: opts } = parseArgs({
  options: {
    models: { type: 'string', default: '10' },
    gib: { type: 'string', default: '10' },
    idle: { type: 'string', default: '10' },
    dir: { type: 'string', default: os.tmpdir() },
    keep: { type: 'boolean', default: false },
    'no-sigterm': { type: 'boolean', default: false }
  }
})
const MODELS = Number(opts.models)
const FILE_BYTES = Math.round(Number(opts.gib) * GiB)
const IDLE_MS = Number(opts.idle) * 1000
if (!Number.isInteger(MODELS) || MODELS < 1 || !(FILE_BYTES > HEADER) || !(IDLE_MS >= 0)) {
  console.error('usage: bench-daemon.mjs [--models N>=1] [--gib G>0] [--idle S>=0] [--dir DIR] [--keep] [--no-sigterm]')
  process.exit(2)
}

let workDir = null
let daemon = null // the running daemon process, if any

// ---- cleanup: on every exit path ---------------------------------------------------------

function cleanup () {
  if (daemon != null && daemon.exitCode == null && daemon.signalCode == null) {
    try { daemon.kill('SIGKILL') } catch {}
  }
  if (workDir != null && !opts.keep) {
    try { rmSync(workDir, { recursive: true, force: true }) } catch {}
  }
  if (workDir != null && opts.keep) console.error(`kept ${workDir}`)
  workDir = null
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping`)
    cleanup()
    process.exit(130)
  })
}

// ---- helpers -----------------------------------------------------------------------------

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const seconds = ms => Math.round(ms) / 1000
const fmtBytes = n => n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`

/** The running daemon's API token, read from its data dir as the CLI does (set by startDaemon). */
let apiToken = ''

/** One HTTP request to the daemon's API (node:http: no client-side timeout but ours). */
function api (base, method, path, body, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const payload = body == null ? undefined : JSON.stringify(body)
    const req = http.request(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${apiToken}`,
        ...(payload == null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) })
      }
    }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', s => { text += s })
      res.on('end', () => {
        if (res.statusCode >= 300) reject(new Error(`${method} ${path}: HTTP ${res.statusCode} ${text}`))
        else resolve(text === '' ? undefined : JSON.parse(text))
      })
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs / 1000} s`)))
    req.on('error', reject)
    req.end(payload)
  })
}

/** VmRSS and VmHWM of a process, in bytes. */
function memory (pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = name => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') }
}

async function dirBytes (dir) {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size
  }
  return total
}

/**
 * Starts the daemon on `dataDir`; resolves with the process, its ready event and the time from
 * spawn to ready. Its stderr is kept (last 4 KB) for error messages.
 */
async function startDaemon (dataDir) {
  const t0 = performance.now()
  const child = spawn(NODE, [CLI, 'daemon', '--data-dir', dataDir, '--api', '127.0.0.1:0', '--json', ...NET_FLAGS],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  daemon = child
  let stderr = ''
  child.stderr.on('data', d => { stderr = (stderr + d).slice(-4000) })
  child.tail = () => stderr
  child.exited = new Promise(resolve => child.on('close', (code, signal) => resolve({ code, signal })))
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon: no "ready" within ${READY_TIMEOUT / 1000} s\n${stderr}`)), READY_TIMEOUT)
    createInterface({ input: child.stdout }).on('line', line => {
      let e
      try { e = JSON.parse(line) } catch { return }
      if (e.event === 'ready') { clearTimeout(timer); resolve(e) }
    })
    child.exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`daemon exited (${signal ?? code}) before "ready"\n${stderr}`)) })
  })
  apiToken = readFileSync(join(dataDir, 'api-token'), 'utf8').trim()
  return { child, ready, readyMs: performance.now() - t0, t0 }
}

/** Polls GET /api/v1/models every 100 ms until `count` models are 'seeding'; ms since t0. */
async function untilAllSeeding (base, count, t0) {
  const deadline = Date.now() + ALL_SEEDING_TIMEOUT
  let last = []
  while (Date.now() < deadline) {
    last = await api(base, 'GET', '/api/v1/models').catch(() => last)
    const seeding = last.filter(m => m.state === 'seeding').length
    if (seeding >= count) return performance.now() - t0
    const bad = last.filter(m => m.state === 'failed' || m.state === 'changed')
    if (bad.length > 0) throw new Error(`models not served: ${bad.map(m => `${m.name}: ${m.state} ${m.error ?? ''}`).join('; ')}`)
    await sleep(POLL_MS)
  }
  throw new Error(`not all ${count} models seeding after ${ALL_SEEDING_TIMEOUT / 1000} s: ${last.map(m => `${m.name}=${m.state}`).join(', ')}`)
}

async function stopDaemon (child, signal) {
  const t0 = performance.now()
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT)
  const { code, signal: by } = await child.exited
  clearTimeout(timer)
  daemon = null
  return { ms: performance.now() - t0, exit: by ?? code }
}

async function idleMemory (child) {
  await sleep(IDLE_MS)
  return memory(child.pid)
}

// ---- the model folders -------------------------------------------------------------------

async function makeModels (root) {
  const folders = []
  for (let i = 0; i < MODELS; i++) {
    const dir = join(root, `model-${String(i).padStart(2, '0')}`)
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'bench', index: i, hidden_size: 4096 }, null, 2))
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0', model: { vocab: { [`tok${i}`]: 0 } } }))
    // A unique header, so no two models share a file CID; the rest is a hole.
    const header = Buffer.alloc(HEADER)
    for (let off = 0; off < HEADER; off += 32) createHash('sha256').update(`bench model ${i} @${off}`).digest().copy(header, off)
    const fh = await open(join(dir, 'model.safetensors'), 'w')
    try {
      await fh.write(header, 0, HEADER, 0)
      await fh.truncate(FILE_BYTES)
    } finally {
      await fh.close()
    }
    const st = await stat(join(dir, 'model.safetensors'))
    if (st.blocks * 512 > FILE_BYTES / 100) {
      throw new Error(`${opts.dir} does not keep files sparse (${fmtBytes(st.blocks * 512)} allocated for ${fmtBytes(FILE_BYTES)}); pick another --dir`)
    }
    folders.push(dir)
  }
  return folders
}

// ---- main --------------------------------------------------------------------------------

async function main () {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`)
  if (!existsSync(NODE)) throw new Error(`no Node >= 22 (${NODE}): run npm install, or run this with Node 22+`)
  const fs = await statfs(opts.dir)
  const free = fs.bavail * fs.bsize
  const need = GiB + MODELS * (HEADER + 1024 ** 2) // sparse files: headers, small files, data dir, margin
  console.log(`${MODELS} models × ${fmtBytes(FILE_BYTES)} (sparse) in ${opts.dir}: ${fmtBytes(free)} free, ${fmtBytes(need)} needed`)
  if (free < need) throw new Error(`not enough free space in ${opts.dir}: ${fmtBytes(free)} free, need ${fmtBytes(need)}`)

  workDir = await mkdtemp(join(opts.dir, 'p2pweights-bench-daemon-'))
  const folders = await makeModels(join(workDir, 'models'))
  const dataDir = join(workDir, 'data')
  const result = { models: MODELS, fileBytes: FILE_BYTES, totalBytes: MODELS * FILE_BYTES, idleSeconds: IDLE_MS / 1000, node: process.versions.node, cpus: os.cpus().length }

  // First run: a fresh data dir; every folder is hashed.
  console.log('first start, fresh data dir')
  let run = await startDaemon(dataDir)
  result.firstReadySeconds = seconds(run.readyMs)
  const perModel = []
  const seedStart = performance.now()
  for (const folder of folders) {
    const t = performance.now()
    const model = await api(run.ready.api, 'POST', '/api/v1/seeds', { folder }, SEED_TIMEOUT)
    perModel.push(seconds(performance.now() - t))
    console.log(`  seeded ${model.name} (${fmtBytes(model.bytes)}) in ${perModel.at(-1)} s: ${model.cid}`)
  }
  await untilAllSeeding(run.ready.api, MODELS, seedStart)
  result.firstSeedSeconds = seconds(performance.now() - seedStart)
  result.firstSeedPerModelSeconds = perModel
  result.hashMBps = Math.round(result.totalBytes / 1e6 / result.firstSeedSeconds)
  console.log(`  idle ${IDLE_MS / 1000} s`)
  const firstMem = await idleMemory(run.child)
  result.idleRssAfterSeedMiB = Math.round(firstMem.rss / 1024 ** 2)
  result.peakRssFirstRunMiB = Math.round(firstMem.hwm / 1024 ** 2)
  result.dataDirBytes = await dirBytes(dataDir)

  // Starts the daemon again on the same data dir and measures how soon it serves, then idles.
  const restart = async () => {
    run = await startDaemon(dataDir)
    const measured = {
      readySeconds: seconds(run.readyMs),
      allSeedingSeconds: seconds(await untilAllSeeding(run.ready.api, MODELS, run.t0)),
      modelsAtReady: run.ready.models
    }
    console.log(`  idle ${IDLE_MS / 1000} s`)
    const mem = await idleMemory(run.child)
    return { ...measured, idleRssMiB: Math.round(mem.rss / 1024 ** 2), peakRssMiB: Math.round(mem.hwm / 1024 ** 2) }
  }

  // Crash: SIGKILL, then start again.
  console.log('SIGKILL, restart')
  await stopDaemon(run.child, 'SIGKILL')
  result.killRestart = await restart()

  // Clean stop: SIGTERM, then start again.
  if (!opts['no-sigterm']) {
    console.log('SIGTERM, restart')
    const stop = await stopDaemon(run.child, 'SIGTERM')
    result.termRestart = { stopSeconds: seconds(stop.ms), exit: stop.exit, ...await restart() }
  }
  const last = await stopDaemon(run.child, 'SIGTERM')
  result.finalExit = last.exit

  const rows = [
    ['first start: spawn → ready (empty data dir)', `${result.firstReadySeconds} s`],
    [`first seed: hash ${fmtBytes(result.totalBytes)} in ${MODELS} folders`, `${result.firstSeedSeconds} s (${result.hashMBps} MB/s)`],
    [`idle RSS after seeding (peak)`, `${result.idleRssAfterSeedMiB} MiB (${result.peakRssFirstRunMiB} MiB)`],
    ['after SIGKILL: spawn → ready', `${result.killRestart.readySeconds} s`],
    [`after SIGKILL: spawn → all ${MODELS} seeding`, `${result.killRestart.allSeedingSeconds} s`],
    ['after SIGKILL: idle RSS (peak)', `${result.killRestart.idleRssMiB} MiB (${result.killRestart.peakRssMiB} MiB)`]
  ]
  if (result.termRestart != null) {
    rows.push(
      ['SIGTERM: time to exit (exit status)', `${result.termRestart.stopSeconds} s (${result.termRestart.exit})`],
      ['after SIGTERM: spawn → ready', `${result.termRestart.readySeconds} s`],
      [`after SIGTERM: spawn → all ${MODELS} seeding`, `${result.termRestart.allSeedingSeconds} s`],
      ['after SIGTERM: idle RSS', `${result.termRestart.idleRssMiB} MiB`]
    )
  }
  rows.push(['data dir size (identity, releases, hash cache, model list)', fmtBytes(result.dataDirBytes)])
  const width = Math.max(...rows.map(r => r[0].length))
  const vwidth = Math.max(...rows.map(r => r[1].length))
  console.log(`\n| ${'what'.padEnd(width)} | ${'result'.padStart(vwidth)} |\n|${'-'.repeat(width + 2)}|${'-'.repeat(vwidth + 1)}:|`)
  for (const [what, value] of rows) console.log(`| ${what.padEnd(width)} | ${value.padStart(vwidth)} |`)
  console.log(`\n${JSON.stringify(result, null, 2)}`)
}

main().then(() => {
  cleanup()
}, err => {
  console.error(`error: ${err.message}`)
  if (daemon != null) console.error(`--- daemon stderr (tail) ---\n${daemon.tail?.() ?? ''}`)
  cleanup()
  process.exitCode = 1
})
