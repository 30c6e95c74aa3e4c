// `npm start`: a whole p2pweights swarm on this machine, on defaults that just work offline.
// Makes a small model folder, seeds it from two processes (the second finds the first through
// a private DHT on 127.0.0.1), fetches it by CID from a third process that knows only the first
// seeder's address, and checks the fetched folder byte for byte. Nothing leaves 127.0.0.1.
//   node scripts/demo.mjs [--mib N] [--keep]
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const args = process.argv.slice(2)
const mib = Number(args[args.indexOf('--mib') + 1] ?? 0) || 96
const keep = args.includes('--keep')
const NET = ['--no-mdns', '--no-upnp', '--no-default-bootstrap', '--dht-protocol', '/p2pweights-demo/kad/1.0.0', '--listen', '/ip4/127.0.0.1/tcp/0', '--json']
const children = []

function run (argv) {
  const child = spawn(process.execPath, [CLI, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const events = []
  const waiters = []
  createInterface({ input: child.stdout }).on('line', line => {
    let e
    try { e = JSON.parse(line) } catch { return }
    events.push(e)
    for (const w of [...waiters]) if (w.match(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e) }
  })
  const exited = new Promise(resolve => child.on('exit', code => resolve(code)))
  const waitFor = (event, ms = 60_000) => {
    const found = events.find(e => e.event === event)
    if (found != null) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${event}" from p2pweights ${argv[0]} within ${ms / 1000} s`)), ms)
      waiters.push({ match: e => e.event === event, resolve: e => { clearTimeout(timer); resolve(e) } })
      exited.then(code => reject(new Error(`p2pweights ${argv[0]} exited with ${code} before "${event}"`)))
    })
  }
  return { child, waitFor, exited }
}

async function sha256 (path) {
  return createHash('sha256').update(await readFile(path)).digest('hex')
}

async function main () {
  const dir = await mkdtemp(join(tmpdir(), 'p2pweights-demo-'))
  try {
    const model = join(dir, 'demo-model')
    await mkdir(join(model, 'tokenizer'), { recursive: true })
    const block = Buffer.alloc(1024 * 1024)
    const weights = Buffer.alloc(mib * 1024 * 1024)
    for (let i = 0; i < mib; i++) {
      createHash('sha512').update(`block ${i}`).digest().copy(block) // varied, reproducible content
      for (let j = 64; j < block.length; j += 64) block.writeUInt32LE(i * 65536 + j, j)
      block.copy(weights, i * block.length)
    }
    await writeFile(join(model, 'model.safetensors'), weights)
    await writeFile(join(model, 'config.json'), JSON.stringify({ model_type: 'demo', hidden_size: 64 }, null, 2))
    await writeFile(join(model, 'tokenizer', 'tokenizer.json'), JSON.stringify({ version: '1.0', vocab: ['a', 'b'] }))
    await cp(model, join(dir, 'mirror', 'demo-model'), { recursive: true })
    console.log(`made ${model} (${mib} MiB of weights)`)

    const key = join(dir, 'publisher.key')
    const keygen = run(['keygen', '--out', key, '--json'])
    const { publisher } = await keygen.waitFor('key')
    console.log(`publisher key ${publisher}`)

    const a = run(['seed', model, '--key', key, '--data-dir', join(dir, 'node-a'), ...NET])
    const readyA = await a.waitFor('ready')
    console.log(`seeder A ready: ${readyA.cid}\n  at ${readyA.addrs[0]}`)
    const b = run(['seed', join(dir, 'mirror', 'demo-model'), '--key', key, '--data-dir', join(dir, 'node-b'), '--bootstrap', readyA.addrs[0], ...NET])
    await b.waitFor('ready')
    await b.waitFor('announced') // B's provider record is in the DHT now
    console.log('seeder B (a mirror, bootstrapped from A) ready and announced')

    const out = join(dir, 'fetched')
    const started = Date.now()
    const f = run(['fetch', readyA.cid, '-o', out, '--trust', publisher, '--data-dir', join(dir, 'node-f'), '--bootstrap', readyA.addrs[0], ...NET])
    const done = await f.waitFor('done', 120_000)
    const seconds = (Date.now() - started) / 1000
    console.log(`fetched ${done.bytes} bytes into ${out} in ${seconds.toFixed(1)} s, from:`)
    for (const [peer, bytes] of Object.entries(done.fromPeers)) console.log(`  ${peer}: ${(bytes / 2 ** 20).toFixed(1)} MiB`)
    for (const rel of ['model.safetensors', 'config.json', 'tokenizer/tokenizer.json']) {
      if (await sha256(join(model, rel)) !== await sha256(join(out, rel))) throw new Error(`${rel} differs`)
    }
    console.log('all files byte-identical: the demo swarm works')
  } finally {
    for (const c of children) c.kill('SIGTERM')
    await Promise.all(children.map(c => new Promise(resolve => c.exitCode != null ? resolve() : c.on('exit', resolve))))
    if (keep) console.log(`kept ${dir}`)
    else await rm(dir, { recursive: true, force: true })
  }
}

process.on('SIGINT', () => { for (const c of children) c.kill('SIGTERM') })
main().catch(err => {
  console.error(`error: ${err.message}`)
  process.exitCode = 1
})
