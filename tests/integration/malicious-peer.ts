/**
 * A test-only malicious peer: a real libp2p node (same transports, Noise, yamux settings as
 * p2pweights) speaking /p2pweights/chunks/1.0.0, started as its own process by the tests and
 * benchmarks (Node runs this file directly, types stripped; it loads the built code from dist/).
 *
 * As a provider (`--mode`), for a release it serves from `--release <file>` (the real bytes):
 *   trickle            HAVE "all", then every chunk response one byte per 300 ms
 *   withhold           HAVE "all", then never answers a chunk request
 *   lie-have           HAVE "all", then answers every chunk with ERROR not-found
 *   corrupt            HAVE "all", chunks of the right length and wrong bytes
 *   wrong-release      GET_RELEASE answered with other bytes of a plausible size
 *   oversized-release  GET_RELEASE answered with a frame that claims 200 MiB and keeps sending
 *   pex-late           HAVE nothing (and no answer to WATCH_HAVE); its first peer-exchange
 *                      answer is empty, every later one lists `--pex-addr` (a peer that arrived
 *                      after the first): a fetch finds that peer only by asking again
 *   pex-spam           HAVE nothing; every peer-exchange answer names 32 fresh peer ids, all at
 *                      127.0.0.1 port 1 (nothing listens there), printed in its `pex` event
 *   overrun            HAVE only the chunks over 1 MiB, then each as one whole frame of zeros,
 *                      printing `{"event":"overrun",…}`; with `--window 8388608` (an 8 MiB yamux
 *                      window, as builds before 1 MiB assumed) a 4 MiB chunk overruns the
 *                      fetcher's 1 MiB window. Smaller chunks fit any window (their zeros would
 *                      be read, hashed and rightly called corrupt), so it does not offer them.
 * As a client (`--mode hog --target <addr> --cid <cid>`) against a seeder: opens as many chunk
 * streams as the seeder allows on one connection, floods each with pipelined chunk requests and
 * withholds yamux window updates, so every response it draws stays stuck in the seeder.
 *
 * Prints `{"event":"ready","peerId":…,"addrs":[…]}` and, for hog, `{"event":"hog","streams":n}`
 * on stdout; runs until killed. Only ever listens on and dials 127.0.0.1.
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'

const dist = (path: string): string => new URL(`../../dist/${path}`, import.meta.url).href
const { createNode } = await import(dist('net/node.js')) as typeof import('../../src/net/node.js')
const codec = await import(dist('swarm/codec.js')) as typeof import('../../src/swarm/codec.js')
const { openRelease } = await import(dist('manifest/signed.js')) as typeof import('../../src/manifest/signed.js')
const { ChunkIndex } = await import(dist('manifest/manifest.js')) as typeof import('../../src/manifest/manifest.js')
const { Bitfield } = await import(dist('store/bitfield.js')) as typeof import('../../src/store/bitfield.js')
const { byteStream } = await import('@libp2p/utils')
const { generateKeyPair } = await import('@libp2p/crypto/keys')
const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
const { multiaddr } = await import('@multiformats/multiaddr')
const { CID } = await import('multiformats/cid')

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string' },
    release: { type: 'string' },
    cid: { type: 'string' },
    target: { type: 'string' },
    dht: { type: 'string', default: '/p2pweights-test/kad/1.0.0' },
    streams: { type: 'string', default: '64' },
    pipeline: { type: 'string', default: '16' },
    window: { type: 'string' },
    'pex-addr': { type: 'string' }
  }
})
const mode = args.mode ?? 'trickle'
const { PROTOCOL, MessageType, ErrorCode } = codec

const node = await createNode({
  privateKey: await generateKeyPair('Ed25519'),
  listen: ['/ip4/127.0.0.1/tcp/0'],
  bootstrap: [],
  mdns: false,
  dhtProtocol: args.dht,
  streamWindow: args.window == null ? undefined : Number(args.window)
})

/** overrun: the chunks too big for a 1 MiB window, as a HAVE bitfield. */
const OVERRUN_MIN = 1024 * 1024
function overrunHave (index: InstanceType<typeof ChunkIndex>): Uint8Array {
  const have = new Bitfield(index.total)
  index.manifest.files.forEach((_, file) => {
    for (let c = 0; c < index.count(file); c++) if (index.length(file, c) > OVERRUN_MIN) have.set(index.first(file) + c)
  })
  return have.bytes
}

let pexAsked = 0

const timers = new Set<NodeJS.Timeout>()
const later = (ms: number, fn: () => void): void => {
  const t = setTimeout(() => { timers.delete(t); fn() }, ms)
  timers.add(t)
}

