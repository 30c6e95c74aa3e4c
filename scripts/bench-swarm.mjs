// p2pweights swarm benchmark, all on 127.0.0.1, in one run:
//   crowd    one origin seeder, N fetchers started together (crowd time, failures, origin upload / model size, peers used per fetcher, peak RSS
//            per process), then one fetcher alone (solo time). Fetchers find each other through the DHT of the origin (--bootstrap)
//            and through the swarm itself (peer exchange); they also get the origin by --peer.
//   hostile  (--hostile) issue 6's two figures: a fetch with two tricklers beside one honest
//            seeder vs the honest seeder alone, and a fetch while a hostile connection floods
//            the seeder and withholds window updates vs a normal fetch.
// A model-like folder (a config and one big file) is generated in a temp dir, removed at the end.
//
// Run: npm run build && npm run bench:swarm -- --fetchers 16 --gib 0.1 [--chunk-mib 4] [--hostile]
// Peak RSS is VmHWM from /proc (Linux), polled every 200 ms. Times include process start-up.
// CPU is each process's user + system time from /proc/PID/stat, polled likewise (the last 200 ms
// of a process are missed): the crowd's CPU over the cores is the soonest it could end here.
// BENCH_VERBOSE=1 prints each fetcher's phases; BENCH_NODE_ARGS adds node flags to every process.
import { execFileSync, spawn } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const MALICIOUS = fileURLToPath(new URL('../tests/integration/malicious-peer.ts', import.meta.url))
const MiB = 1024 ** 2
const NET = ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--no-default-bootstrap', '--dht-protocol', '/p2pweights-bench/kad/1.0.0', '--json']

const { values: args } = parseArgs({
  options: {
    fetchers: { type: 'string', default: '8' },
    gib: { type: 'string', default: '0.1' },
    'chunk-mib': { type: 'string', default: '4' },
    timeout: { type: 'string', default: '600' },
    hostile: { type: 'boolean', default: false },
    'skip-crowd': { type: 'boolean', default: false }
  }
})
const N = Number(args.fetchers)
const BYTES = Math.round(Number(args.gib) * 1024 * MiB)
const TIMEOUT = Number(args.timeout) * 1000

const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }))
const CORES = os.availableParallelism()

const running = new Set()
function launch (label, file, argv) {
  // BENCH_NODE_ARGS: extra node flags for every process, e.g. "--cpu-prof --cpu-prof-dir=DIR".
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(a => a !== '')
  const child = spawn(process.execPath, [...nodeArgs, ...(file === CLI ? [CLI, ...argv] : ['--no-warnings', file, ...argv])], { stdio: ['ignore', 'pipe', 'pipe'] })
  const proc = { label, child, events: [], stderr: '', hwm: 0, cpu: 0, started: Date.now() }
  running.add(proc)
  proc.exited = new Promise(resolve => child.on('close', code => { running.delete(proc); clearInterval(proc.poll); resolve(code) }))
  createInterface({ input: child.stdout }).on('line', line => {
    try { const e = JSON.parse(line); e.at = Date.now() - proc.started; proc.events.push(e); child.emit('json', e) } catch {}
  })
  child.stderr.on('data', d => { proc.stderr = (proc.stderr + d).slice(-3000) })
  proc.poll = setInterval(() => {
    readFile(`/proc/${child.pid}/status`, 'utf8').then(s => {
      proc.hwm = Math.max(proc.hwm, Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024)
    }, () => {})
    readFile(`/proc/${child.pid}/stat`, 'utf8').then(s => {
      const fields = s.slice(s.lastIndexOf(')') + 2).split(' ') // the command name may hold spaces
      proc.cpu = (Number(fields[11]) + Number(fields[12])) / TICKS // utime, stime
    }, () => {})
  }, 200)
  return proc
}

