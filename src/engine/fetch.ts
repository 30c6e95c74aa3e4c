/**
 * Fetching a release: find peers, get the signed release from one of them and verify it (CID,
 * signature, trusted publisher), then pull chunks from every peer that has them into a Download,
 * serving the chunks we hold to others and announcing ourselves as we go.
 */
import { resolve } from 'node:path'
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { FIND_TIMEOUT, FLUSH_INTERVAL, STALL_TIMEOUT } from './constants.js'
import { planTarget } from './fetch-target.js'
import { ReleaseLookup } from './release-lookup.js'
import { rememberHashes, serveRelease, type ServeComponents } from './serve.js'
import { ProviderSearch } from '../discovery/providers.js'
import { dialChunkStream } from '../net/limited.js'
import { BadSignatureError, UntrustedPublisherError } from '../manifest/errors.js'
import { fileCid, totalSize } from '../manifest/manifest.js'
import { openRelease, type Release } from '../manifest/signed.js'
import { Download } from '../store/download.js'
import { PROTOCOL } from '../swarm/codec.js'
import { ChunkFetcher } from '../swarm/fetcher.js'
import type { FetchProgressEvents, ProgressOptions, TransferStats } from './events.js'
import type { ServedReleases } from './served-releases.js'
import type { P2PNode } from '../net/node.js'
import type { DataDir } from '../store/data-dir.js'
import type { BanList } from '../swarm/policy/ban-list.js'
import type { RateLimiter } from '../swarm/rate-limiter.js'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

const log = logger('p2pweights:components:fetch')

/** What a fetch needs of the components: the node to dial, the registry it serves from, its counters. */
export interface FetchComponents extends ServeComponents {
  node: P2PNode
  dataDir: ServeComponents['dataDir'] & Pick<DataDir, 'saveRelease' | 'stateKey'>
  served: Pick<ServedReleases, 'register' | 'unregister' | 'announce'>
  announcer: { add: (cid: CID) => void }
  downloadLimiter?: RateLimiter
  banList: BanList
  stats: (cid: string) => TransferStats
  /** A chunk we now hold was verified: peers that watch the release are told. */
  chunkAdded: (cid: string, chunk: number) => void
  /** A peer uploaded verified bytes to us: it earns an unchoke slot (reciprocity). */
  receivedFrom: (peer: string, bytes: number) => void
  /** Fetches in progress, told of peers that ask us about the same release. */
  interested: Map<string, (peer: PeerId) => void>
}

export interface FetchOptions extends AbortOptions, ProgressOptions<FetchProgressEvents> {
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
  /**
   * Called with the output folder before anything is written there (the daemon checks its real
   * path against --allow-folder and the data dir); throwing ends the fetch.
   */
  checkOutDir?: (outDir: string) => Promise<void>
  /** Only the files these globs select (`hf download` semantics, see manifest/select.ts). */
  include?: string[]
  exclude?: string[]
  /** Write the release as an entry of this Hugging Face hub cache instead of a folder. */
  hfCache?: string
  /**
   * Write into an output folder that holds files other than this release's (they may be
   * replaced). Without it such a folder is refused, unless it holds a partial download of
   * this release (resume) or only this release's own files.
   */
  intoExisting?: boolean
  /** Serve the finished folder afterwards (the caller keeps the components running). */
  keepSeeding?: boolean
}

export interface FetchSummary {
  cid: string
  path: string
  bytes: number
  downloaded: number
  fromPeers: Record<string, number>
  publisher: string
}

