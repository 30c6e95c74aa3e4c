// Fetch speed direct vs relayed, in the namespace topology of tests/integration/netns/nat.test.ts:
//   internet 10.79.0.0/24 (a bridge): relay R 10.79.0.10 (--relay-service),
//   router A 10.79.0.1 -> home A 10.79.1.2 (the seeder), router B 10.79.0.2 -> home B 10.79.2.2
// Both routers masquerade and let nothing new in; router A forwards TCP 4001 to the seeder.
//   direct:   seeder with --announce /ip4/10.79.0.1/tcp/4001 (the port forward), fetched from B
//   relayed:  seeder without a forward: reachable only through its reservation on R
// Each figure is the transfer alone: from the first verified byte to the end of the fetch (so
// process start-up and the DHT lookup are left out), MB/s = 10^6 bytes per second. Every byte
// is checked against the source with cmp. All three processes share this machine's CPU cores.
//
// Run as root: npm run build && node_modules/.bin/node scripts/bench-netns.mjs [--mib 512] [--runs 3]
// Everything (namespaces, links, rules, temp files) is removed at the end, also on failure.
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const { values } = parseArgs({ options: { mib: { type: 'string', default: '512' }, runs: { type: 'string', default: '3' } } })
const SIZE = Number(values.mib) * 1024 * 1024
const RUNS = Number(values.runs)
const FLAGS = ['--no-mdns', '--no-upnp', '--no-default-bootstrap', '--dht-protocol', '/p2pweights-bench/kad/1.0.0', '--json']
const tag = randomBytes(2).toString('hex')
const namespaces = []
const procs = new Set()
const work = mkdtempSync(join(os.tmpdir(), 'p2pw-bench-netns-'))
let links = 0

const sh = (...args) => execFileSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 10_000 })
const inNs = (ns, ...cmd) => sh('ip', 'netns', 'exec', ns, ...cmd)
function ns (name) {
  const full = `p2pw-${tag}-${name}`
  sh('ip', 'netns', 'add', full)
  namespaces.push(full)
  inNs(full, 'ip', 'link', 'set', 'lo', 'up')
  return full
}
function plug (inet, host, ip) {
  const h = `b${tag}${links}h`; const s = `b${tag}${links++}s`
  inNs(host, 'ip', 'link', 'add', h, 'type', 'veth', 'peer', 'name', s, 'netns', inet)
  inNs(host, 'ip', 'addr', 'add', ip, 'dev', h); inNs(host, 'ip', 'link', 'set', h, 'up')
  inNs(inet, 'ip', 'link', 'set', s, 'master', 'br0'); inNs(inet, 'ip', 'link', 'set', s, 'up')
  return h
}
function link (a, ipA, b, ipB) {
  const x = `b${tag}${links}a`; const y = `b${tag}${links++}b`
  inNs(a, 'ip', 'link', 'add', x, 'type', 'veth', 'peer', 'name', y, 'netns', b)
  inNs(a, 'ip', 'addr', 'add', ipA, 'dev', x); inNs(a, 'ip', 'link', 'set', x, 'up')
  inNs(b, 'ip', 'addr', 'add', ipB, 'dev', y); inNs(b, 'ip', 'link', 'set', y, 'up')
  return x
}

