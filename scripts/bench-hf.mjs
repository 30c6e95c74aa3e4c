// The daemon's Hugging Face endpoint as a download server, all on 127.0.0.1: how fast a client
// reads a seeded file through GET /hf/<repo>/resolve/main/<file>, against reading the same file
// from disk in the same run, and the daemon's peak RSS while it streams (files are streamed in
// place, so it should not grow with the file).
//
//   1. writes one file of --mib MiB (default 512) of random bytes, plus a config.json;
//   2. starts `p2pweights daemon` (private DHT, --api 127.0.0.1:0, --json) and seeds the folder
//      as bench/model through POST /api/v1/seeds;
//   3. --runs times (default 3): reads the file from disk (fs stream), then over HTTP (whole
//      file, body discarded, with curl, or with node:http given --client node), and prints MB/s
//      for both and the daemon's VmRSS/VmHWM.
//
// Run: npm run build && node_modules/.bin/node scripts/bench-hf.mjs [--mib 512 --runs 3 --client curl|node]
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createReadStream, readFileSync, rmSync } from 'node:fs'
import { mkdtemp, open, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const BUNDLED_NODE = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url))
const NODE = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : BUNDLED_NODE
const MiB = 1024 * 1024
const NET_FLAGS = ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-upnp', '--no-default-bootstrap', '--dht-protocol', '/p2pweights-bench/kad/1.0.0']

const { values: opts } = parseArgs({ options: { mib: { type: 'string', default: '512' }, runs: { type: 'string', default: '3' }, client: { type: 'string', default: 'curl' } } })
const SIZE = Number(opts.mib) * MiB
const RUNS = Number(opts.runs)
if (!(SIZE > 0) || !Number.isInteger(RUNS) || RUNS < 1 || RUNS > 20) {
  console.error('usage: bench-hf.mjs [--mib N>0] [--runs 1..20]')
  process.exit(2)
}

const work = await mkdtemp(join(os.tmpdir(), 'p2pw-bench-hf-'))
let daemon
const cleanup = () => {
  try { daemon?.kill('SIGKILL') } catch {}
  rmSync(work, { recursive: true, force: true })
}
process.on('exit', cleanup)
process.on('SIGINT', () => process.exit(130))

const folder = join(work, 'model')
await import('node:fs/promises').then(fs => fs.mkdir(folder))
await writeFile(join(folder, 'config.json'), '{"model_type":"bench"}')
const file = await open(join(folder, 'model.safetensors'), 'w')
const block = randomBytes(4 * MiB)
for (let written = 0; written < SIZE; written += block.length) await file.write(block, 0, Math.min(block.length, SIZE - written))
await file.close()

daemon = spawn(NODE, [CLI, 'daemon', '--data-dir', join(work, 'data'), '--api', '127.0.0.1:0', '--json', ...NET_FLAGS], { stdio: ['ignore', 'pipe', 'inherit'] })
const api = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('daemon not ready within 60 s')), 60_000)
  createInterface({ input: daemon.stdout }).on('line', line => {
    try {
      const e = JSON.parse(line)
      if (e.event === 'ready') { clearTimeout(timer); resolve(e.api) }
    } catch {}
  })
})

// The API and /hf both want the daemon's token (docs/architecture.md, "The daemon").
const token = readFileSync(join(work, 'data', 'api-token'), 'utf8').trim()
const authorization = `Bearer ${token}`

function request (method, url, body) {
  return new Promise((resolve, reject) => {
    const headers = body == null ? { authorization } : { authorization, 'content-type': 'application/json' }
    const req = http.request(url, { method, headers, agent: false }, res => {
      let bytes = 0
      const chunks = []
      res.on('data', b => { bytes += b.length; if (chunks.length < 64) chunks.push(b) })
      res.on('end', () => resolve({ status: res.statusCode, bytes, text: Buffer.concat(chunks).toString('utf8').slice(0, 500) }))
      res.on('error', reject)
    })
    req.setTimeout(600_000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body == null ? undefined : JSON.stringify(body))
  })
}

function memory () {
  const status = readFileSync(`/proc/${daemon.pid}/status`, 'utf8')
  const kb = key => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN)
  return { rssMiB: Math.round(kb('VmRSS') / 1024), peakMiB: Math.round(kb('VmHWM') / 1024) }
}

const seeded = await request('POST', `${api}/api/v1/seeds`, { folder, name: 'bench/model' })
if (seeded.status !== 201) throw new Error(`seed failed: ${seeded.status} ${seeded.text}`)
const before = memory()
console.log(`file ${SIZE / MiB} MiB; daemon after seeding: RSS ${before.rssMiB} MiB, peak ${before.peakMiB} MiB`)
console.log(`client: ${opts.client}`)
console.log('run | disk MB/s | HTTP /hf MB/s | HTTP/disk | daemon RSS MiB | daemon peak MiB')
const results = []
for (let run = 1; run <= RUNS; run++) {
  let t = process.hrtime.bigint()
  let diskBytes = 0
  for await (const chunk of createReadStream(join(folder, 'model.safetensors'), { highWaterMark: MiB })) diskBytes += chunk.length
  const disk = diskBytes / 1e6 / (Number(process.hrtime.bigint() - t) / 1e9)
  t = process.hrtime.bigint()
  const url = `${api}/hf/bench/model/resolve/main/model.safetensors`
  const got = opts.client === 'node'
    ? await request('GET', url)
    : (([status, bytes]) => ({ status: Number(status), bytes: Number(bytes) }))(execFileSync('curl', ['-s', '-H', `Authorization: ${authorization}`, '-o', '/dev/null', '-w', '%{http_code} %{size_download}', url], { encoding: 'utf8' }).trim().split(' '))
  const httpRate = got.bytes / 1e6 / (Number(process.hrtime.bigint() - t) / 1e9)
  if (got.status !== 200 || got.bytes !== SIZE) throw new Error(`GET answered ${got.status} with ${got.bytes} bytes`)
  const m = memory()
  results.push({ run, disk, http: httpRate, ...m })
  console.log(`${run} | ${disk.toFixed(0)} | ${httpRate.toFixed(0)} | ${(httpRate / disk).toFixed(2)} | ${m.rssMiB} | ${m.peakMiB}`)
}
console.log(JSON.stringify({ mib: SIZE / MiB, before, results }))
process.exit(0)