export async function fetchRelease (components: FetchComponents, cid: CID, options: FetchOptions = {}): Promise<FetchSummary> {
  const emit = (e: FetchProgressEvents): void => options.onProgress?.(e)
  const trust = (options.trust ?? []).map(t => {
    try {
      return peerIdFromString(t).toString()
    } catch {
      throw new UntrustedPublisherError(`--trust ${t} is not a publisher id (it looks like 12D3KooW…, as printed by keygen and seed)`)
    }
  })
  const findTimeout = options.findTimeout ?? FIND_TIMEOUT
  const candidates = new Set<string>()
  let onCandidate: (peer: PeerId) => void = () => {}
  let sources = (): number => 0
  const search = new ProviderSearch(components.node, cid, {
    peers: options.peers,
    sources: () => sources(),
    onPeer: peer => {
      candidates.add(peer.toString())
      onCandidate(peer)
    }
  })
  await search.start()
  try {
    const release = await locateRelease(components, cid, trust, options, candidates, cb => { onCandidate = cb }, findTimeout, search)
    const target = planTarget(release, options)
    const { outDir, files: wanted } = target
    await options.checkOutDir?.(outDir)
    const total = wanted == null ? totalSize(release.manifest) : [...wanted].reduce((n, i) => n + release.manifest.files[i].size, 0)
    emit({ type: 'fetch:manifest', detail: { cid: cid.toString(), name: release.manifest.name, publisher: release.publisher, files: wanted?.size ?? release.manifest.files.length, bytes: total, path: outDir } })
    await components.dataDir.saveRelease(cid, release.bytes)

    const key = cid.toString()
    const stats = components.stats(key)
    let downloadedBefore = 0
    await target.prepare()
    const download = await Download.open(outDir, release, {
      stateKey: await components.dataDir.stateKey(),
      intoExisting: options.intoExisting,
      onFileComplete: file => {
        emit({ type: 'fetch:file:done', detail: { cid: key, path: file.path, fileCid: fileCid(file).toString() } })
        if (file.size > 0) components.announcer.add(fileCid(file))
      },
      files: wanted
    })
    await components.served.register(key, download)
    // Where a resumed fetch starts, before any new chunk arrives.
    const startBytes = download.verifiedBytes
    emit({ type: 'fetch:chunk:verified', detail: { cid: key, bytes: startBytes, total, downloaded: 0, peers: 0 } })
    // Announced once we hold a chunk: in a flash crowd, DHT answers full of fetchers that have
    // nothing would crowd out the peers that can serve. (We serve from the first chunk.)
    let announced = startBytes > 0
    if (announced) components.announcer.add(cid)
    const fetcher = new ChunkFetcher({
      dial: async (peer, signal) => await dialChunkStream(components.node, peer, PROTOCOL, signal),
      sink: download,
      startBytes,
      stallTimeout: options.stallTimeout ?? STALL_TIMEOUT,
      giveUpAfter: findTimeout,
      streamsPerPeer: options.streamsPerPeer,
      rateLimiter: components.downloadLimiter,
      banList: components.banList,
      addressOf: peer => components.node.getConnections(peer)[0]?.remoteAddr.toString(),
      onPeers: addrs => { void search.exchanged(addrs) },
      onChunk: (chunk, peer, bytes) => {
        components.chunkAdded(key, chunk)
        components.receivedFrom(peer, bytes)
        if (!announced) {
          announced = true
          components.announcer.add(cid)
        }
      },
      onProgress: p => {
        stats.chunksVerified++
        stats.downloaded += p.downloaded - downloadedBefore
        downloadedBefore = p.downloaded
        emit({ type: 'fetch:chunk:verified', detail: { cid: key, ...p } })
      },
      onPeerDropped: e => {
        if (e.banned) stats.chunksFailed++
        if (!e.connected) search.failed(peerIdFromString(e.peerId))
        emit({ type: 'fetch:peer:dropped', detail: { cid: key, peerId: e.peerId, reason: e.reason, connected: e.connected } })
      }
    })
    onCandidate = peer => fetcher.addPeer(peer)
    sources = () => fetcher.peers
    // A peer that asks us about this release is fetching it too: fetch from it as well.
    components.interested.set(key, peer => fetcher.addPeer(peer))
    for (const id of candidates) fetcher.addPeer(peerIdFromString(id))
    const flusher = setInterval(() => { download.flush().catch(err => log.error('flushing %s failed: %e', key, err)) }, FLUSH_INTERVAL)
    let result
    try {
      result = await fetcher.run(options.signal)
    } finally {
      clearInterval(flusher)
      components.interested.delete(key)
      components.served.unregister(key, download)
      await download.close()
    }
    const path = await target.finish()
    // The folder now holds the release verified: a later serve needs no hashing.
    await rememberHashes(components, release, path, wanted)
    if (options.keepSeeding === true) await serveRelease(components, cid, path, { ...options, allowSymlinksInto: target.symlinkRoots })
    return { cid: cid.toString(), path, bytes: total, downloaded: result.downloaded, fromPeers: result.fromPeers, publisher: release.publisher }
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
  components: FetchComponents, cid: CID, trust: string[], options: FetchOptions,
  known: Set<string>, subscribe: (cb: (peer: PeerId) => void) => void, findTimeout: number, search: ProviderSearch
): Promise<Release> {
  const local = [
    await components.dataDir.loadRelease(cid),
    options.outDir == null ? undefined : await Download.savedRelease(resolve(options.outDir)).catch(() => undefined)
  ]
  for (const bytes of local) {
    if (bytes == null) continue
    try {
      return await openRelease(cid, bytes, trust)
    } catch (err) {
      if (err instanceof UntrustedPublisherError || err instanceof BadSignatureError) throw err
      log('a saved copy of release %s is unusable, asking peers: %e', cid, err)
    }
  }
  const lookup = new ReleaseLookup({ dial: async (peer, signal) => await dialChunkStream(components.node, peer, PROTOCOL, signal) }, {
    cid, trust, findTimeout, stallTimeout: options.stallTimeout ?? STALL_TIMEOUT, signal: options.signal, onFailed: peer => search.failed(peer)
  })
  subscribe(peer => lookup.add(peer))
  for (const id of known) lookup.add(peerIdFromString(id))
  return await lookup.run()
}

