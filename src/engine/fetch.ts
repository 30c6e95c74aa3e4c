/**
 * Fetching a release: find peers, get the signed release from one of them and verify it (CID,
 * signature, trusted publisher), then pull chunks from every peer that has them into a Download,
 * serving the chunks we hold to others and announcing ourselves as we go.
 */
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { ReleaseLookup } from './release-lookup.js'
import { rememberHashes, serveRelease } from './serve.js'
import { multiaddr } from '@multiformats/multiaddr'
import { ProviderSearch, parsePeerAddress } from '../discovery/providers.js'
import { BadSignatureError, UntrustedPublisherError } from '../manifest/errors.js'
import { fileCid, totalSize } from '../manifest/manifest.js'
import { STATE_DIR_NAME } from '../manifest/paths.js'
import { openRelease, type Release } from '../manifest/signed.js'
import { Download } from '../store/download.js'
import { PROTOCOL } from '../swarm/codec.js'
import { ChunkFetcher } from '../swarm/fetcher.js'
import type { Engine } from './engine.js'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export interface FetchOptions {
  /** Output folder; default <baseDir>/<release name>. */
  outDir?: string
  /** Where the default output folder goes; default: the working directory. */
  baseDir?: string
  /** Publisher ids to accept; empty accepts any valid signature (and reports who signed). */
  trust?: string[]
  /** Peer addresses to use besides the DHT (with /p2p/<id>). */
  peers?: string[]
  /** How long to look for the release, and to wait without progress, before giving up (ms). */
  findTimeout?: number
  stallTimeout?: number
  streamsPerPeer?: number
  /** Serve the finished folder afterwards (the caller keeps the engine running). */
  keepSeeding?: boolean
  signal?: AbortSignal
}

export interface FetchSummary {
  cid: string
  path: string
  bytes: number
  downloaded: number
  fromPeers: Record<string, number>
  publisher: string
}

const FLUSH_INTERVAL = 1000
const CODE_P2P = 421

