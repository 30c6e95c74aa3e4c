/**
 * Fetching by name: resolve `<publisher>/<org>/<model>` (or `<alias>/<org>/<model>`) to the
 * newest release its publisher signed, under the name rules (src/names/), then fetch that release
 * accepting only the keys the name record vouches for.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { nameCidOf, type NameRecord } from '../names/record.js'
import type { Engine } from './engine.js'
import type { FetchOptions, FetchSummary } from './fetch.js'
import type { PeerId } from '@libp2p/interface'

export interface ResolveNameOptions {
  allowExpired?: boolean
  /** Peer addresses (with /p2p/<id>) to ask besides the DHT and connected peers. */
  peers?: string[]
  timeout?: number
  signal?: AbortSignal
}

export interface NamedFetchSummary extends FetchSummary {
  name: string
  version: number
}

/** Dials the --peer addresses so the resolver can ask them; unreachable ones are skipped. */
export async function dialPeers (engine: Engine, peers: string[] = [], signal?: AbortSignal): Promise<PeerId[]> {
  const ids: PeerId[] = []
  await Promise.all(peers.map(async text => {
    try {
      const addr = multiaddr(text)
      const id = addr.getComponents().findLast(c => c.name === 'p2p')?.value
      if (id == null) return
      await engine.node.dial(addr, { signal: AbortSignal.any([AbortSignal.timeout(10_000), ...(signal != null ? [signal] : [])]) })
      ids.push(peerIdFromString(id))
    } catch {}
  }))
  return ids
}

export async function resolveName (engine: Engine, text: string, options: ResolveNameOptions = {}): Promise<NameRecord> {
  const ref = await engine.names.parseRef(text)
  const peers = await dialPeers(engine, options.peers, options.signal)
  return await engine.names.resolve(ref, { allowExpired: options.allowExpired, peers, timeout: options.timeout, signal: options.signal })
}

export async function fetchName (engine: Engine, text: string, options: FetchOptions & ResolveNameOptions): Promise<NamedFetchSummary> {
  const record = await resolveName(engine, text, options)
  const summary = await engine.fetch((record.cid as NonNullable<NameRecord['cid']>).toString(), { ...options, trust: record.keys })
  // Holding the release, this node now serves its name record too: say so in the DHT.
  if (options.keepSeeding === true) engine.announcer.add(await nameCidOf(record))
  return { ...summary, name: `${record.publisher}/${record.name}`, version: record.version }
}
