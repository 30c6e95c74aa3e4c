/**
 * Fetching by name: resolve `<publisher>/<org>/<model>` (or `<alias>/<org>/<model>`) to the
 * newest release its publisher signed, under the name rules (src/names/), then fetch that release
 * accepting only the keys the name record vouches for.
 */
import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { PEER_DIAL_TIMEOUT } from './constants.js'
import { nameCidOf, type NameRecord } from '../names/record.js'
import type { FetchOptions, FetchSummary } from './fetch.js'
import type { NameService } from '../names/service.js'
import type { P2PNode } from '../net/node.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

const log = logger('p2pweights:engine:names')

export interface ResolveNameOptions extends AbortOptions {
  allowExpired?: boolean
  /** Peer addresses (with /p2p/<id>) to ask besides the DHT and connected peers. */
  peers?: string[]
  timeout?: number
}

export interface NamedFetchSummary extends FetchSummary {
  name: string
  version: number
}

export interface NameComponents {
  node: Pick<P2PNode, 'dial'>
  names: Pick<NameService, 'parseRef' | 'resolve'>
  announcer: { add: (cid: CID) => void }
}

/** Dials the --peer addresses so the resolver can ask them; unreachable ones are skipped. */
export async function dialPeers (components: Pick<NameComponents, 'node'>, peers: string[] = [], signal?: AbortSignal): Promise<PeerId[]> {
  const ids: PeerId[] = []
  await Promise.all(peers.map(async text => {
    try {
      const addr = multiaddr(text)
      const id = addr.getComponents().findLast(c => c.name === 'p2p')?.value
      if (id == null) return
      await components.node.dial(addr, { signal: AbortSignal.any([AbortSignal.timeout(PEER_DIAL_TIMEOUT), ...(signal != null ? [signal] : [])]) })
      ids.push(peerIdFromString(id))
    } catch (err) {
      log('--peer %s skipped: %e', text, err)
    }
  }))
  return ids
}

export async function resolveName (components: NameComponents, text: string, options: ResolveNameOptions = {}): Promise<NameRecord> {
  const ref = await components.names.parseRef(text)
  const peers = await dialPeers(components, options.peers, options.signal)
  return await components.names.resolve(ref, { allowExpired: options.allowExpired, peers, timeout: options.timeout, signal: options.signal })
}

/** A node that holds (or will hold) the release serves its name record too: said in the DHT. */
export async function provideName (components: Pick<NameComponents, 'announcer'>, record: NameRecord): Promise<void> {
  components.announcer.add(await nameCidOf(record))
}

export async function fetchName (
  components: NameComponents, fetch: (cid: string, options: FetchOptions) => Promise<FetchSummary>,
  text: string, options: FetchOptions & ResolveNameOptions
): Promise<NamedFetchSummary> {
  const record = await resolveName(components, text, options)
  const summary = await fetch((record.cid as NonNullable<NameRecord['cid']>).toString(), { ...options, trust: record.keys })
  if (options.keepSeeding === true) await provideName(components, record)
  return { ...summary, name: `${record.publisher}/${record.name}`, version: record.version }
}
