// Raw js-libp2p stream throughput between two processes on 127.0.0.1:
// TCP + Noise + yamux, one libp2p node per process, library defaults.
// This is the ceiling a p2pweights fetch from one seeder is compared against.
//
// The server answers each /bench/raw/1.0.0 stream with the number of bytes the
// client asks for (sent from one reusable 1 MiB buffer, respecting backpressure).
// The client reads with `for await (const chunk of stream)` and by default writes
// what it receives to a temp file (page cache, no fsync), like a real fetcher.
// MB/s means 10^6 bytes per second.
//
// Run (libp2p 3 needs Node >= 22):
//   node_modules/.bin/node scripts/raw-throughput.mjs [--bytes N] [--streams 1,4] [--no-disk]
//     spawns a server and one client per stream count; prints one JSON line each.
//     Size also settable with RAW_BENCH_BYTES (default 1 GiB).
//   raw-throughput.mjs serve                                    (prints {"event":"listening","addr":...})
//   raw-throughput.mjs client <multiaddr> <bytes> <streams> [--no-disk]
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddr } from '@multiformats/multiaddr'

const PROTOCOL = '/bench/raw/1.0.0'
const SEND_SIZE = 1024 * 1024
const REQUEST_SIZE = 8 // one big-endian uint64: how many bytes to send
const DEFAULT_BYTES = 1024 ** 3
const SERVER_MAX_LIFETIME_MS = 60 * 60 * 1000
const CLIENT_TIMEOUT_MS = 20 * 60 * 1000
const SERVER_START_TIMEOUT_MS = 30_000

function createNode () {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
}

// ---- server role -----------------------------------------------------------

async function readRequest (stream) {
  const parts = []
  let length = 0
  for await (const chunk of stream) { // ends when the client closes its write side
    length += chunk.byteLength
    if (length > REQUEST_SIZE) throw new Error('request too long')
    parts.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
  }
  if (length !== REQUEST_SIZE) throw new Error(`request of ${length} bytes, expected ${REQUEST_SIZE}`)
  return Number(Buffer.concat(parts).readBigUInt64BE(0))
}

async function sendBytes (stream, total, buf) {
  let remaining = total
  while (remaining > 0) { // bounded: ceil(total / SEND_SIZE) iterations
    const n = Math.min(remaining, buf.byteLength)
    const hasRoom = stream.send(n === buf.byteLength ? buf : buf.subarray(0, n))
    remaining -= n
    if (!hasRoom) await stream.onDrain({ signal: AbortSignal.timeout(60_000) })
  }
  await stream.close()
}

async function serve () {
  const buf = randomBytes(SEND_SIZE)
  const node = await createNode()
  await node.handle(PROTOCOL, async (stream) => {
    try {
      await sendBytes(stream, await readRequest(stream), buf)
    } catch (err) {
      stream.abort(err)
    }
  })
  const stop = async () => { await node.stop(); process.exit(0) }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  process.stdin.on('close', stop) // parent went away: do not linger
  process.stdin.resume()
  setTimeout(stop, SERVER_MAX_LIFETIME_MS).unref()
  const addr = node.getMultiaddrs()[0].toString()
  process.stdout.write(JSON.stringify({ event: 'listening', addr }) + '\n')
}

// ---- client role -----------------------------------------------------------

async function receiveInto (stream, fh, position) {
  let received = 0
  for await (const chunk of stream) {
    if (fh != null) {
      if (chunk instanceof Uint8Array) await fh.write(chunk, 0, chunk.byteLength, position + received)
      else await fh.writev([...chunk], position + received)
    }
    received += chunk.byteLength
  }
  return received
}

async function fetchOverStream (node, addr, bytes, fh, position) {
  const stream = await node.dialProtocol(addr, PROTOCOL, { signal: AbortSignal.timeout(30_000) })
  const receiving = receiveInto(stream, fh, position) // attach the reader before asking
  const request = Buffer.alloc(REQUEST_SIZE)
  request.writeBigUInt64BE(BigInt(bytes))
  stream.send(request)
  await stream.close() // half-close: the server sees the end of the request
  const received = await receiving
  if (received !== bytes) throw new Error(`stream got ${received} bytes, expected ${bytes}`)
}

