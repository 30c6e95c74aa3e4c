/**
 * The fetching side of WATCH_HAVE (swarm/have-watch.ts) over a real stream pair: the first
 * HAVE, then pushed updates, in order; a peer that breaks the protocol (a wrong frame type, a
 * chunk number beyond the release, an oversized frame) ends the watch with an error, and an
 * aborted watch ends at once.
 */
import { streamPair } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_HAVE_UPDATE_FRAME, MessageType, encodeHave, encodeHaveUpdate } from '../../../src/swarm/codec.js'
import { watchHave } from '../../../src/swarm/have-watch.js'
import { waitFor } from '../helpers.js'
import type { Stream } from '@libp2p/interface'

const CID_ = CID.parse('bafyreihqbfd3tzqma2kuxozbxcqbe2a2bcgp3nsaojimzwbdfideanbxze')
const streams: Stream[] = []
afterEach(() => { for (const s of streams.splice(0)) if (s.status === 'open') s.abort(new Error('test over')) })

async function pair (): Promise<[Stream, Stream]> {
  const [local, remote] = await streamPair()
  streams.push(local, remote)
  return [local, remote]
}

function recorder (): { events: unknown[], handlers: Parameters<typeof watchHave>[3] } {
  const events: unknown[] = []
  return { events, handlers: { have: b => events.push({ have: b === 'all' ? 'all' : [...b] }), chunks: c => events.push({ chunks: c }) } }
}

/** A frame with an arbitrary type byte and body, length-prefixed as the codec does. */
function frame (type: number, body: Uint8Array = new Uint8Array()): Uint8Array {
  const length = body.length + 1
  const varint: number[] = []
  for (let n = length; ; n = Math.floor(n / 128)) { if (n < 0x80) { varint.push(n); break } varint.push((n & 0x7f) | 0x80) }
  return Uint8Array.from([...varint, type, ...body])
}

describe('watchHave', () => {
  it('hands on the first HAVE, then each update in order, and ends cleanly when the peer closes', async () => {
    const [local, remote] = await pair()
    const { events, handlers } = recorder()
    let asked = false
    remote.addEventListener('message', () => { asked = true })
    const watching = watchHave(local, CID_, 20, handlers, new AbortController().signal)
    await waitFor(() => asked, 2000, 'the WATCH_HAVE request')
    remote.send(encodeHave(Uint8Array.of(0b10000001, 0, 0)))
    remote.send(encodeHaveUpdate([3]))
    remote.send(encodeHaveUpdate([19, 4]))
    await waitFor(() => events.length === 3, 2000, 'three events')
    await remote.close()
    await watching
    expect(events).toEqual([{ have: [0b10000001, 0, 0] }, { chunks: [3] }, { chunks: [19, 4] }])
  })

  it('ends with an error on a frame that is not HAVE_UPDATE, on a chunk beyond the release, on an oversized frame', async () => {
    const hostile = [
      frame(MessageType.Chunk, new Uint8Array(8)),
      encodeHaveUpdate([20]), // the release has chunks 0-19
      frame(MessageType.HaveUpdate, new Uint8Array(MAX_HAVE_UPDATE_FRAME + 4))
    ]
    for (const bad of hostile) {
      const [local, remote] = await pair()
      const { events, handlers } = recorder()
      const watching = watchHave(local, CID_, 20, handlers, new AbortController().signal)
      remote.send(encodeHave('all'))
      remote.send(bad)
      await expect(watching).rejects.toThrow()
      expect(events).toEqual([{ have: 'all' }])
      expect(local.status).not.toBe('open')
    }
  })

  it('an aborted watch ends at once and closes its stream', async () => {
    const [local, remote] = await pair()
    const { handlers } = recorder()
    const controller = new AbortController()
    const watching = watchHave(local, CID_, 20, handlers, controller.signal)
    remote.send(encodeHave('all'))
    controller.abort(new Error('fetch done'))
    await expect(watching).rejects.toThrow()
    expect(local.status).not.toBe('open')
  })
})
