#!/usr/bin/env node
// Entrypoint of the docker-compose `demo` profile: runs one `p2pweights daemon` and does the one
// thing a node of the demo swarm needs besides it, through files on a volume the demo nodes share.
// Peer ids are random per data dir, so nobody can know the bootstrap's address in advance: the
// bootstrap writes it once it serves, and the others wait for it.
//
//   node scripts/demo-entrypoint.mjs [options] -- daemon <daemon flags…>
//
//   --write-addr FILE      once serving, write this node's swarm address (…/p2p/<id>) to FILE
//   --bootstrap-from FILE  wait for FILE, then start the daemon with --bootstrap <its address>
//   --seed FOLDER          once serving, seed FOLDER through the daemon's API (POST /api/v1/seeds)
//   --write-cid FILE       with --seed: write the release CID to FILE
//   --fetch-from FILE      once serving, wait for FILE (a CID) and fetch it through the API
//                          (POST /api/v1/fetches); say when the model is complete
//   --wait SECONDS         bound on every wait (default 300)
//
// The daemon's stdout (its --json lines) passes through; this script's own lines go to stderr,
// prefixed `demo:`. SIGTERM/SIGINT are passed to the daemon, and the daemon's exit code is ours.
// P2PWEIGHTS_CLI overrides the CLI (default: ../dist/cli/main.js next to this script, which is
// /app/dist/cli/main.js in the image).
import { spawn } from 'node:child_process'
import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const CLI = process.env.P2PWEIGHTS_CLI ?? fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const log = (msg) => process.stderr.write(`demo: ${msg}\n`)

function parseArgs (argv) {
  const split = argv.indexOf('--')
  if (split < 0 || argv[split + 1] !== 'daemon') throw new Error('usage: demo-entrypoint.mjs [options] -- daemon <flags…>')
  const opts = { waitMs: 300_000, command: argv.slice(split + 1) }
  const names = { '--write-addr': 'writeAddr', '--bootstrap-from': 'bootstrapFrom', '--seed': 'seed', '--write-cid': 'writeCid', '--fetch-from': 'fetchFrom', '--wait': 'wait' }
  const own = argv.slice(0, split)
  for (let i = 0; i < own.length; i += 2) {
    const key = names[own[i]]
    if (key == null || own[i + 1] == null) throw new Error(`unknown option or missing value: ${own[i]}`)
    opts[key] = own[i + 1]
  }
  if (opts.wait != null) opts.waitMs = Number(opts.wait) * 1000
  if (!(opts.waitMs > 0)) throw new Error('--wait must be a positive number of seconds')
  if (opts.writeCid != null && opts.seed == null) throw new Error('--write-cid needs --seed')
  return opts
}

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

/** Resolves with the trimmed content of `file` once it exists and is non-empty; bounded. */
async function waitForFile (file, ms, what) {
  const deadline = Date.now() + ms
  for (let said = false; ; said = true) {
    const text = (await readFile(file, 'utf8').catch(() => '')).trim()
    if (text !== '') return text
    if (Date.now() > deadline) throw new Error(`no ${what} in ${file} after ${ms / 1000} s`)
    if (!said) log(`waiting for ${what} in ${file}`)
    await sleep(500)
  }
}

/** Readers must never see half a file: write a temp file, then rename. */
async function writeAtomic (file, text) {
  await writeFile(`${file}.tmp`, text + '\n')
  await rename(`${file}.tmp`, file)
}

