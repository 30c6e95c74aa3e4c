import { byteStream, streamPair } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import { sha256 as mfSha256 } from 'multiformats/hashes/sha2'
import { Uint8ArrayList } from 'uint8arraylist'
import { afterEach, describe, expect, it } from 'vitest'
import {
  ErrorCode, MAX_PEERS, MessageType, decodeHave, decodeHaveUpdate, decodePeers, decodeRequest, encodeChunk, encodeError, encodeHave, encodeHaveUpdate, encodePeers, encodeRelease,
  encodeRequest, parseResponse, readFrame, type Request
} from '../../../src/swarm/codec.js'
import { ProtocolError } from '../../../src/swarm/errors.js'
import { bytesOf, errorOf } from '../helpers.js'
import type { Stream } from '@libp2p/interface'

const cid = CID.createV1(0x71, await mfSha256.digest(Uint8Array.of(1, 2, 3)))

/** Splits a frame whose length fits in one varint byte into (length, type+body). */
function unframe (frame: Uint8Array): { length: number, rest: Uint8Array } {
  expect(frame[0] & 0x80).toBe(0)
  return { length: frame[0], rest: frame.subarray(1) }
}

const streams: Stream[] = []
afterEach(() => {
  for (const s of streams.splice(0)) s.abort(new Error('test over'))
})

async function pair (): Promise<[Stream, Stream]> {
  const [a, b] = await streamPair()
  streams.push(a, b)
  return [a, b]
}

describe('requests', () => {
  it.each<[string, Request]>([
    ['GET_RELEASE', { type: MessageType.GetRelease, cid }],
    ['GET_HAVE', { type: MessageType.GetHave, cid }],
    ['GET_CHUNK', { type: MessageType.GetChunk, cid, file: 7, chunk: 123_456 }],
    ['GET_CHUNK with u32 maxima', { type: MessageType.GetChunk, cid, file: 2 ** 32 - 1, chunk: 2 ** 32 - 1 }]
  ])('%s round-trips', (_name, req) => {
    const { length, rest } = unframe(encodeRequest(req))
    expect(length).toBe(rest.length)
    const back = decodeRequest(new Uint8ArrayList(rest))
    expect(back.type).toBe(req.type)
    expect(back.cid.equals(req.cid)).toBe(true)
    if (req.type === MessageType.GetChunk && back.type === MessageType.GetChunk) {
      expect(back.file).toBe(req.file)
      expect(back.chunk).toBe(req.chunk)
    }
  })

  it('lays GET_CHUNK out as type, big-endian u32 file and chunk, then the CID', () => {
    const { rest } = unframe(encodeRequest({ type: MessageType.GetChunk, cid, file: 0x01020304, chunk: 0x0a0b0c0d }))
    expect([...rest.subarray(0, 9)]).toEqual([0x03, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d])
    expect(Buffer.from(rest.subarray(9))).toEqual(Buffer.from(cid.bytes))
  })

  it('decodes a request split across fragments', () => {
    const { rest } = unframe(encodeRequest({ type: MessageType.GetChunk, cid, file: 1, chunk: 2 }))
    const back = decodeRequest(new Uint8ArrayList(rest.subarray(0, 3), rest.subarray(3, 11), rest.subarray(11)))
    expect(back).toMatchObject({ type: MessageType.GetChunk, file: 1, chunk: 2 })
  })

  it.each<[string, Uint8Array]>([
    ['an unknown type', Uint8Array.of(0x07, ...cid.bytes)],
    ['a response type', Uint8Array.of(MessageType.Chunk, ...cid.bytes)],
    ['an empty body', new Uint8Array(0)],
    ['a truncated GET_CHUNK', Uint8Array.of(0x03, 0, 0, 0, 1, 0)],
    ['a GET_CHUNK without a CID', Uint8Array.of(0x03, 0, 0, 0, 1, 0, 0, 0, 2)],
    ['a GET_CHUNK with a truncated CID', Uint8Array.of(0x03, 0, 0, 0, 1, 0, 0, 0, 2, ...cid.bytes.subarray(0, 10))],
    ['a GET_RELEASE with garbage for a CID', Uint8Array.of(0x01, 0xff, 0xff, 0xff)],
    ['a GET_HAVE with bytes after the CID', Uint8Array.of(0x02, ...cid.bytes, 0)]
  ])('rejects %s with ProtocolError', async (_name, body) => {
    expect((await errorOf(() => decodeRequest(new Uint8ArrayList(body)))).name).toBe('ProtocolError')
  })
})

