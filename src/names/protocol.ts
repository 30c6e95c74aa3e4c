/**
 * `/p2pweights/name/1.0.0`: name records peer to peer, so a name resolves where the DHT is thin
 * (the public Amino DHT's own nodes do not store our record type). One request per stream, each
 * an unsigned-varint length-prefixed frame whose first byte is its type:
 *
 *   GET  0x01 <name digest (34 B)>  -> one frame: the newest record we hold, or empty
 *   PUSH 0x02 <record bytes>        -> one empty frame (a publisher telling peers of a new version)
 *
 * Bounds: a request frame ≤ 1 + MAX_RECORD_BYTES, a response ≤ MAX_RECORD_BYTES, 10 s per
 * stream, 8 inbound streams per connection. Nothing read here is trusted: the caller opens
 * every record with openNameRecord() and the store's rules.
 */
import { lpStream } from '@libp2p/utils'
import { MAX_RECORD_BYTES } from './record.js'
import { NAME_STREAM_TIMEOUT } from './constants.js'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'

const log = logger('p2pweights:names:protocol')

export const NAME_PROTOCOL = '/p2pweights/name/1.0.0'
const GET = 0x01
const PUSH = 0x02
const DIGEST_BYTES = 34

export interface NameHandlers {
  /** The record bytes to answer a GET for this digest with, if any. */
  get: (digest: Uint8Array) => Promise<Uint8Array | undefined>
  /** A record a peer pushed; the handler verifies it (and may ignore it). */
  push: (bytes: Uint8Array, from: PeerId) => Promise<void>
}

export class NameServer {
  constructor (private readonly node: Pick<Libp2p, 'handle' | 'unhandle'>, private readonly handlers: NameHandlers) {}

  async start (): Promise<void> {
    await this.node.handle(NAME_PROTOCOL, (stream, connection) => { void this.serve(stream, connection.remotePeer) }, { maxInboundStreams: 8 })
  }

  async stop (): Promise<void> {
    await this.node.unhandle(NAME_PROTOCOL)
  }

  private async serve (stream: Stream, from: PeerId): Promise<void> {
    const signal = AbortSignal.timeout(NAME_STREAM_TIMEOUT)
    try {
      const lp = lpStream(stream, { maxDataLength: 1 + MAX_RECORD_BYTES })
      const request = (await lp.read({ signal })).subarray()
      if (request[0] === GET && request.length === 1 + DIGEST_BYTES) {
        await lp.write(await this.handlers.get(request.subarray(1)) ?? new Uint8Array(0), { signal })
      } else if (request[0] === PUSH && request.length > 1) {
        // Answer first: the pusher need not wait for our checks.
        await lp.write(new Uint8Array(0), { signal })
        await this.handlers.push(request.slice(1), from).catch((err: Error) => {
          log('pushed name record from %p refused: %s', from, err.message)
        })
      } else {
        throw new Error('bad name request')
      }
      await stream.close({ signal })
    } catch (err: any) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }
}

type Dialer = Pick<Libp2p, 'dialProtocol'>

/** Asks one peer for the record of a name; undefined when it has none. Bytes are unverified. */
export async function getNameFromPeer (node: Dialer, peer: PeerId, digest: Uint8Array, signal?: AbortSignal): Promise<Uint8Array | undefined> {
  const bytes = await exchange(node, peer, concat(GET, digest), signal)
  return bytes.length === 0 ? undefined : bytes
}

/** Tells one peer about a record (a new version). */
export async function pushNameToPeer (node: Dialer, peer: PeerId, record: Uint8Array, signal?: AbortSignal): Promise<void> {
  await exchange(node, peer, concat(PUSH, record), signal)
}

async function exchange (node: Dialer, peer: PeerId, request: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
  const combined = AbortSignal.any([AbortSignal.timeout(NAME_STREAM_TIMEOUT), ...(signal != null ? [signal] : [])])
  const stream = await node.dialProtocol(peer, NAME_PROTOCOL, { signal: combined })
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_RECORD_BYTES })
    await lp.write(request, { signal: combined })
    const response = (await lp.read({ signal: combined })).subarray()
    await stream.close({ signal: combined }).catch((err: Error) => { log('closing a name stream failed (%s); the answer is in', err.message) })
    return response
  } catch (err: any) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

function concat (type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + body.length)
  out[0] = type
  out.set(body, 1)
  return out
}
