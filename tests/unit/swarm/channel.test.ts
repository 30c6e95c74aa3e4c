import { streamPair } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import { sha256 as mfSha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { Channel } from '../../../src/swarm/channel.js'
import { bytesOf, errorOf, waitFor } from '../helpers.js'
import type { Stream } from '@libp2p/interface'

const cid = CID.createV1(0x71, await mfSha256.digest(Uint8Array.of(9)))
const STALL = 200

/** Unsigned LEB128, written out here so the test does not lean on the codec under test. */
function varint (n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return out
}

function frame (type: number, body: Uint8Array | number[]): Uint8Array {
  return new Uint8Array([...varint(body.length + 1), type, ...body])
}

interface SeenRequest { type: number, file?: number, chunk?: number, cid: string }
type Answer = (req: SeenRequest, remote: Stream) => void

/** A hand-written server on the far end of the pair: parses requests, answers with `answer`. */
function fakeServer (remote: Stream, answer: Answer): SeenRequest[] {
  const seen: SeenRequest[] = []
  let buffered: number[] = []
  remote.addEventListener('message', evt => {
    const data = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
    buffered.push(...data)
    while (buffered.length > 0 && buffered.length >= 1 + buffered[0]) {
      expect(buffered[0] & 0x80).toBe(0) // requests are short
      const body = Uint8Array.from(buffered.slice(1, 1 + buffered[0]))
      buffered = buffered.slice(1 + buffered[0])
      const view = new DataView(body.buffer)
      const req: SeenRequest = body[0] === 3
        ? { type: 3, file: view.getUint32(1), chunk: view.getUint32(5), cid: CID.decode(body.subarray(9)).toString() }
        : { type: body[0], cid: CID.decode(body.subarray(1)).toString() }
      seen.push(req)
      answer(req, remote)
    }
  })
  return seen
}

const streams: Stream[] = []
afterEach(() => {
  for (const s of streams.splice(0)) if (s.status === 'open') s.abort(new Error('test over'))
})

async function setup (answer: Answer): Promise<{ channel: Channel, local: Stream, remote: Stream, seen: SeenRequest[] }> {
  const [local, remote] = await streamPair()
  streams.push(local, remote)
  const seen = fakeServer(remote, answer)
  return { channel: new Channel(local, STALL), local, remote, seen }
}

/** Sends `bytes` in pieces of the given sizes (the rest in one piece). */
function sendInPieces (remote: Stream, bytes: Uint8Array, sizes: number[]): void {
  let at = 0
  for (const n of sizes) { remote.send(bytes.subarray(at, at + n)); at += n }
  if (at < bytes.length) remote.send(bytes.subarray(at))
}

describe('Channel', () => {
  it('returns the exact chunk bytes, request after request, however they are fragmented', async () => {
    const chunks = [bytesOf(100_000, 1), bytesOf(100_000, 2), bytesOf(77, 3)]
    const { channel, seen } = await setup((req, remote) => {
      sendInPieces(remote, frame(0x13, chunks[req.chunk as number]), [1, 1, 1, 5000, 3, 40_000])
    })
    for (const [i, data] of chunks.entries()) {
      const got = await channel.getChunk(cid, 4, i, data.length, Buffer.alloc(data.length))
      expect(got.length).toBe(data.length)
      expect(Buffer.from(got)).toEqual(Buffer.from(data))
    }
    expect(seen).toEqual([0, 1, 2].map(chunk => ({ type: 3, file: 4, chunk, cid: cid.toString() })))
  })

  it('fetches a release and a HAVE', async () => {
    const release = bytesOf(5000, 4)
    const { channel } = await setup((req, remote) => {
      if (req.type === 1) remote.send(frame(0x11, release))
      else remote.send(frame(0x12, [0, 0b1010_0000, 0]))
    })
    expect(Buffer.from(await channel.getRelease(cid))).toEqual(Buffer.from(release))
    expect([...await channel.getHave(cid, 12) as Uint8Array]).toEqual([0b1010_0000, 0])
  })

  it('rejects a frame longer than the expected response and aborts the stream', async () => {
    const { channel, local, remote } = await setup((_req, r) => { r.send(Uint8Array.from(varint(5001))) })
    const err = await errorOf(() => channel.getChunk(cid, 0, 0, 1000, Buffer.alloc(1000)))
    expect(err.name).toBe('ProtocolError')
    expect(local.status).toBe('aborted')
    await waitFor(() => remote.status !== 'open', 2000, 'the remote to see the reset')
  })

  it('rejects a chunk frame shorter than the chunk', async () => {
    const { channel, local } = await setup((_req, r) => { r.send(frame(0x13, bytesOf(500))) })
    expect((await errorOf(() => channel.getChunk(cid, 0, 0, 1000, Buffer.alloc(1000)))).name).toBe('ProtocolError')
    expect(local.status).toBe('aborted')
  })

  it('rejects a response of the wrong type', async () => {
    const { channel } = await setup((_req, r) => { r.send(frame(0x11, [1, 2, 3])) })
    expect((await errorOf(() => channel.getHave(cid, 16))).name).toBe('ProtocolError')
  })

  it('turns an ERROR frame into RemoteError with its code, and the channel stays usable', async () => {
    let calls = 0
    const data = bytesOf(1000, 5)
    const { channel, local } = await setup((_req, r) => {
      if (calls++ === 0) r.send(frame(0x1f, [2, ...new TextEncoder().encode('gone')]))
      else r.send(frame(0x13, data))
    })
    const err = await errorOf(() => channel.getChunk(cid, 0, 0, 1000, Buffer.alloc(1000)))
    expect(err.name).toBe('RemoteError')
    expect(err.code).toBe(2)
    expect(err.message).toBe('gone')
    expect(local.status).toBe('open')
    expect(Buffer.from(await channel.getChunk(cid, 0, 0, 1000, Buffer.alloc(1000)))).toEqual(Buffer.from(data))
  })

  // An ERROR frame may be longer than the tiny answer that was expected.
  it('turns an ERROR frame into RemoteError even when the expected chunk is tiny', async () => {
    const { channel } = await setup((_req, r) => { r.send(frame(0x1f, [1, ...new TextEncoder().encode('chunk not held')])) })
    const err = await errorOf(() => channel.getChunk(cid, 0, 0, 10, Buffer.alloc(10)))
    expect(err.name).toBe('RemoteError')
  })

  it('turns an ERROR frame into RemoteError for a HAVE of a small release', async () => {
    const { channel } = await setup((_req, r) => { r.send(frame(0x1f, [1, ...new TextEncoder().encode(`not serving ${cid.toString()}`)])) })
    const err = await errorOf(() => channel.getHave(cid, 5))
    expect(err.name).toBe('RemoteError')
  })

  it('fails with StalledError when the server never answers, within the stall timeout', async () => {
    const { channel, local } = await setup(() => {})
    const started = Date.now()
    const err = await errorOf(() => channel.getChunk(cid, 0, 0, 1000, Buffer.alloc(1000)))
    const elapsed = Date.now() - started
    expect(err.name).toBe('StalledError')
    expect(elapsed).toBeGreaterThanOrEqual(STALL - 5)
    expect(elapsed).toBeLessThan(STALL * 5)
    expect(local.status).toBe('aborted')
  })

  it('fails with StalledError when the response stops half way', async () => {
    const data = frame(0x13, bytesOf(1000))
    const { channel } = await setup((_req, r) => { r.send(data.subarray(0, 400)) })
    expect((await errorOf(() => channel.getChunk(cid, 0, 0, 1000, Buffer.alloc(1000)))).name).toBe('StalledError')
  })

  it('does not stall a response that keeps arriving within its deadline', async () => {
    const data = bytesOf(1000, 6)
    const bytes = frame(0x13, data)
    const timers: NodeJS.Timeout[] = []
    const { channel } = await setup((_req, r) => {
      for (let i = 0; i < 5; i++) timers.push(setTimeout(() => r.send(bytes.subarray(i * 250, (i + 1) * 250)), (i + 1) * (STALL / 2)))
    })
    const started = Date.now()
    const got = await channel.getChunk(cid, 0, 0, 1000, Buffer.alloc(1000), undefined, STALL * 10)
    expect(Date.now() - started).toBeGreaterThan(STALL)
    expect(Buffer.from(got)).toEqual(Buffer.from(data))
    timers.forEach(clearTimeout)
  })

  // A trickle dodges the stall timer forever; the deadline for the whole response ends it.
  it('fails a trickling response with DeadlineError once its deadline passes', async () => {
    const bytes = frame(0x13, bytesOf(1000, 7))
    let timer: NodeJS.Timeout | undefined
    const { channel, local } = await setup((_req, r) => {
      let at = 0
      const drip = (): void => { if (at < bytes.length && r.status === 'open') { r.send(bytes.subarray(at, ++at)); timer = setTimeout(drip, STALL / 4) } }
      drip()
    })
    const started = Date.now()
    const err = await errorOf(() => channel.getChunk(cid, 0, 0, 1000, Buffer.alloc(1000), undefined, STALL * 3))
    clearTimeout(timer)
    expect(err.name).toBe('DeadlineError')
    expect(Date.now() - started).toBeLessThan(STALL * 10)
    expect(local.status).toBe('aborted')
  })

  it('rejects data that follows a response in the same message', async () => {
    const { channel, local } = await setup((_req, r) => { r.send(new Uint8Array([...frame(0x12, [1]), 0x02, 0x12, 0x01])) })
    expect((await errorOf(() => channel.getHave(cid, 8))).name).toBe('ProtocolError')
    expect(local.status).toBe('aborted')
  })

  it('aborts the stream on unsolicited data after a response, and fails later requests', async () => {
    let remoteStream: Stream | undefined
    const { channel, local } = await setup((_req, r) => { remoteStream = r; r.send(frame(0x12, [1])) })
    expect(await channel.getHave(cid, 8)).toBe('all')
    remoteStream?.send(frame(0x12, [1]))
    await waitFor(() => local.status !== 'open', 2000, 'the channel to abort the stream')
    expect(local.status).toBe('aborted')
    await expect(channel.getHave(cid, 8)).rejects.toThrow()
  })

  it('fails when the server closes the stream without answering', async () => {
    const { channel } = await setup((_req, r) => { void r.close() })
    const err = await errorOf(() => channel.getChunk(cid, 0, 0, 1000, Buffer.alloc(1000)))
    expect(err.name).toBe('ProtocolError')
  })

  it('refuses a second request while one is in flight', async () => {
    const { channel } = await setup((_req, r) => { setTimeout(() => r.send(frame(0x12, [1])), 20) })
    const first = channel.getHave(cid, 8)
    expect((await errorOf(() => channel.getHave(cid, 8))).name).toBe('ProtocolError')
    expect(await first).toBe('all')
  })

  it('rejects with the signal\'s reason when aborted', async () => {
    const { channel, local } = await setup(() => {})
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('user stop')), 20)
    const err = await errorOf(() => channel.getChunk(cid, 0, 0, 1000, Buffer.alloc(1000), controller.signal))
    expect(err.message).toBe('user stop')
    expect(local.status).toBe('aborted')
  })
})