describe('responses', () => {
  it('frames RELEASE, HAVE and CHUNK bodies behind their type byte', () => {
    const release = bytesOf(100)
    const r = unframe(encodeRelease(release).subarray())
    expect(r.length).toBe(101)
    expect(r.rest[0]).toBe(0x11)
    expect(Buffer.from(parseResponse(new Uint8ArrayList(r.rest), MessageType.Release).subarray())).toEqual(Buffer.from(release))

    expect([...encodeHave('all')]).toEqual([2, 0x12, 1])
    expect([...encodeHave(Uint8Array.of(0xf0, 0x01))]).toEqual([4, 0x12, 0, 0xf0, 0x01])
  })

  it('sends chunk data without copying it, behind a header', () => {
    const data = bytesOf(300)
    const list = encodeChunk(data)
    const bytes = list.subarray()
    // 301 = 0xad 0x02 as an unsigned varint
    expect([...bytes.subarray(0, 3)]).toEqual([0xad, 0x02, 0x13])
    expect(Buffer.from(bytes.subarray(3))).toEqual(Buffer.from(data))
    expect([...list].some(part => part === data)).toBe(true)
  })

  it('decodes HAVE: all, a bitfield of the right length, nothing else', async () => {
    expect(decodeHave(new Uint8ArrayList(Uint8Array.of(1)), 10)).toBe('all')
    expect([...(decodeHave(new Uint8ArrayList(Uint8Array.of(0, 0xff, 0xc0)), 10) as Uint8Array)]).toEqual([0xff, 0xc0])
    expect((await errorOf(() => decodeHave(new Uint8ArrayList(), 10))).name).toBe('ProtocolError')
    expect((await errorOf(() => decodeHave(new Uint8ArrayList(Uint8Array.of(0, 0xff)), 10))).name).toBe('ProtocolError')
    expect((await errorOf(() => decodeHave(new Uint8ArrayList(Uint8Array.of(0, 1, 2, 3)), 10))).name).toBe('ProtocolError')
  })

  it('turns an ERROR frame into RemoteError with its code and reason, and caps the reason', async () => {
    const { rest } = unframe(encodeError(ErrorCode.Busy, 'try later'))
    const err = await errorOf(() => parseResponse(new Uint8ArrayList(rest), MessageType.Chunk))
    expect(err.name).toBe('RemoteError')
    expect(err.code).toBe(ErrorCode.Busy)
    expect(err.message).toBe('try later')
    const long = encodeError(ErrorCode.NotFound, 'x'.repeat(1000))
    expect(long.length).toBe(2 + 1 + 1 + 200) // 2-byte varint, type, code, 200 bytes of reason
  })

  it('rejects a response of another type than expected', async () => {
    const { rest } = unframe(encodeHave('all'))
    expect((await errorOf(() => parseResponse(new Uint8ArrayList(rest), MessageType.Release))).name).toBe('ProtocolError')
  })
})

describe('readFrame', () => {
  it('reads frames one by one, across fragments, and null at a clean end', async () => {
    const [a, b] = await pair()
    const reader = byteStream(b)
    const one = encodeRequest({ type: MessageType.GetHave, cid })
    const two = encodeRelease(bytesOf(1000)).subarray()
    const all = new Uint8Array([...one, ...two])
    a.send(all.subarray(0, 5))
    a.send(all.subarray(5, 700))
    a.send(all.subarray(700))
    await a.close()
    const f1 = await readFrame(reader, 2000, { signal: AbortSignal.timeout(2000) })
    expect(decodeRequest(f1 as Uint8ArrayList).type).toBe(MessageType.GetHave)
    const f2 = await readFrame(reader, 2000, { signal: AbortSignal.timeout(2000) })
    expect(Buffer.from((f2 as Uint8ArrayList).subarray())).toEqual(Buffer.from(two.subarray(2)))
    expect(await readFrame(reader, 2000, { signal: AbortSignal.timeout(2000) })).toBeNull()
  })

  it('rejects a frame longer than the limit before reading its body', async () => {
    const [a, b] = await pair()
    a.send(encodeRelease(bytesOf(300)).subarray(0, 2)) // the length alone: 301
    const err = await errorOf(() => readFrame(byteStream(b), 300, { signal: AbortSignal.timeout(2000) }))
    expect(err.name).toBe('ProtocolError')
  })

  it('rejects an empty frame and an over-long varint', async () => {
    const [a, b] = await pair()
    a.send(Uint8Array.of(0))
    expect((await errorOf(() => readFrame(byteStream(b), 300, { signal: AbortSignal.timeout(2000) }))).name).toBe('ProtocolError')
    const [c, d] = await pair()
    c.send(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01))
    expect((await errorOf(() => readFrame(byteStream(d), 300, { signal: AbortSignal.timeout(2000) }))).name).toBe('ProtocolError')
  })
})

describe('release frames', () => {
  it('send the release bytes themselves, not a copy (32 uploads of a large release share them)', () => {
    const release = bytesOf(5000)
    const list = encodeRelease(release)
    const bufs = [...list]
    expect(bufs[bufs.length - 1]).toBe(release)
  })
})

describe('peer exchange and HAVE updates', () => {
  it('PEERS round-trips, drops oversized entries, keeps at most MAX_PEERS', () => {
    const addrs = [Uint8Array.of(1, 2, 3), new Uint8Array(300), ...Array.from({ length: 40 }, (_, i) => Uint8Array.of(i + 1))]
    const frameBytes = encodePeers(addrs)
    const back = decodePeers(parseResponse(new Uint8ArrayList(frameBytes.subarray(frameBytes[0] & 0x80 ? 2 : 1)), MessageType.Peers))
    expect(back.length).toBe(MAX_PEERS)
    expect([...back[0]]).toEqual([1, 2, 3])
    expect([...back[1]]).toEqual([1])
  })

  it('rejects malformed PEERS bodies', () => {
    for (const body of [[], [1, 0, 5, 1], [1, 0, 0], [0, 9], [MAX_PEERS + 1]]) {
      expect(() => decodePeers(new Uint8ArrayList(Uint8Array.from(body)))).toThrow(ProtocolError)
    }
  })

  it('HAVE_UPDATE round-trips and refuses chunk numbers past the release', () => {
    const f = encodeHaveUpdate([0, 7, 65_536])
    const body = new Uint8ArrayList(f.subarray(2))
    expect(f[1]).toBe(MessageType.HaveUpdate)
    expect(decodeHaveUpdate(body, 65_537)).toEqual([0, 7, 65_536])
    expect(() => decodeHaveUpdate(body, 65_536)).toThrow(ProtocolError)
    expect(() => decodeHaveUpdate(new Uint8ArrayList(Uint8Array.of(0, 0, 1)), 10)).toThrow(ProtocolError)
    expect(() => decodeHaveUpdate(new Uint8ArrayList(new Uint8Array(0)), 10)).toThrow(ProtocolError)
  })
})
