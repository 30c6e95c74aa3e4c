/**
 * Relayed connections carry limits set by the relay (circuit relay v2): a p2pweights relay
 * (--relay-service) grants GiBs and an hour, so chunks may flow through it; public relays grant
 * go-libp2p's defaults (128 KiB, 2 minutes), enough for signalling only. A chunk stream on such
 * a connection would be cut in the middle of the first chunk, so it is never opened there.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { P2PNode } from './node.js'
import { RelayTooLimitedError } from './errors.js'
import { MIN_RELAYED_BYTES, MIN_RELAYED_SECONDS } from './constants.js'

export { MIN_RELAYED_BYTES, MIN_RELAYED_SECONDS }

/** Whether a connection (direct, or relayed within generous limits) may carry chunks. */
export function carriesChunks (connection: Pick<Connection, 'limits'>): boolean {
  const limits = connection.limits
  if (limits == null) return true
  return (limits.bytes == null || limits.bytes >= MIN_RELAYED_BYTES) && (limits.seconds == null || limits.seconds >= MIN_RELAYED_SECONDS)
}

/** Opens `protocol` to `peer`, over a relayed connection only when its limits allow chunks. */
export async function dialChunkStream (node: P2PNode, peer: PeerId, protocol: string, signal: AbortSignal): Promise<Stream> {
  // An open connection first: libp2p's dial() sees a relayed one as second best and opens
  // another through the same relay, which the seeder refuses as a duplicate.
  const open = node.getConnections(peer).filter(c => c.status === 'open')
  const usable = open.find(c => c.limits == null) ?? open.find(carriesChunks)
  if (usable != null) return await usable.newStream(protocol, { signal, runOnLimitedConnection: true })
  // Only a too-limited relayed connection, or none: a direct route may still exist.
  const tooLimited = open.find(c => !carriesChunks(c))
  let connection: Connection
  try {
    connection = await node.dial(peer, { signal })
  } catch (err) {
    if (tooLimited != null) throw tooLimitedError(peer, tooLimited)
    throw err
  }
  if (!carriesChunks(connection)) throw tooLimitedError(peer, connection)
  return await connection.newStream(protocol, { signal, runOnLimitedConnection: true })
}

function tooLimitedError (peer: PeerId, connection: Pick<Connection, 'limits'>): RelayTooLimitedError {
  return new RelayTooLimitedError(`the only connection to ${peer.toString()} is through a relay that allows ${String(connection.limits?.bytes ?? '?')} bytes / ${connection.limits?.seconds ?? '?'} s: signalling only, no chunks`)
}
