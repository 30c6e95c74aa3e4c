/**
 * The composition root: one Engine per process builds the libp2p node, the chunk server, the
 * announcer and the registry of what this node serves, starts them in order and stops them in
 * reverse. The CLI and the daemon are thin shells over seed(), fetch() and unseed().
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { InvalidCidError } from './errors.js'
import { fetchRelease, type FetchOptions, type FetchSummary } from './fetch.js'
import { seedFolder, type SeedOptions } from './seed.js'
import { Announcer } from '../discovery/announcer.js'
import { fileCid } from '../manifest/manifest.js'
import { createNode, type NodeOptions, type P2PNode } from '../net/node.js'
import { DataDir, DataDirInUseError } from '../store/data-dir.js'
import { loadOrCreateKeyFile } from '../store/keys.js'
import { writeFileAtomic } from '../store/atomic.js'
import { BanList } from '../swarm/policy/ban-list.js'
import { RateLimiter } from '../swarm/rate-limiter.js'
import { ChunkServer } from '../swarm/server.js'
import type { EventSink, TransferStats } from './events.js'
import type { Release } from '../manifest/signed.js'
import type { ChunkSource } from '../store/chunk-source.js'
import type { Datastore } from 'interface-datastore'
import type { PeerId } from '@libp2p/interface'

export interface EngineOptions {
  dataDir: string
  listen?: string[]
  bootstrap?: string[]
  mdns?: boolean
  dhtProtocol?: string
  /** Where libp2p keeps its peer store and DHT records; in memory when absent. */
  datastore?: Datastore
  maxConnections?: number
  /** Crowd limits of the node (net/node.ts): inbound connections per host per second, upgrades at once. */
  inboundConnectionThreshold?: number
  maxIncomingPendingConnections?: number
  /** Bytes per second across all peers; unlimited when absent or 0. */
  uploadRate?: number
  downloadRate?: number
  /** libp2p's metrics implementation (the daemon's Prometheus registry). */
  metrics?: NodeOptions['metrics']
  /**
   * When another node holds the data dir: 'refuse' (the daemon: it must own its identity and
   * datastore) or 'temporary-identity' (a standalone seed or fetch runs anyway, with a fresh
   * peer identity; releases and the hash cache are written atomically and can be shared).
   */
  sharedDataDir?: 'refuse' | 'temporary-identity'
  onEvent?: EventSink
}

export type ServedSource = ChunkSource & { close?: () => Promise<void> }

export class Engine {
  /** What this node serves, by release CID. */
  readonly sources = new Map<string, ServedSource>()
  readonly announcer: Announcer
  readonly downloadLimiter?: RateLimiter
  /** Fetches in progress, told of peers that ask us about the same release (they fetch it too). */
  readonly interested = new Map<string, (peer: PeerId) => void>()
  /** Peers banned by earlier fetches (decaying), kept across fetches and restarts. */
  banList = new BanList()
  private readonly transfer = new Map<string, TransferStats>()
  private readonly server: ChunkServer
  private stopped = false

  private constructor (readonly node: P2PNode, readonly dataDir: DataDir, readonly emit: EventSink, options: EngineOptions, private readonly ownsDataDir: boolean) {
    this.server = new ChunkServer(node, this.sources, {
      onInterest: (cid, peer) => this.interested.get(cid)?.(peer),
      rateLimiter: options.uploadRate != null && options.uploadRate > 0 ? new RateLimiter(options.uploadRate) : undefined,
      onUpload: e => { this.stats(e.cid).uploaded += e.bytes }
    })
    if (options.downloadRate != null && options.downloadRate > 0) this.downloadLimiter = new RateLimiter(options.downloadRate)
    this.announcer = new Announcer(node.services.dht, {
      onAnnounced: e => emit({ event: 'announced', ...e }),
      onWarning: message => emit({ event: 'warning', message })
    })
  }

