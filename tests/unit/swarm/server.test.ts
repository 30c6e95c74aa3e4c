import { byteStream, streamPair } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import { sha256 as mfSha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { ChunkIndex } from '../../../src/manifest/manifest.js'
import { signRelease, type Release } from '../../../src/manifest/signed.js'
import { Bitfield } from '../../../src/store/bitfield.js'
import type { ChunkSource } from '../../../src/store/chunk-source.js'
import { SourceUnavailableError } from '../../../src/store/errors.js'
import { ChunkServer } from '../../../src/swarm/server.js'
import { UPLOAD_SLICE } from '../../../src/swarm/constants.js'
import { ErrorCode, MAX_REQUEST_BYTES, MessageType, PROTOCOL, encodeRequest } from '../../../src/swarm/codec.js'
import { RateLimiter } from '../../../src/swarm/rate-limiter.js'
import { SMALL_CHUNK, bytesOf, keys, manifestOf, waitFor } from '../helpers.js'
import type { Stream } from '@libp2p/interface'

const C = SMALL_CHUNK
const FILE = bytesOf(2 * C + 10, 1) // chunks 0, 1 and a 10-byte tail
const [key] = await keys()
const release: Release = await signRelease(manifestOf([{ path: 'a.bin', bytes: FILE }, { path: 'b.bin', bytes: bytesOf(5, 2) }]), key)
const unknownCid = CID.createV1(0x71, await mfSha256.digest(Uint8Array.of(0)))

/** An in-memory source of `rel` (its files' bytes in `files`) holding `held` (global chunk numbers); file 1 cannot be read. */
function memorySource (held: number[], rel = release, files = [FILE], reads: Array<[number, number]> = []): ChunkSource {
  const index = new ChunkIndex(rel.manifest)
  const have = new Bitfield(index.total)
  for (const g of held) have.set(g)
  const readSlice = async (fileIndex: number, chunk: number, offset: number, into: Buffer): Promise<Uint8Array> => {
    if (fileIndex === 1) throw new SourceUnavailableError('b.bin changed on disk')
    reads.push([offset, into.length])
    const start = chunk * index.chunkSize + offset
    const bytes = files[fileIndex].subarray(start, Math.min(start + into.length, (chunk + 1) * index.chunkSize))
    into.set(bytes)
    return into.subarray(0, bytes.length)
  }
  return {
    release: rel,
    index,
    have: () => have,
    readSlice,
    readChunk: async (fileIndex, chunk, into) => await readSlice(fileIndex, chunk, 0, into ?? Buffer.alloc(index.length(fileIndex, chunk)))
  }
}

const streams: Stream[] = []
let server: ChunkServer | undefined
afterEach(async () => {
  await server?.stop()
  server = undefined
  for (const s of streams.splice(0)) if (s.status === 'open') s.abort(new Error('test over'))
})

interface Setup { client: Stream, registered: { protocol: string, options: any, unhandled: string[] }, uploads: Array<{ peer: string, cid: string, bytes: number }> }

/** Starts a ChunkServer on a fake node and hands it one end of an in-memory stream pair. */
async function setup (held: number[], idleTimeout = 5000, source = memorySource(held), init: { chunkBuffers?: number } = {}): Promise<Setup> {
  let handler: ((stream: Stream, connection: any) => void) | undefined
  const registered = { protocol: '', options: undefined as any, unhandled: [] as string[] }
  const node = {
    handle: async (protocol: string, h: any, options: any) => { handler = h; registered.protocol = protocol; registered.options = options },
    unhandle: async (protocol: string) => { registered.unhandled.push(protocol) }
  }
  const uploads: Setup['uploads'] = []
  server = new ChunkServer(node as any, { get: cid => (cid === source.release.cid.toString() ? source : undefined) }, {
    idleTimeout, maxInboundStreams: 3, onUpload: e => uploads.push(e), ...init
  })
  await server.start()
  const [client, inbound] = await streamPair()
  streams.push(client, inbound)
  handler?.(inbound, { remotePeer: { toString: () => 'peer' } })
  return { client, registered, uploads }
}

/** Reads one response frame by hand: [type, body]. */
async function response (client: Stream): Promise<[number, Uint8Array]> {
  const bs = (client as any).__bytes ??= byteStream(client)
  const signal = AbortSignal.timeout(2000)
  let length = 0
  for (let shift = 1; ; shift *= 128) {
    const b = (await bs.read({ bytes: 1, signal })).get(0)
    length += (b & 0x7f) * shift
    if ((b & 0x80) === 0) break
  }
  const body = (await bs.read({ bytes: length, signal })).subarray()
  return [body[0], body.subarray(1)]
}

async function ask (client: Stream, req: Parameters<typeof encodeRequest>[0]): Promise<[number, Uint8Array]> {
  client.send(encodeRequest(req))
  return await response(client)
}

const cid = release.cid

describe('ChunkServer', () => {
  it('registers the chunk protocol with its stream limit, and unregisters on stop', async () => {
    const { registered } = await setup([])
    expect(registered.protocol).toBe(PROTOCOL)
    expect(registered.options.maxInboundStreams).toBe(3)
    expect(registered.unhandled).toEqual([])
    await server?.stop()
    await server?.stop()
    expect(registered.unhandled).toEqual([PROTOCOL])
  })

  it('answers GET_RELEASE with the release bytes', async () => {
    const { client } = await setup([0])
    const [type, body] = await ask(client, { type: MessageType.GetRelease, cid })
    expect(type).toBe(0x11)
    expect(Buffer.from(body)).toEqual(Buffer.from(release.bytes))
  })

  it('answers GET_HAVE with "all" when complete, else with the bitfield', async () => {
    const full = await setup([0, 1, 2, 3])
    expect(await ask(full.client, { type: MessageType.GetHave, cid })).toEqual([0x12, Uint8Array.of(1)])
    const partial = await setup([0, 2])
    expect(await ask(partial.client, { type: MessageType.GetHave, cid })).toEqual([0x12, Uint8Array.of(0, 0b1010_0000)])
  })

  it('answers GET_CHUNK with the chunk bytes, several requests in order on one stream', async () => {
    const { client, uploads } = await setup([0, 1, 2])
    for (const chunk of [2, 0, 1]) {
      const [type, body] = await ask(client, { type: MessageType.GetChunk, cid, file: 0, chunk })
      expect(type).toBe(0x13)
      expect(Buffer.from(body)).toEqual(Buffer.from(FILE.subarray(chunk * C, (chunk + 1) * C)))
    }
    expect(uploads).toEqual([10, C, C].map(bytes => ({ peer: 'peer', cid: cid.toString(), bytes })))
  })

  it('without a whole-chunk buffer, streams a chunk from the source a slice at a time, the bytes intact', async () => {
    const size = 2 * UPLOAD_SLICE + 100 // three slices per chunk, the last short
    const big = bytesOf(2 * size + 9, 7)
    const bigRelease = await signRelease(manifestOf([{ path: 'big.bin', bytes: big }], size), key)
    const reads: Array<[number, number]> = []
    const { client, uploads } = await setup([0, 1, 2], 5000, memorySource([0, 1, 2], bigRelease, [big], reads), { chunkBuffers: 0 })
    for (const chunk of [1, 2, 0]) {
      const [type, body] = await ask(client, { type: MessageType.GetChunk, cid: bigRelease.cid, file: 0, chunk })
      expect(type).toBe(0x13)
      expect(Buffer.from(body)).toEqual(Buffer.from(big.subarray(chunk * size, (chunk + 1) * size)))
    }
    // Chunk 2 is the 9-byte tail: one read. Every read asks for one slice at most.
    expect(reads).toEqual([[0, UPLOAD_SLICE], [UPLOAD_SLICE, UPLOAD_SLICE], [2 * UPLOAD_SLICE, 100], [0, 9], [0, UPLOAD_SLICE], [UPLOAD_SLICE, UPLOAD_SLICE], [2 * UPLOAD_SLICE, 100]])
    expect(uploads.map(u => u.bytes)).toEqual([size, 9, size])
  })

  it('the first chunkBuffers streams read whole chunks into buffers they reuse; a stream beyond them reads slices', async () => {
    const size = 2 * UPLOAD_SLICE
    const big = bytesOf(2 * size, 9)
    const bigRelease = await signRelease(manifestOf([{ path: 'big.bin', bytes: big }], size), key)
    const reads: Array<[number, number]> = []
    const { client } = await setup([0, 1], 5000, memorySource([0, 1], bigRelease, [big], reads), { chunkBuffers: 1 })
    const [other, inbound] = await streamPair()
    streams.push(other, inbound)
    ;(server as any).serve(inbound, { remotePeer: { toString: () => 'peer2' } })
    const chunk = (c: number) => ({ type: MessageType.GetChunk, cid: bigRelease.cid, file: 0, chunk: c }) as const
    for (const c of [0, 1]) expect(Buffer.from((await ask(client, chunk(c)))[1])).toEqual(Buffer.from(big.subarray(c * size, (c + 1) * size)))
    expect(reads).toEqual([[0, size], [0, size]]) // one read each, into the same buffer
    reads.length = 0
    for (const c of [1, 0]) expect(Buffer.from((await ask(other, chunk(c)))[1])).toEqual(Buffer.from(big.subarray(c * size, (c + 1) * size)))
    expect(reads).toEqual([[0, UPLOAD_SLICE], [UPLOAD_SLICE, UPLOAD_SLICE], [0, UPLOAD_SLICE], [UPLOAD_SLICE, UPLOAD_SLICE]])
  })

  it('a client that pipelines requests on a stream holding a reused buffer, then drops it, does not change what another stream gets', async () => {
    const size = 2 * UPLOAD_SLICE
    const big = bytesOf(2 * size, 10)
    const bigRelease = await signRelease(manifestOf([{ path: 'big.bin', bytes: big }], size), key)
    const { client } = await setup([0, 1], 5000, memorySource([0, 1], bigRelease, [big]), { chunkBuffers: 1 })
    const chunk = (c: number) => ({ type: MessageType.GetChunk, cid: bigRelease.cid, file: 0, chunk: c }) as const
    // The hostile client asks for three chunks at once (an honest fetcher waits for each
    // response), reads nothing, and resets the stream: its reused buffer goes back to the pool.
    for (const c of [0, 1, 0]) client.send(encodeRequest(chunk(c)))
    await waitFor(() => (server as any).scratchCreated === 1, 2000, 'the hostile stream to take the buffer')
    client.abort(new Error('hostile client gone'))
    await waitFor(() => (server as any).scratchBuffers.length === 1, 2000, 'the buffer back in the pool')
    // The next stream gets that buffer and every byte of its chunks right.
    const [other, inbound] = await streamPair()
    streams.push(other, inbound)
    ;(server as any).serve(inbound, { remotePeer: { toString: () => 'peer2' } })
    for (const c of [1, 0, 1]) {
      const [type, body] = await ask(other, chunk(c))
      expect(type).toBe(0x13)
      expect(Buffer.from(body)).toEqual(Buffer.from(big.subarray(c * size, (c + 1) * size)))
    }
    expect((server as any).scratchCreated).toBe(1)
  })

  it('ends the stream when a slice cannot be read after the chunk\'s header went out, and keeps serving others', async () => {
    const size = 2 * UPLOAD_SLICE
    const big = bytesOf(2 * size, 8)
    const bigRelease = await signRelease(manifestOf([{ path: 'big.bin', bytes: big }], size), key)
    const source = memorySource([0, 1], bigRelease, [big])
    const readSlice = source.readSlice
    source.readSlice = async (file, chunk, offset, into) => {
      if (chunk === 1 && offset > 0) throw new SourceUnavailableError('big.bin changed on disk')
      return await readSlice(file, chunk, offset, into)
    }
    const { client } = await setup([0, 1], 5000, source, { chunkBuffers: 0 })
    client.send(encodeRequest({ type: MessageType.GetChunk, cid: bigRelease.cid, file: 0, chunk: 1 }))
    // A frame promised `size` bytes; the stream must end short of them instead of sending other bytes.
    const err = await response(client).then(() => undefined, (e: Error) => e)
    expect(err).toBeInstanceOf(Error)
    expect(client.status).not.toBe('open')
    // Another stream of the same server still gets whole chunks.
    const [other, inbound] = await streamPair()
    streams.push(other, inbound)
    ;(server as any).serve(inbound, { remotePeer: { toString: () => 'peer2' } })
    const [type, body] = await ask(other, { type: MessageType.GetChunk, cid: bigRelease.cid, file: 0, chunk: 0 })
    expect(type).toBe(0x13)
    expect(Buffer.from(body)).toEqual(Buffer.from(big.subarray(0, size)))
  })

  it('answers NOT_FOUND for a chunk it does not hold, BAD_REQUEST for one that does not exist', async () => {
    const { client } = await setup([0])
    expect((await ask(client, { type: MessageType.GetChunk, cid, file: 0, chunk: 1 }))[1][0]).toBe(1)
    const [type, body] = await ask(client, { type: MessageType.GetChunk, cid, file: 0, chunk: 3 })
    expect(type).toBe(0x1f)
    expect(body[0]).toBe(3)
    expect((await ask(client, { type: MessageType.GetChunk, cid, file: 2, chunk: 0 }))[1][0]).toBe(3)
    expect((await ask(client, { type: MessageType.GetChunk, cid, file: 2 ** 32 - 1, chunk: 0 }))[1][0]).toBe(3)
  })

  it('answers UNAVAILABLE when the source cannot read the chunk', async () => {
    const { client } = await setup([0, 1, 2, 3])
    const [type, body] = await ask(client, { type: MessageType.GetChunk, cid, file: 1, chunk: 0 })
    expect(type).toBe(0x1f)
    expect(body[0]).toBe(2)
  })

  it('answers NOT_FOUND for every request about an unknown CID', async () => {
    const { client } = await setup([0, 1, 2, 3])
    for (const req of [
      { type: MessageType.GetRelease, cid: unknownCid },
      { type: MessageType.GetHave, cid: unknownCid },
      { type: MessageType.GetChunk, cid: unknownCid, file: 0, chunk: 0 }
    ] as const) {
      const [type, body] = await ask(client, req)
      expect(type).toBe(0x1f)
      expect(body[0]).toBe(1)
    }
  })

  it('closes its end when the client closes', async () => {
    const { client } = await setup([0])
    await ask(client, { type: MessageType.GetHave, cid })
    await client.close()
    await waitFor(() => client.status === 'closed', 2000, 'the stream to close')
  })

  it('aborts a stream whose request frame exceeds MAX_REQUEST_BYTES, without reading the body', async () => {
    // A prefix of exactly the limit is waited on (its body may still come)...
    const atLimit = await setup([0])
    atLimit.client.send(Uint8Array.of((MAX_REQUEST_BYTES & 0x7f) | 0x80, MAX_REQUEST_BYTES >> 7))
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(atLimit.client.status).toBe('open')
    // ...one byte more is refused at once.
    const { client } = await setup([0])
    const length = MAX_REQUEST_BYTES + 1
    client.send(Uint8Array.of((length & 0x7f) | 0x80, length >> 7)) // the length prefix alone
    await waitFor(() => client.status !== 'open', 2000, 'the server to abort the stream')
    expect(client.status).toBe('reset')
  })

  it('aborts a stream that sends a malformed request', async () => {
    const { client } = await setup([0])
    client.send(Uint8Array.of(3, 0x04, 0, 0))
    await waitFor(() => client.status !== 'open', 2000, 'the server to abort the stream')
    expect(client.status).toBe('reset')
  })

  it('drops a stream that stays idle longer than idleTimeout', async () => {
    const { client } = await setup([0], 150)
    await ask(client, { type: MessageType.GetHave, cid })
    const started = Date.now()
    await waitFor(() => client.status !== 'open', 2000, 'the idle stream to be dropped')
    expect(Date.now() - started).toBeGreaterThanOrEqual(100)
  })
})

describe('ChunkServer in initial seeding', () => {
  async function origin (): Promise<(peer: string) => Promise<Stream>> {
    let handler: ((stream: Stream, connection: any) => void) | undefined
    const node = { handle: async (_protocol: string, h: any) => { handler = h }, unhandle: async () => {} }
    server = new ChunkServer(node as any, { get: c => (c === cid.toString() ? memorySource([0, 1, 2, 3]) : undefined) })
    await server.start()
    server.superSeed(cid.toString())
    return async (peer) => {
      const [client, inbound] = await streamPair()
      streams.push(client, inbound)
      handler?.(inbound, { remotePeer: { toString: () => peer }, addEventListener: () => {} })
      return client
    }
  }
  const chunk0 = { type: MessageType.GetChunk, cid, file: 0, chunk: 0 } as const
  const have = { type: MessageType.GetHave, cid } as const

  it('a first copy counts only for a peer that asked for the HAVE: one that just grabs chunks holds nothing back', async () => {
    const connect = await origin()
    // A hog: asks for chunk 0 straight away, never for the HAVE (and would never pass it on).
    const grabber = await connect('grabber')
    expect((await ask(grabber, chunk0))[0]).toBe(MessageType.Chunk)
    // An honest fetcher still sees chunk 0 on offer and gets it.
    const honest = await connect('honest')
    const [type, bits] = await ask(honest, have)
    expect(type).toBe(MessageType.Have)
    expect(bits[0]).toBe(0) // a bitfield, not "all"
    expect(bits[1] & 0x80).toBe(0x80)
    expect((await ask(honest, chunk0))[0]).toBe(MessageType.Chunk)
    // Its copy counts: once the one repeat allowed per 30 s is used, the next fetcher is sent
    // to the peers that have chunk 0.
    const next = await connect('next')
    await ask(next, have)
    expect((await ask(next, chunk0))[0]).toBe(MessageType.Chunk) // the repeat
    const third = await connect('third')
    const [, thirdBits] = await ask(third, have)
    expect(thirdBits[1] & 0x80).toBe(0)
    expect((await ask(third, chunk0))[0]).toBe(MessageType.Error)
  })
})

describe('ChunkServer upload limit', () => {
  /**
   * A server on a 2 Mbit/s uplink (--max-upload-rate 0.25: two uploads at once) whose reads
   * block until `unblock()`, so the uploads in flight can be counted; one stream per peer.
   */
  async function slowServer (peers: string[], init: { queueTimeout?: number } = {}): Promise<{ clients: Stream[], reading: () => number, unblock: () => void }> {
    let reading = 0
    let unblock = (): void => {}
    const blocked = new Promise<void>(resolve => { unblock = resolve })
    const source = memorySource([0, 1, 2, 3])
    const slow: ChunkSource = {
      ...source,
      readChunk: async (f, c, into) => { reading++; await blocked; return await source.readChunk(f, c, into) },
      readSlice: async (f, c, offset, into) => { reading++; await blocked; return await source.readSlice(f, c, offset, into) }
    }
    let handler: ((stream: Stream, connection: any) => void) | undefined
    const node = { handle: async (_protocol: string, h: any) => { handler = h }, unhandle: async () => {} }
    server = new ChunkServer(node as any, { get: c => (c === cid.toString() ? slow : undefined) }, { rateLimiter: new RateLimiter(256 * 1024), ...init })
    await server.start()
    const clients: Stream[] = []
    for (const peer of peers) {
      const [client, inbound] = await streamPair()
      streams.push(client, inbound)
      handler?.(inbound, { remotePeer: { toString: () => peer } })
      clients.push(client)
    }
    return { clients, reading: () => reading, unblock }
  }
  const chunk0 = { type: MessageType.GetChunk, cid, file: 0, chunk: 0 } as const

  it('runs as many uploads as the uplink carries at 128 KiB/s each, queues as many more, and answers BUSY beyond', async () => {
    const { clients, reading, unblock } = await slowServer(['a', 'b', 'c', 'd', 'e'])
    expect(server?.uploadLimit.value).toBe(2)
    const answers = clients.slice(0, 4).map(async client => await ask(client, chunk0))
    await waitFor(() => reading() === 2)
    await waitFor(() => (server as any).uploads.waiting === 2) // c and d queue behind a and b
    // Two run, two wait: a fifth would wait past its deadline, so it hears BUSY at once.
    const [type, body] = await ask(clients[4], chunk0)
    expect(type).toBe(MessageType.Error)
    expect(body[0]).toBe(ErrorCode.Busy)
    expect(reading()).toBe(2)
    unblock()
    for (const [t, data] of await Promise.all(answers)) {
      expect(t).toBe(MessageType.Chunk)
      expect(Buffer.from(data)).toEqual(Buffer.from(FILE.subarray(0, C)))
    }
    expect(reading()).toBe(4)
  })

  it('a request waits for a slot at most queueTimeout, then hears BUSY: a long wait would look like a stall', async () => {
    const { clients, unblock } = await slowServer(['a', 'b', 'c'], { queueTimeout: 200 })
    const running = clients.slice(0, 2).map(async client => await ask(client, chunk0))
    await waitFor(() => (server as any).uploads.full === true)
    const started = Date.now()
    const [type, body] = await ask(clients[2], chunk0)
    expect(type).toBe(MessageType.Error)
    expect(body[0]).toBe(ErrorCode.Busy)
    expect(Date.now() - started).toBeGreaterThanOrEqual(150) // it did wait in line first
    unblock()
    for (const [t] of await Promise.all(running)) expect(t).toBe(MessageType.Chunk)
  })
})