/** A swarm address other containers can dial: not loopback if the node has one, with /p2p/. */
function pickAddress (addrs) {
  const usable = addrs.filter(a => /^\/ip[46]\/[^/]+\/tcp\/\d+\/p2p\//.test(a))
  const loopback = a => a.startsWith('/ip4/127.') || a.startsWith('/ip6/::1/')
  const addr = usable.find(a => !loopback(a)) ?? usable[0]
  if (addr == null) throw new Error(`the daemon reported no TCP address with /p2p/: ${JSON.stringify(addrs)}`)
  return addr
}

/** The daemon's API token: in its data dir, as the CLI reads it (the daemon prints it nowhere). */
async function apiToken (command) {
  const at = command.indexOf('--data-dir')
  const inline = command.find(a => a.startsWith('--data-dir='))
  const base = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share')
  const dir = at >= 0 ? command[at + 1] : inline != null ? inline.slice('--data-dir='.length) : join(base, 'p2pweights')
  return (await readFile(join(dir, 'api-token'), 'utf8')).trim()
}

async function api (ready, method, path, body) {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${ready.token}` }
  const res = await fetch(`${ready.api}${path}`, {
    method,
    headers,
    body: body == null ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(280_000)
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`)
  return text === '' ? undefined : JSON.parse(text)
}

async function afterReady (opts, ready) {
  if (opts.writeAddr != null) {
    const addr = pickAddress(ready.addrs)
    await writeAtomic(opts.writeAddr, addr)
    log(`serving at ${addr} (written to ${opts.writeAddr})`)
  }
  if (opts.seed != null) {
    log(`seeding ${opts.seed}`)
    const model = await api(ready, 'POST', '/api/v1/seeds', { folder: opts.seed })
    log(`seeding ${model.name}: ${model.cid}`)
    if (opts.writeCid != null) await writeAtomic(opts.writeCid, model.cid)
  }
  if (opts.fetchFrom != null) {
    const cid = await waitForFile(opts.fetchFrom, opts.waitMs, 'the CID to fetch')
    await api(ready, 'POST', '/api/v1/fetches', { cid })
    log(`fetching ${cid}`)
    const deadline = Date.now() + opts.waitMs
    while (Date.now() < deadline) {
      const model = (await api(ready, 'GET', '/api/v1/models')).find(m => m.cid === cid)
      if (model?.state === 'seeding') {
        log(`fetched ${model.name}: ${model.bytes} bytes verified, in ${model.path}; now seeding it too`)
        return
      }
      await sleep(1000)
    }
    log(`the fetch of ${cid} is not complete after ${opts.waitMs / 1000} s; the daemon keeps trying`)
  }
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))
  // Our own outputs from an earlier run are stale until this run rewrites them.
  for (const file of [opts.writeAddr, opts.writeCid]) if (file != null) await rm(file, { force: true })

  const command = [...opts.command]
  if (!command.includes('--json')) command.push('--json')
  if (opts.bootstrapFrom != null) command.push('--bootstrap', await waitForFile(opts.bootstrapFrom, opts.waitMs, 'the bootstrap address'))

  const child = spawn(process.execPath, [CLI, ...command], { stdio: ['ignore', 'pipe', 'inherit'] })
  let stopping = false
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { stopping = true; child.kill(sig) })
  const exited = new Promise(resolve => child.on('close', (code, signal) => {
    stopping = true
    resolve(code ?? (signal != null ? 1 : 0))
  }))
  const stop = () => {
    stopping = true
    process.exitCode = 1
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), 30_000).unref() // a clean stop takes seconds, not this
  }

  let readySeen = false
  createInterface({ input: child.stdout }).on('line', line => {
    process.stdout.write(line + '\n')
    if (readySeen) return
    let event
    try { event = JSON.parse(line) } catch { return }
    if (event?.event !== 'ready') return
    readySeen = true
    apiToken(command).then(token => afterReady(opts, { ...event, token })).catch(err => {
      if (stopping) return // the daemon is going away: its API with it
      log(`error: ${err.message}; stopping the daemon`)
      stop()
    })
  })

  setTimeout(() => {
    if (readySeen) return
    log(`error: the daemon did not report ready within ${opts.waitMs / 1000} s; stopping it`)
    stop()
  }, opts.waitMs).unref()

  const code = await exited
  // The daemon is gone: so are we, even if a wait in afterReady() is still pending.
  const own = Number(process.exitCode ?? 0)
  process.exit(own !== 0 ? own : code)
}

main().catch(err => {
  log(`error: ${err.message}`)
  process.exit(1)
})