  static async create (options: EngineOptions): Promise<Engine> {
    const dataDir = new DataDir(options.dataDir)
    await dataDir.init()
    const owner = await dataDir.lock().then(() => true, (err: Error) => {
      if (!(err instanceof DataDirInUseError) || options.sharedDataDir !== 'temporary-identity') throw err
      return false
    })
    try {
      // The data dir's identity belongs to the node that holds its lock; a second, short-lived
      // node (a fetch next to a running one) gets an identity of its own for this run.
      const privateKey = owner ? await loadOrCreateKeyFile(dataDir.peerKeyPath) : await generateKeyPair('Ed25519')
      const node = await createNode({
        privateKey,
        listen: options.listen,
        bootstrap: options.bootstrap,
        mdns: options.mdns,
        dhtProtocol: options.dhtProtocol,
        datastore: options.datastore,
        maxConnections: options.maxConnections,
        inboundConnectionThreshold: options.inboundConnectionThreshold,
        maxIncomingPendingConnections: options.maxIncomingPendingConnections,
        metrics: options.metrics
      })
      const engine = new Engine(node, dataDir, options.onEvent ?? (() => {}), options, owner)
      if (!owner) engine.emit({ event: 'warning', message: `another p2pweights node uses ${dataDir.root}; this one runs with a temporary identity (${engine.peerId})` })
      return engine
    } catch (err) {
      if (owner) await dataDir.unlock()
      throw err
    }
  }

  async start (): Promise<void> {
    if (this.ownsDataDir) this.banList = new BanList({}, await readFile(this.banListPath, 'utf8').then(t => JSON.parse(t), () => undefined))
    await this.server.start()
    await this.node.start()
    this.announcer.start()
  }

  /** Stops in reverse order of start; safe to call twice. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.announcer.stop()
    await this.server.stop()
    await this.node.stop()
    await Promise.all([...this.sources.values()].map(async s => await s.close?.()))
    this.sources.clear()
    if (this.ownsDataDir) {
      if (this.banList.size > 0) await writeFileAtomic(this.banListPath, JSON.stringify(this.banList), 0o600).catch(() => {})
      await this.dataDir.unlock()
    }
  }

  private get banListPath (): string {
    return join(this.dataDir.root, 'bans.json')
  }

  get peerId (): string {
    return this.node.peerId.toString()
  }

  /** Full addresses others can dial, each ending in /p2p/<peer id>. */
  get addrs (): string[] {
    return this.node.getMultiaddrs().map(a => a.toString())
  }

  /** This node published `cid` just now: serve it in initial seeding mode (super-seeding). */
  superSeed (cid: string): void {
    this.server.superSeed(cid)
  }

  /** A chunk of a release we serve was verified: peers that watch it are told. */
  chunkAdded (cid: string, chunk: number): void {
    this.server.chunkAdded(cid, chunk)
  }

  /** A peer uploaded verified chunk bytes to us: it earns an unchoke slot (reciprocity). */
  receivedFrom (peer: string, bytes: number): void {
    this.server.received(peer, bytes)
  }

  /** Transfer counters of a release (created on first use). */
  stats (cid: string): TransferStats {
    let stats = this.transfer.get(cid)
    if (stats == null) {
      stats = { uploaded: 0, downloaded: 0, chunksVerified: 0, chunksFailed: 0 }
      this.transfer.set(cid, stats)
    }
    return stats
  }

  /** Bytes moved since this engine started, all releases. */
  totals (): { uploaded: number, downloaded: number } {
    let uploaded = 0
    let downloaded = 0
    for (const s of this.transfer.values()) {
      uploaded += s.uploaded
      downloaded += s.downloaded
    }
    return { uploaded, downloaded }
  }

  async seed (folder: string, options: SeedOptions = {}): Promise<Release> {
    return await seedFolder(this, folder, options)
  }

  async fetch (cid: string, options: FetchOptions = {}): Promise<FetchSummary> {
    return await fetchRelease(this, parseCid(cid), options)
  }

  /** Stops serving and announcing a release. Never touches its files. */
  async unseed (cid: string): Promise<boolean> {
    const source = this.sources.get(cid)
    if (source == null) return false
    this.sources.delete(cid)
    this.server.released(cid)
    this.announcer.withdraw(source.release.cid)
    for (const file of source.release.manifest.files) this.announcer.withdraw(fileCid(file))
    await source.close?.()
    return true
  }
}

export function parseCid (text: string): CID {
  try {
    return CID.parse(text.trim())
  } catch (err: any) {
    throw new InvalidCidError(`"${text}" is not a CID (${err.message}); use the CID that \`p2pweights seed\` printed, e.g. bafyrei…`)
  }
}
