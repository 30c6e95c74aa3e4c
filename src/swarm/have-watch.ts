/**
 * The fetching side of WATCH_HAVE: one stream on which a partial peer pushes the chunks it
 * verifies (HAVE_UPDATE), so we ask it for them at once. Every frame is bounded and every chunk
 * number checked against the release; anything else ends the watch (the session then polls
 * HAVE as it does with peers that predate WATCH_HAVE).
 */
import { byteStream } from '@libp2p/utils'
import {
  MAX_HAVE_UPDATE_FRAME, MessageType, decodeHave, decodeHaveUpdate, encodeRequest, parseResponse, readFrame
} from './codec.js'
import { ProtocolError } from './errors.js'
import type { Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export interface HaveWatchHandlers {
  have: (bitfield: Uint8Array | 'all') => void
  chunks: (chunks: number[]) => void
}

/** Runs until the stream ends or `signal` aborts; throws on a protocol violation. */
export async function watchHave (stream: Stream, cid: CID, total: number, handlers: HaveWatchHandlers, signal: AbortSignal): Promise<void> {
  const bytes = byteStream(stream, { maxBufferSize: 2 * MAX_HAVE_UPDATE_FRAME + Math.ceil(total / 8) })
  const onAbort = (): void => { stream.abort(signal.reason ?? new Error('watch ended')) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    stream.send(encodeRequest({ type: MessageType.WatchHave, cid }))
    const first = await readFrame(bytes, Math.max(MAX_HAVE_UPDATE_FRAME, Math.ceil(total / 8) + 2), { signal })
    if (first == null) return
    handlers.have(decodeHave(parseResponse(first, MessageType.Have), total))
    while (!signal.aborted) {
      const frame = await readFrame(bytes, MAX_HAVE_UPDATE_FRAME, { signal })
      if (frame == null) return
      if (frame.get(0) !== MessageType.HaveUpdate) throw new ProtocolError(`expected HAVE_UPDATE, got type ${frame.get(0)}`)
      handlers.chunks(decodeHaveUpdate(frame.sublist(1), total))
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    if (stream.status === 'open') stream.abort(new Error('watch ended'))
  }
}