export async function fetchRelease (engine: Engine, cid: CID, options: FetchOptions): Promise<FetchSummary> {
  const trust = (options.trust ?? []).map(t => {
    try {
      return peerIdFromString(t).toString()
    } catch {
      throw new UntrustedPublisherError(`--trust ${t} is not a publisher id (it looks like 12D3KooW…, as printed by keygen and seed)`)
    }
  })
  const findTimeout = options.findTimeout ?? 60_000
  const candidates = new Set<string>()
  let onCandidate: (peer: PeerId) => void = () => {}
  const search = new ProviderSearch(engine.node, cid, {
    peers: options.peers,
    onPeer: peer => {
      candidates.add(peer.toString())
      onCandidate(peer)
    }
  })
  await search.start()
  try {
    const release = await locateRelease(engine, cid, trust, options, candidates, cb => { onCandidate = cb }, findTimeout, search)
    const outDir = resolve(options.outDir ?? join(options.baseDir ?? '.', release.manifest.name))
    const total = totalSize(release.manifest)
    engine.emit({ event: 'manifest', cid: cid.toString(), name: release.manifest.name, publisher: release.publisher, files: release.manifest.files.length, bytes: total, path: outDir })
    await engine.dataDir.saveRelease(cid, release.bytes)

    const key = cid.toString()
    const stats = engine.stats(key)
    let downloadedBefore = 0
    const download = await Download.open(outDir, release, {
      onFileComplete: file => {
        engine.emit({ event: 'file-done', cid: key, path: file.path, fileCid: fileCid(file).toString() })
        if (file.size > 0) engine.announcer.add(fileCid(file))
      }
    })
    engine.sources.set(key, download)
    // Where a resumed fetch starts, before any new chunk arrives.
    const startBytes = download.verifiedBytes
    engine.emit({ event: 'progress', cid: key, bytes: startBytes, total, downloaded: 0, peers: 0 })
    // Announced once we hold a chunk: in a flash crowd, DHT answers full of fetchers that have
    // nothing would crowd out the peers that can serve. (We serve from the first chunk.)
    let announced = startBytes > 0
    if (announced) engine.announcer.add(cid)
    const fetcher = new ChunkFetcher({
      dial: async (peer, signal) => await engine.node.dialProtocol(peer, PROTOCOL, { signal }),
      sink: download,
      startBytes,
      stallTimeout: options.stallTimeout,
      giveUpAfter: findTimeout,
      streamsPerPeer: options.streamsPerPeer,
      rateLimiter: engine.downloadLimiter,
      banList: engine.banList,
      addressOf: peer => engine.node.getConnections(peer)[0]?.remoteAddr.toString(),
      onPeers: addrs => { void offerPeers(engine, addrs, peer => fetcher.addPeer(peer)) },
      onChunk: (chunk, peer, bytes) => {
        engine.chunkAdded(key, chunk)
        engine.receivedFrom(peer, bytes)
        if (!announced) {
          announced = true
          engine.announcer.add(cid)
        }
      },
      onProgress: p => {
        stats.chunksVerified++
        stats.downloaded += p.downloaded - downloadedBefore
        downloadedBefore = p.downloaded
        engine.emit({ event: 'progress', cid: key, ...p })
      },
      onPeerDropped: e => {
        if (e.banned) stats.chunksFailed++
        if (!e.connected) search.failed(peerIdFromString(e.peerId))
        engine.emit({ event: 'peer-dropped', cid: key, peerId: e.peerId, reason: e.reason, connected: e.connected })
      }
    })
    onCandidate = peer => fetcher.addPeer(peer)
    // A peer that asks us about this release is fetching it too: fetch from it as well.
    engine.interested.set(key, peer => fetcher.addPeer(peer))
    for (const id of candidates) fetcher.addPeer(peerIdFromString(id))
    const flusher = setInterval(() => { download.flush().catch(() => {}) }, FLUSH_INTERVAL)
    let result
    try {
      result = await fetcher.run(options.signal)
    } finally {
      clearInterval(flusher)
      engine.interested.delete(key)
      engine.sources.delete(key)
      await download.close()
    }
    // The folder now holds the release verified: a later serve needs no hashing.
    await rememberHashes(engine, release, outDir)
    if (options.keepSeeding === true) await serveRelease(engine, cid, outDir)
    return { cid: cid.toString(), path: outDir, bytes: total, downloaded: result.downloaded, fromPeers: result.fromPeers, publisher: release.publisher }
  } finally {
    search.stop()
  }
}

/**
 * The release from local state if we have it, else from the swarm (ReleaseLookup): a peer whose
 * bytes do not hash to the CID is skipped; a release that hashes right but is badly signed or
 * untrusted is final (every honest peer would send the same bytes).
 */
async function locateRelease (
  engine: Engine, cid: CID, trust: string[], options: FetchOptions,
  known: Set<string>, subscribe: (cb: (peer: PeerId) => void) => void, findTimeout: number, search: ProviderSearch
): Promise<Release> {
  const local = [
    await engine.dataDir.loadRelease(cid),
    options.outDir == null ? undefined : await readFile(join(resolve(options.outDir), STATE_DIR_NAME, 'release')).catch(() => undefined)
  ]
  for (const bytes of local) {
    if (bytes == null) continue
    try {
      return await openRelease(cid, bytes, trust)
    } catch (err) {
      if (err instanceof UntrustedPublisherError || err instanceof BadSignatureError) throw err
    }
  }
  const lookup = new ReleaseLookup(engine.node, {
    cid, trust, findTimeout, stallTimeout: options.stallTimeout ?? 20_000, onFailed: peer => search.failed(peer)
  })
  subscribe(peer => lookup.add(peer))
  for (const id of known) lookup.add(peerIdFromString(id))
  return await lookup.run()
}

/** Peers from a peer exchange: their addresses go to the peer store, the peers to the fetcher. */
async function offerPeers (engine: Engine, addrs: Uint8Array[], add: (peer: PeerId) => void): Promise<void> {
  for (const bytes of addrs) {
    try {
      const { peer, addr } = parsePeerAddress(multiaddr(bytes).toString())
      if (peer.equals(engine.node.peerId)) continue
      await engine.node.peerStore.merge(peer, { multiaddrs: [addr.decapsulateCode(CODE_P2P)] })
      add(peer)
    } catch {
      // a malformed address from a peer: ignored
    }
  }
}
