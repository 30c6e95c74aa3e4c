/**
 * GET /api/v1/events: the daemon's events as Server-Sent Events. A stream opens with
 * `event: snapshot` ({status, models}), then carries every DaemonEvent as `event: <type>` and
 * `data: <the event as JSON>`, and a `: keepalive` comment every 15 s. A client that stops
 * reading is dropped once more than `maxBuffered` bytes wait for it, instead of buffering
 * without end; a client that goes away is unsubscribed at once. At most `maxStreams` streams
 * are open at once (each holds a socket, a subscription and up to `maxBuffered` bytes), so
 * memory for streams stays below maxStreams × maxBuffered.
 */
import { logger } from '@libp2p/logger'
import { TooManyStreamsError } from './errors.js'
import type { ServerResponse } from 'node:http'
import type { DaemonEvent, DaemonService, ModelInfo, NodeStatus } from '../service.js'

const log = logger('p2pweights:daemon:events')

export interface EventStreamOptions {
  /** Interval of `: keepalive` comments (ms). */
  keepalive: number
  /** Bytes a stream may have waiting for a slow client before it is dropped. */
  maxBuffered: number
  /** Streams open at once; one more is refused with TooManyStreamsError. */
  maxStreams: number
}

export const DEFAULT_EVENT_STREAM_OPTIONS: EventStreamOptions = {
  keepalive: 15_000,
  maxBuffered: 1024 * 1024,
  maxStreams: 32
}

export { TooManyStreamsError }

export const EVENT_STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
  connection: 'keep-alive'
}

export class EventStreams {
  private readonly open = new Set<() => void>()

  constructor (private readonly service: Pick<DaemonService, 'subscribe'>, private readonly options: EventStreamOptions = DEFAULT_EVENT_STREAM_OPTIONS) {}

  /** Throws TooManyStreamsError when no stream may open now (call before taking over a response). */
  reserve (): void {
    if (this.open.size >= this.options.maxStreams) {
      throw new TooManyStreamsError(`too many event streams open (${this.options.maxStreams}); close a dashboard tab or another client, then retry`)
    }
  }

  /** Streams open now. */
  get size (): number {
    return this.open.size
  }

  /**
   * Takes over `res` (headers already decided by the caller's checks) and streams until the
   * client goes, the client falls too far behind, or closeAll().
   */
  serve (res: ServerResponse, snapshot: { status: NodeStatus, models: ModelInfo[] }): void {
    // The client may have gone while the request was checked: then there is nothing to stream to.
    if (res.destroyed || res.socket == null || res.socket.destroyed) {
      res.destroy()
      return
    }
    let done = false
    let unsubscribe = (): void => {}
    let timer: NodeJS.Timeout | undefined
    const finish = (): void => {
      if (done) return
      done = true
      unsubscribe()
      clearInterval(timer)
      this.open.delete(end)
    }
    const end = (): void => {
      finish()
      res.end()
    }
    const first = 'retry: 2000\n\n' + frame('snapshot', snapshot)
    // A large snapshot may wait in the socket's buffer without the client being slow.
    const limit = this.options.maxBuffered + Buffer.byteLength(first)
    const write = (text: string): void => {
      if (done) return
      try {
        res.write(text)
        if (res.writableLength <= limit) return
      } catch (err) {
        log('an event stream write failed, closing it: %e', err)
      }
      finish()
      res.destroy()
    }

    res.on('close', finish)
    res.on('error', finish)
    res.writeHead(200, EVENT_STREAM_HEADERS)
    write(first)
    if (done) return
    // Events are delivered synchronously, so none falls between the snapshot and this.
    unsubscribe = this.service.subscribe((event: DaemonEvent) => { write(frame(event.type, event)) })
    timer = setInterval(() => { write(': keepalive\n\n') }, this.options.keepalive)
    timer.unref()
    this.open.add(end)
  }

  /** Ends every stream (on server close, so close() does not wait for them). */
  closeAll (): void {
    for (const end of [...this.open]) end()
  }
}

/** One SSE message; JSON.stringify never yields a raw newline, so `data:` stays one line. */
function frame (type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`
}