function waitFor (proc, name, ms) {
  const seen = proc.events.find(e => e.event === name)
  if (seen) return Promise.resolve(seen)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${proc.label}: no ${name} in ${ms} ms\n${proc.stderr}`)), ms)
    proc.child.on('json', e => { if (e.event === name) { clearTimeout(timer); resolve(e) } })
    proc.exited.then(code => { clearTimeout(timer); reject(new Error(`${proc.label} exited ${code} before ${name}\n${proc.stderr}`)) })
  })
}

const local = ready => ready.addrs.find(a => a.startsWith('/ip4/127.0.0.1/'))

async function makeModel (dir) {
  await writeFile(join(dir, 'config.json'), JSON.stringify({ model: 'bench', bytes: BYTES }))
  const fh = await open(join(dir, 'model.safetensors'), 'w')
  const block = Buffer.alloc(16 * MiB)
  for (let at = 0; at < BYTES; at += block.length) {
    randomFillSync(block)
    await fh.write(block, 0, Math.min(block.length, BYTES - at), at)
  }
  await fh.close()
}

/** Runs fetchers together; returns per-fetcher results and the wall time until the last exit. */
async function fetchAll (work, cid, count, extra, label) {
  const started = Date.now()
  const procs = []
  for (let i = 0; i < count; i++) {
    procs.push(launch(`${label}-${i}`, CLI, ['fetch', cid, '-o', join(work, `${label}-out-${i}`), '--data-dir', join(work, `${label}-data-${i}`), ...NET, ...extra]))
  }
  const results = await Promise.all(procs.map(async p => {
    const timer = setTimeout(() => p.child.kill('SIGKILL'), TIMEOUT)
    const code = await p.exited
    clearTimeout(timer)
    const done = p.events.find(e => e.event === 'done')
    if (process.env.BENCH_VERBOSE != null) {
      const drops = p.events.filter(e => e.event === 'peer-dropped').map(e => String(e.reason).slice(0, 60))
      const at = name => { const e = p.events.find(e => e.event === name); return e == null ? '-' : (e.at / 1000).toFixed(2) }
      console.log(`  ${p.label}: ${done?.seconds ?? '-'} s; since spawn: manifest ${at('manifest')} s, first progress ${at('progress')} s, done ${at('done')} s; dropped: ${JSON.stringify(drops)}`)
    }
    return { code, done, hwm: p.hwm, seconds: done?.seconds, error: code === 0 ? undefined : (p.stderr.split('\n').filter(l => l.startsWith('error:')).join(' ') || `exit ${code} ${p.child.signalCode ?? ''}; last: ${JSON.stringify(p.events.slice(-2))}; stderr: ${p.stderr.slice(-600)}`).slice(0, 1400) }
  }))
  return { results, wall: (Date.now() - started) / 1000, cpu: procs.reduce((n, p) => n + p.cpu, 0) }
}

const fmt = n => Number.isFinite(n) ? n.toFixed(2) : String(n)

async function crowd (work, origin, ready) {
  const extra = ['--bootstrap', local(ready), '--peer', local(ready)]
  // The crowd first, while the origin is in initial seeding (as on release day); then one
  // fetcher alone for the solo time.
  const originCpu0 = origin.cpu
  const crowdRun = await fetchAll(work, ready.cid, N, extra, 'crowd')
  const originCpu1 = origin.cpu
  const solo = await fetchAll(work, ready.cid, 1, extra, 'solo')
  const crowdCpu = crowdRun.cpu + originCpu1 - originCpu0
  const soloCpu = solo.cpu + origin.cpu - originCpu1
  if (solo.results[0].code !== 0) throw new Error(`solo fetch failed: ${solo.results[0].error}`)
  const ok = crowdRun.results.filter(r => r.code === 0)
  const fromOrigin = ok.reduce((n, r) => n + (r.done.fromPeers[ready.peerId] ?? 0), 0)
  const peers = ok.map(r => Object.keys(r.done.fromPeers).length)
  const summary = {
    fetchers: N,
    gib: Number(args.gib),
    soloSeconds: solo.wall,
    crowdSeconds: crowdRun.wall,
    crowdOverSolo: crowdRun.wall / solo.wall,
    failures: N - ok.length,
    originUploadRatio: fromOrigin / BYTES,
    peersPerFetcher: { min: Math.min(...peers), max: Math.max(...peers), mean: peers.reduce((a, b) => a + b, 0) / Math.max(1, peers.length) },
    peakRssMiB: { origin: Math.round(origin.hwm), fetcherMax: Math.round(Math.max(...crowdRun.results.map(r => r.hwm))) },
    cpuSeconds: { crowd: crowdCpu, solo: soloCpu, cores: CORES }
  }
  console.log(`solo ${fmt(solo.wall)} s; crowd of ${N}: ${fmt(crowdRun.wall)} s (${fmt(summary.crowdOverSolo)}x solo), ${summary.failures} failed`)
  console.log(`origin upload ${fmt(summary.originUploadRatio)}x the model; peers used per fetcher ${peers.join(',')}`)
  console.log(`peak RSS: origin ${summary.peakRssMiB.origin} MiB, fetchers max ${summary.peakRssMiB.fetcherMax} MiB`)
  console.log(`CPU (user + system, every process): crowd ${fmt(crowdCpu)} s, solo ${fmt(soloCpu)} s; on ${CORES} cores the crowd cannot end ` +
    `before ${fmt(crowdCpu / CORES)} s (${fmt(crowdCpu / CORES / solo.wall)}x solo); at this CPU a crowd within 3x solo needs ${Math.ceil(crowdCpu / (3 * solo.wall))} cores`)
  for (const r of crowdRun.results) if (r.code !== 0) console.log(`  failure: ${r.error}`)
  return summary
}

async function hostile (work, ready, releaseFile) {
  const honest = await fetchAll(work, ready.cid, 1, ['--peer', local(ready)], 'honest')
  const tricklers = []
  for (let i = 0; i < 2; i++) {
    const t = launch(`trickler-${i}`, MALICIOUS, ['--mode', 'trickle', '--cid', ready.cid, '--release', releaseFile, '--dht', '/p2pweights-bench/kad/1.0.0'])
    tricklers.push(local(await waitFor(t, 'ready', 30_000)))
  }
  const withTricklers = await fetchAll(work, ready.cid, 1, [...tricklers.flatMap(a => ['--peer', a]), '--peer', local(ready)], 'trickled')
  const hog = launch('hog', MALICIOUS, ['--mode', 'hog', '--target', local(ready), '--cid', ready.cid, '--dht', '/p2pweights-bench/kad/1.0.0'])
  await waitFor(hog, 'hog', 30_000)
  const hogged = await fetchAll(work, ready.cid, 1, ['--peer', local(ready)], 'hogged')
  hog.child.kill('SIGKILL')
  const t = honest.wall
  const summary = {
    honestSeconds: t,
    withTwoTricklersSeconds: withTricklers.wall,
    tricklerBound: 3 * t + 20,
    tricklersOk: withTricklers.results[0].code === 0 && withTricklers.wall <= 3 * t + 20,
    hoggedRateRatio: t / hogged.wall,
    hoggedOk: hogged.results[0].code === 0 && t / hogged.wall >= 0.5
  }
  console.log(`honest alone ${fmt(t)} s; with two tricklers ${fmt(withTricklers.wall)} s (bound 3x + 20 s = ${fmt(summary.tricklerBound)} s)`)
  console.log(`under a hostile connection: ${fmt(hogged.wall)} s, rate ${fmt(summary.hoggedRateRatio)}x normal (target >= 0.5)`)
  return summary
}

async function main () {
  const work = await mkdtemp(join(os.tmpdir(), 'p2pw-bench-swarm-'))
  try {
    const src = join(work, 'model')
    await import('node:fs/promises').then(fs => fs.mkdir(src))
    await makeModel(src)
    const dataDir = join(work, 'origin-data')
    const origin = launch('origin', CLI, ['seed', src, '--data-dir', dataDir, '--name', 'bench-swarm', '--chunk-size', args['chunk-mib'], ...NET])
    const ready = await waitFor(origin, 'ready', 300_000)
    const out = {}
    if (!args['skip-crowd']) out.crowd = await crowd(work, origin, ready)
    if (args.hostile) out.hostile = await hostile(work, ready, join(dataDir, 'releases', ready.cid))
    console.log(JSON.stringify(out))
  } finally {
    for (const p of running) p.child.kill('SIGKILL')
    await rm(work, { recursive: true, force: true })
  }
}

main().catch(err => { console.error(err.message); for (const p of running) p.child.kill('SIGKILL'); process.exit(1) })
