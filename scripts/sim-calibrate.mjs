// Calibrates the swarm simulator against real processes: one scenario, run for real (one
// origin seeder and N fetchers, each a real p2pweights process on 127.0.0.1 with upload and
// download limits, found through a private DHT) and in the simulator with the same links and
// the same arrival times. Prints, side by side: the origin's share of what the fetchers got,
// each fetcher's time from its manifest to done, and how alike the order of completion is
// (Spearman's rank correlation).
//
// Run: npm run build && node scripts/sim-calibrate.mjs [--fetchers 8] [--mib 40] [--seed 1] [--json]
// Needs Node >= 22 (`npx node scripts/sim-calibrate.mjs`). All traffic stays on 127.0.0.1.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DEFAULT_CONFIG } from '../dist/sim/config.js'
import { SwarmSim } from '../dist/sim/swarm-sim.js'

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const MiB = 1024 ** 2
const NET = ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-default-bootstrap', '--dht-protocol', '/p2pweights-calibrate/kad/1.0.0', '--json']
// Limits in MB/s (10^6 bytes): the origin, then per fetcher (cycled) upload and download.
const ORIGIN_UP = 2
const FETCHER_UP = [0.5, 1, 1.5, 2]
const FETCHER_DOWN = [0.6, 1.5, 4]

const { values } = parseArgs({ options: { fetchers: { type: 'string', default: '8' }, mib: { type: 'string', default: '40' }, seed: { type: 'string', default: '1' }, json: { type: 'boolean', default: false } } })
const N = Number(values.fetchers)
const SIZE = Number(values.mib) * MiB
const running = new Set()

function launch (label, args) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
  const proc = { label, child, events: [], stderr: '' }
  running.add(proc)
  proc.exited = new Promise(resolve => child.on('close', code => { running.delete(proc); resolve(code) }))
  createInterface({ input: child.stdout }).on('line', line => {
    let event
    try { event = JSON.parse(line) } catch { return }
    event.at = performance.now()
    proc.events.push(event)
    child.emit('json', event)
  })
  child.stderr.on('data', d => { proc.stderr = (proc.stderr + d).slice(-2000) })
  return proc
}

