/**
 * The fetching side of WATCH_HAVE: one stream on which a partial peer pushes the chunks it
 * verifies (HAVE_UPDATE), so we ask it for them at once. Every frame is bounded and every chunk
 * number checked against the release; anything else ends the watch (the session then polls
 * HAVE as it does with peers that predate WATCH_HAVE).
 */
import { byteStream } from '@libp2p/utils'
import { pipe } from 'it-pipe'
import {
  MAX_HAVE_UPDATE_FRAME, MessageType, decodeHave, decodeHaveUpdate, encodeRequest, parseResponse, readFrame
} from './codec.js'
import { ProtocolError } from './errors.js'
import type { Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface HaveWatchHandlers {
  have: (bitfield: Uint8Array | 'all') => void
  chunks: (chunks: number[]) => void
}

type HaveEvent = { have: Uint8Array | 'all' } | { chunks: number[] }

/** Runs until the stream ends or `signal` aborts; throws on a protocol violation. */
export async function watchHave (stream: Stream, cid: CID, total: number, handlers: HaveWatchHandlers, signal: AbortSignal): Promise<void> {
  const haveFrame = Math.max(MAX_HAVE_UPDATE_FRAME, Math.ceil(total / 8) + 2)
  const bytes = byteStream(stream, { maxBufferSize: 2 * MAX_HAVE_UPDATE_FRAME + Math.ceil(total / 8) })
  const onAbort = (): void => { stream.abort(signal.reason ?? new Error('watch ended')) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    stream.send(encodeRequest({ type: MessageType.WatchHave, cid }))
    // Three stages: bounded frames off the stream, decoded and checked against the release,
    // handed to the session.
    await pipe(
      frames(bytes, haveFrame, MAX_HAVE_UPDATE_FRAME, signal),
      (source) => decode(source, total),
      async (source) => {
        for await (const event of source) {
          if ('have' in event) handlers.have(event.have)
          else handlers.chunks(event.chunks)
        }
      }
    )
  } finally {
    signal.removeEventListener('abort', onAbort)
    if (stream.status === 'open') stream.abort(new Error('watch ended'))
  }
}

/** The stream's frames until it ends: the first (the HAVE answer) up to `firstMax` bytes, the rest up to `max`. */
async function * frames (bytes: Parameters<typeof readFrame>[0], firstMax: number, max: number, signal: AbortSignal): AsyncGenerator<Uint8ArrayList> {
  for (let limit = firstMax; !signal.aborted; limit = max) {
    const frame = await readFrame(bytes, limit, { signal })
    if (frame == null) return
    yield frame
  }
}

/** The first frame must be HAVE, every later one HAVE_UPDATE with chunk numbers below `total`. */
async function * decode (source: AsyncIterable<Uint8ArrayList>, total: number): AsyncGenerator<HaveEvent> {
  let first = true
  for await (const frame of source) {
    if (first) {
      first = false
      yield { have: decodeHave(parseResponse(frame, MessageType.Have), total) }
      continue
    }
    if (frame.get(0) !== MessageType.HaveUpdate) throw new ProtocolError(`expected HAVE_UPDATE, got type ${frame.get(0)}`)
    yield { chunks: decodeHaveUpdate(frame.sublist(1), total) }
  }
}