if (mode === 'hog') {
  await node.start()
  print({ event: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()) })
  await hog()
} else {
  const releaseBytes = args.release == null ? undefined : new Uint8Array(await readFile(args.release))
  const cid = args.cid == null ? undefined : CID.parse(args.cid)
  const release = releaseBytes != null && cid != null ? await openRelease(cid, releaseBytes) : undefined
  const index = release == null ? undefined : new ChunkIndex(release.manifest)
  const overrunBits = mode === 'overrun' && index != null ? overrunHave(index) : undefined
  await node.handle(PROTOCOL, (stream: any) => { void serve(stream) }, { maxInboundStreams: 256 })
  await node.start()
  print({ event: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()) })

  async function serve (stream: any): Promise<void> {
    const bytes = byteStream(stream)
    try {
      while (true) {
        const frame = await codec.readFrame(bytes, codec.MAX_REQUEST_BYTES)
        if (frame == null) return
        const req = codec.decodeRequest(frame)
        if (req.type === MessageType.GetRelease) {
          if (releaseBytes == null) stream.send(codec.encodeError(ErrorCode.NotFound, 'no'))
          else if (mode === 'wrong-release') stream.send(codec.encodeRelease(releaseBytes.map((b, i) => b ^ (i & 0xff) ^ 0x5a)))
          else if (mode === 'oversized-release') oversized(stream)
          else stream.send(codec.encodeRelease(releaseBytes))
        } else if (req.type === MessageType.GetPeers) {
          pexAsked++
          if (mode === 'pex-spam') {
            const ids = await Promise.all(Array.from({ length: 32 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
            print({ event: 'pex', asked: pexAsked, ids })
            stream.send(codec.encodePeers(ids.map(id => multiaddr(`/ip4/127.0.0.1/tcp/1/p2p/${id}`).bytes)))
            continue
          }
          print({ event: 'pex', asked: pexAsked })
          stream.send(codec.encodePeers(mode === 'pex-late' && pexAsked > 1 && args['pex-addr'] != null ? [multiaddr(args['pex-addr']).bytes] : []))
        } else if (req.type === MessageType.GetHave) {
          if ((mode === 'pex-late' || mode === 'pex-spam') && index != null) stream.send(codec.encodeHave(new Bitfield(index.total).bytes))
          else stream.send(codec.encodeHave(overrunBits ?? 'all'))
        } else if (req.type === MessageType.GetChunk && index != null) {
          const length = index.length(req.file, req.chunk)
          if (mode === 'withhold') continue
          if (mode === 'lie-have') { stream.send(codec.encodeError(ErrorCode.NotFound, 'chunk not held')); continue }
          if (mode === 'corrupt') { stream.send(codec.encodeChunk(new Uint8Array(length).fill(0x42))); continue }
          if (mode === 'overrun') {
            if (length <= OVERRUN_MIN) continue
            print({ event: 'overrun', file: req.file, chunk: req.chunk, length })
            stream.send(codec.encodeChunk(new Uint8Array(length)))
            continue
          }
          // trickle: the frame header, then one byte every 300 ms; never finishes a 4 MiB chunk
          stream.send(codec.encodeChunk(new Uint8Array(length)).sublist(0, 6).subarray())
          const drip = (): void => { if (stream.status === 'open') { stream.send(Uint8Array.of(0)); later(300, drip) } }
          later(300, drip)
          return // one request per stream is all a trickler needs
        }
      }
    } catch {
      stream.abort(new Error('malicious peer done'))
    }
  }
}

/** A RELEASE frame that claims 200 MiB, then sends it 1 MiB at a time as long as it is read. */
function oversized (stream: any): void {
  const claimed = 200 * 1024 * 1024
  const varint: number[] = []
  for (let n = claimed + 1; ; n = Math.floor(n / 128)) {
    if (n < 0x80) { varint.push(n); break }
    varint.push((n & 0x7f) | 0x80)
  }
  stream.send(Uint8Array.from([...varint, MessageType.Release]))
  const mib = new Uint8Array(1024 * 1024)
  let sent = 0
  const more = (): void => {
    while (sent < claimed && stream.status === 'open') {
      sent += mib.length
      if (!stream.send(mib)) { stream.addEventListener('drain', more, { once: true }); return }
    }
  }
  more()
}

/** Takes every stream and upload slot of the target it can, and never reads a response. */
async function hog (): Promise<void> {
  const target = multiaddr(args.target ?? '')
  const cid = CID.parse(args.cid ?? '')
  const want = Number(args.streams)
  const pipeline = Number(args.pipeline)
  const streams = new Set<any>()
  const openOne = async (i: number): Promise<void> => {
    const stream: any = await node.dialProtocol(target, PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    stream.sendPause?.() // yamux: stop sending window updates; responses stall in the seeder
    stream.addEventListener('message', () => {})
    streams.add(stream)
    for (let k = 0; k < pipeline; k++) stream.send(codec.encodeRequest({ type: MessageType.GetChunk, cid, file: 0, chunk: (i * pipeline + k) % 4 }))
    // Lost it: take another, half a second later (the run ends when the test kills us).
    stream.addEventListener('close', () => { streams.delete(stream); later(500, () => { void openOne(i).catch(() => {}) }) })
  }
  await Promise.allSettled(Array.from({ length: want }, async (_, i) => await openOne(i)))
  // Report how many streams the seeder let us keep open, every second.
  const report = (): void => {
    print({ event: 'hog', streams: [...streams].filter(s => s.status === 'open').length })
    later(1000, report)
  }
  later(1000, report)
}

function print (event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event) + '\n')
}

process.on('SIGTERM', () => { for (const t of timers) clearTimeout(t); void Promise.resolve(node.stop()).finally(() => process.exit(0)) })