function waitFor (proc, name, timeoutMs) {
  const seen = proc.events.find(e => e.event === name)
  if (seen != null) return Promise.resolve(seen)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${proc.label}: no "${name}" within ${timeoutMs / 1000} s\n${proc.stderr}`)), timeoutMs)
    proc.child.on('json', e => { if (e.event === name) { clearTimeout(timer); resolve(e) } })
    proc.exited.then(code => { clearTimeout(timer); reject(new Error(`${proc.label} exited (${code}) before "${name}"\n${proc.stderr}`)) })
  })
}

const limits = i => ({ up: FETCHER_UP[i % FETCHER_UP.length], down: FETCHER_DOWN[i % FETCHER_DOWN.length] })

async function realRun (dir) {
  const model = join(dir, 'model')
  await import('node:fs/promises').then(fs => fs.mkdir(model))
  await writeFile(join(model, 'model-00001.safetensors'), randomBytes(Math.floor(SIZE / 2)))
  await writeFile(join(model, 'model-00002.safetensors'), randomBytes(SIZE - Math.floor(SIZE / 2)))
  const seeder = launch('origin', ['seed', model, '--name', 'calibrate', '--chunk-size', '1', '--max-upload-rate', String(ORIGIN_UP), '--data-dir', join(dir, 'origin'), ...NET])
  const ready = await waitFor(seeder, 'ready', 60_000)
  const addr = ready.addrs.find(a => a.startsWith('/ip4/127.0.0.1/'))
  const bootstrap = addr.includes('/p2p/') ? addr : `${addr}/p2p/${ready.peerId}`
  const fetchers = []
  for (let i = 0; i < N; i++) {
    const { up, down } = limits(i)
    fetchers.push(launch(`fetcher ${i}`, ['fetch', ready.cid, '-o', join(dir, `out${i}`), '--data-dir', join(dir, `f${i}`), '--bootstrap', bootstrap,
      '--max-upload-rate', String(up), '--max-download-rate', String(down), '--find-timeout', '120', ...NET]))
  }
  const manifests = await Promise.all(fetchers.map(f => waitFor(f, 'manifest', 120_000)))
  const dones = await Promise.all(fetchers.map(f => waitFor(f, 'done', 600_000)))
  const t0 = Math.min(...manifests.map(m => m.at))
  const fromOrigin = dones.reduce((n, d) => n + (d.fromPeers?.[ready.peerId] ?? 0), 0)
  return {
    arrivals: manifests.map(m => m.at - t0),
    times: dones.map((d, i) => (d.at - manifests[i].at) / 1000),
    originShare: fromOrigin / (N * SIZE)
  }
}

function simRun (arrivals) {
  const mbps = n => n * 1000 // MB/s to bytes per ms
  const config = {
    ...DEFAULT_CONFIG,
    peers: N,
    gib: SIZE / 1024 ** 3,
    seed: Number(values.seed),
    chunkBytes: MiB,
    pieceChunks: 1,
    originMbit: ORIGIN_UP * 8,
    fixedLinks: Array.from({ length: N }, (_, i) => ({ kind: 'loopback', up: mbps(limits(i).up), down: mbps(limits(i).down), latency: 0.05, relayOnly: false })),
    fixedArrivals: arrivals
  }
  const r = new SwarmSim(config).run()
  return { times: r.perPeer, originShare: r.originShare, originUploadRatio: r.originUploadRatio }
}

function ranks (xs) {
  const order = xs.map((x, i) => [x, i]).sort((a, b) => a[0] - b[0])
  const r = new Array(xs.length)
  order.forEach(([, i], k) => { r[i] = k + 1 })
  return r
}

function spearman (a, b) {
  const ra = ranks(a)
  const rb = ranks(b)
  const n = a.length
  const d2 = ra.reduce((s, r, i) => s + (r - rb[i]) ** 2, 0)
  return 1 - 6 * d2 / (n * (n * n - 1))
}

async function main () {
  const dir = await mkdtemp(join(os.tmpdir(), 'p2pw-calibrate-'))
  try {
    const started = performance.now()
    const real = await realRun(dir)
    const realWall = (performance.now() - started) / 1000
    const sim = simRun(real.arrivals)
    const rows = real.times.map((t, i) => ({ fetcher: i, ...limits(i), arrival: real.arrivals[i] / 1000, real: t, sim: sim.times[i], ratio: sim.times[i] / t }))
    const ratios = rows.map(r => r.ratio).sort((a, b) => a - b)
    const summary = {
      fetchers: N,
      mib: SIZE / MiB,
      originShareReal: real.originShare,
      originShareSim: sim.originShare,
      originUploadRatioSim: sim.originUploadRatio,
      spearman: spearman(real.times, sim.times),
      medianRatio: ratios[Math.floor(ratios.length / 2)],
      minRatio: ratios[0],
      maxRatio: ratios[ratios.length - 1],
      realWallSeconds: realWall
    }
    console.log(`calibration: origin ${ORIGIN_UP} MB/s up, ${N} fetchers (up/down MB/s cycled ${FETCHER_UP.join('/')} and ${FETCHER_DOWN.join('/')}), ${SIZE / MiB} MiB in 1 MiB chunks`)
    console.log('fetcher  up  down  arrival s   real s    sim s  sim/real')
    for (const r of rows) console.log(`${String(r.fetcher).padStart(7)} ${r.up.toFixed(1).padStart(4)} ${r.down.toFixed(1).padStart(5)} ${r.arrival.toFixed(2).padStart(9)} ${r.real.toFixed(1).padStart(8)} ${r.sim.toFixed(1).padStart(8)} ${r.ratio.toFixed(2).padStart(9)}`)
    console.log(`origin share of what fetchers got: real ${(summary.originShareReal * 100).toFixed(1)}%, sim ${(summary.originShareSim * 100).toFixed(1)}% (sim origin upload incl. cancelled copies ${summary.originUploadRatioSim.toFixed(2)}x the model)`)
    console.log(`order of completion: Spearman ${summary.spearman.toFixed(2)}; time sim/real: median ${summary.medianRatio.toFixed(2)}, range ${summary.minRatio.toFixed(2)}-${summary.maxRatio.toFixed(2)}`)
    if (values.json) console.log(JSON.stringify(summary))
  } finally {
    for (const p of running) p.child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
}

main().catch(err => {
  for (const p of running) p.child.kill('SIGKILL')
  console.error(err.stack ?? String(err))
  process.exitCode = 1
})