function start (nsName, label, args) {
  const child = spawn('ip', ['netns', 'exec', nsName, process.execPath, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const proc = { label, child, events: [], stderr: '' }
  procs.add(proc)
  proc.exited = new Promise(resolve => child.on('close', code => { procs.delete(proc); resolve(code) }))
  createInterface({ input: child.stdout }).on('line', line => {
    try { const e = JSON.parse(line); e.at = performance.now(); proc.events.push(e); child.emit('json', e) } catch {}
  })
  child.stderr.on('data', d => { proc.stderr = (proc.stderr + d).slice(-3000) })
  return proc
}
function waitFor (proc, name, ms, where = () => true) {
  const hit = proc.events.find(e => e.event === name && where(e))
  if (hit != null) return Promise.resolve(hit)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${proc.label}: no ${name} in ${ms} ms\n${proc.stderr}`)), ms)
    proc.child.on('json', e => { if (e.event === name && where(e)) { clearTimeout(timer); resolve(e) } })
    proc.exited.then(code => { clearTimeout(timer); reject(new Error(`${proc.label} exited (${code}) before ${name}\n${proc.stderr}`)) })
  })
}
const tcpAddr = (ready, ip) => ready.addrs.find(a => a.startsWith(`/ip4/${ip}/tcp/`) && !a.includes('/ws') && !a.includes('circuit'))

async function fetchOnce (homeB, relayAddr, cid, src, label) {
  const out = join(work, `${label}-out`)
  const proc = start(homeB, label, ['fetch', cid, '-o', out, '--data-dir', join(work, `${label}-data`), '--bootstrap', relayAddr, ...FLAGS])
  const done = await waitFor(proc, 'done', 600_000)
  const first = proc.events.find(e => e.event === 'progress' && e.bytes > 0)
  execFileSync('cmp', [join(src, 'model.bin'), join(out, 'model.bin')])
  rmSync(out, { recursive: true, force: true }); rmSync(join(work, `${label}-data`), { recursive: true, force: true })
  const dropped = proc.events.filter(e => e.event === 'peer-dropped' && e.connected)
  if (dropped.length > 0) console.log(`  ${label}: ${dropped.length} peer drop(s) during the fetch: ${[...new Set(dropped.map(e => e.reason))].join('; ')}`)
  return (done.bytes - first.bytes) / 1e6 / ((done.at - first.at) / 1000)
}

async function main () {
  if (process.getuid?.() !== 0) throw new Error('run as root: it builds network namespaces')
  const inet = ns('inet')
  inNs(inet, 'ip', 'link', 'add', 'br0', 'type', 'bridge'); inNs(inet, 'ip', 'link', 'set', 'br0', 'up')
  const r = ns('r'); plug(inet, r, '10.79.0.10/24')
  const homes = []
  for (const i of [1, 2]) {
    const rt = ns(`rt${i}`); const wan = plug(inet, rt, `10.79.0.${i}/24`)
    const home = ns(`h${i}`); const lan = link(rt, `10.79.${i}.1/24`, home, `10.79.${i}.2/24`)
    inNs(home, 'ip', 'route', 'add', 'default', 'via', `10.79.${i}.1`)
    inNs(rt, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
    inNs(rt, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', wan, '-j', 'MASQUERADE')
    inNs(rt, 'iptables', '-P', 'FORWARD', 'DROP')
    inNs(rt, 'iptables', '-A', 'FORWARD', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT')
    inNs(rt, 'iptables', '-A', 'FORWARD', '-i', lan, '-o', wan, '-j', 'ACCEPT')
    homes.push({ rt, wan, home })
  }
  const [a, b] = homes
  inNs(a.rt, 'iptables', '-t', 'nat', '-A', 'PREROUTING', '-i', a.wan, '-p', 'tcp', '--dport', '4001', '-j', 'DNAT', '--to-destination', '10.79.1.2:4001')
  inNs(a.rt, 'iptables', '-A', 'FORWARD', '-i', a.wan, '-p', 'tcp', '-d', '10.79.1.2', '--dport', '4001', '-j', 'ACCEPT')

  const src = join(work, 'model'); mkdirSync(src)
  const block = randomBytes(8 * 1024 * 1024)
  const fd = []
  for (let off = 0; off < SIZE; off += block.length) fd.push(block.subarray(0, Math.min(block.length, SIZE - off)))
  writeFileSync(join(src, 'model.bin'), Buffer.concat(fd))

  const relay = start(r, 'relay', ['daemon', '--relay-service', '--data-dir', join(work, 'r'), '--api', '127.0.0.1:0', '--listen', '/ip4/0.0.0.0/tcp/4001', ...FLAGS])
  const relayAddr = tcpAddr(await waitFor(relay, 'ready', 30_000), '10.79.0.10')

  const results = {}
  for (const mode of ['direct', 'relayed']) {
    const extra = mode === 'direct' ? ['--listen', '/ip4/0.0.0.0/tcp/4001', '--announce', '/ip4/10.79.0.1/tcp/4001'] : []
    const seeder = start(a.home, `seed-${mode}`, ['seed', src, '--data-dir', join(work, `s-${mode}`), '--name', `bench-${mode}`, '--bootstrap', relayAddr, ...extra, ...FLAGS])
    const ready = await waitFor(seeder, 'ready', 120_000)
    if (mode === 'relayed') await waitFor(seeder, 'reachability', 30_000, e => e.state === 'relayed')
    await waitFor(seeder, 'announced', 60_000, e => e.peers > 0)
    results[mode] = []
    for (let i = 0; i < RUNS; i++) results[mode].push(await fetchOnce(b.home, relayAddr, ready.cid, src, `${mode}-${i}`))
    seeder.child.kill('SIGKILL'); await seeder.exited
  }
  const fmt = xs => xs.map(x => x.toFixed(0)).join(' / ')
  const median = xs => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]
  console.log(`fetch of ${SIZE / 1024 / 1024} MiB from home A to home B (${os.cpus().length} cores), MB/s per run:`)
  console.log(`  direct (port forward + --announce):  ${fmt(results.direct)}   median ${median(results.direct).toFixed(0)}`)
  console.log(`  relayed (through R, --relay-service): ${fmt(results.relayed)}   median ${median(results.relayed).toFixed(0)}`)
}

async function cleanup () {
  for (const p of procs) p.child.kill('SIGKILL')
  await Promise.allSettled([...procs].map(p => p.exited))
  for (const n of namespaces.reverse()) { try { sh('ip', 'netns', 'del', n) } catch {} }
  rmSync(work, { recursive: true, force: true })
}

process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)) })
main().then(cleanup, async err => { console.error(err.message); await cleanup(); process.exitCode = 1 })