async function client (addrString, bytes, streams, toDisk) {
  const timer = setTimeout(() => { console.error('error: client timed out'); process.exit(1) }, CLIENT_TIMEOUT_MS)
  const dir = toDisk ? await mkdtemp(join(tmpdir(), 'p2pw-raw-')) : null
  const fh = toDisk ? await open(join(dir, 'received.bin'), 'w') : null
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => { if (dir != null) rmSync(dir, { recursive: true, force: true }); process.exit(130) })
  }
  const node = await createNode()
  try {
    const addr = multiaddr(addrString)
    const share = Math.floor(bytes / streams)
    const cpuBefore = process.cpuUsage()
    const start = performance.now()
    await node.dial(addr) // one connection; every stream below is muxed on it
    await Promise.all(Array.from({ length: streams }, (_, i) => {
      const size = i === streams - 1 ? bytes - share * (streams - 1) : share
      return fetchOverStream(node, addr, size, fh, share * i)
    }))
    await fh?.close()
    const seconds = (performance.now() - start) / 1000
    const cpu = process.cpuUsage(cpuBefore)
    if (node.getConnections().length !== 1) throw new Error('expected exactly one connection')
    console.log(JSON.stringify({
      bytes,
      seconds: +seconds.toFixed(3),
      MBps: +(bytes / 1e6 / seconds).toFixed(1),
      streams,
      toDisk,
      clientCpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      clientPeakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024)
    }))
  } finally {
    clearTimeout(timer)
    await fh?.close().catch(() => {})
    await node.stop()
    if (dir != null) await rm(dir, { recursive: true, force: true })
  }
}

// ---- orchestrator (default role) ---------------------------------------------

const children = new Set()
const killChildren = () => { for (const child of children) child.kill('SIGTERM') }

function run (args, stdin = 'ignore') {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], { stdio: [stdin, 'pipe', 'inherit'] })
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}

function firstJsonLine (child, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for child output')), timeoutMs)
    const lines = createInterface({ input: child.stdout })
    lines.once('line', (line) => { clearTimeout(timer); resolve(JSON.parse(line)) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited with code ${code} before output`)) })
  })
}

function option (args, name) {
  const i = args.indexOf(name)
  return i === -1 ? undefined : args[i + 1]
}

async function orchestrate (args) {
  const bytes = Number(option(args, '--bytes') ?? process.env.RAW_BENCH_BYTES ?? DEFAULT_BYTES)
  const streamCounts = (option(args, '--streams') ?? '1,4').split(',').map(Number)
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error('--bytes must be a positive integer')
  if (streamCounts.some(n => !Number.isInteger(n) || n < 1 || n > 32)) throw new Error('--streams must be 1..32')
  const noDisk = args.includes('--no-disk')
  process.on('exit', killChildren)
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => { killChildren(); process.exit(130) })
  console.error(`raw libp2p throughput: ${bytes} bytes, client ${noDisk ? 'discards data' : 'writes to a temp file'}`)
  const server = run(['serve'], 'pipe')
  const { addr } = await firstJsonLine(server, SERVER_START_TIMEOUT_MS)
  for (const streams of streamCounts) {
    const client = run(['client', addr, String(bytes), String(streams), ...(noDisk ? ['--no-disk'] : [])])
    console.log(JSON.stringify(await firstJsonLine(client, CLIENT_TIMEOUT_MS)))
    await new Promise(resolve => client.exitCode != null ? resolve() : client.once('exit', resolve))
  }
  killChildren()
}

const [role, ...rest] = process.argv.slice(2)
try {
  if (role === 'serve') await serve()
  else if (role === 'client') {
    const [addr, bytes, streams] = [rest[0], Number(rest[1]), Number(rest[2] ?? 1)]
    if (addr == null || !Number.isSafeInteger(bytes) || bytes <= 0 || !(streams >= 1)) throw new Error('usage: client <multiaddr> <bytes> <streams>')
    await client(addr, bytes, streams, !rest.includes('--no-disk'))
    process.exit(0)
  } else await orchestrate(process.argv.slice(2))
} catch (err) {
  console.error(`error: ${err.message}`)
  killChildren()
  process.exit(1)
}
