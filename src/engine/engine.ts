/**
 * The engine: the one API the CLI and the daemon use (seed, fetch, serve, unserve, peers,
 * status), and the composition root of a node. It builds the libp2p node, the chunk server, the
 * announcer, the registry of what this node serves (ServedReleases) and the name service, starts
 * them in order and stops them in reverse. The flows (seed.ts, fetch.ts, serve.ts) get narrow
 * components from here, never the Engine: nothing imports this file but its callers.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { logger } from '@libp2p/logger'
import { CID } from 'multiformats/cid'
import { CancelledError, InvalidCidError } from './errors.js'
import { STOP_JOBS_TIMEOUT } from './constants.js'
import { settledWithin } from '../util/sleep.js'
import { fetchRelease, type FetchComponents, type FetchOptions, type FetchSummary } from './fetch.js'
import { dialPeers, fetchName, provideName, resolveName, type NameComponents, type NamedFetchSummary, type ResolveNameOptions } from './fetch-name.js'
import { seedFolder, type SeedComponents, type SeedOptions, type SeedResult } from './seed.js'
import { serveRelease, type ServeOptions } from './serve.js'
import { ServedReleases, type ServedFolder } from './served-releases.js'
import { Announcer } from '../discovery/announcer.js'
import { openRelease, type Release } from '../manifest/signed.js'
import { NameService } from '../names/service.js'
import { announceTargets, createNode, type NodeOptions, type P2PNode, type RelayServiceLimits } from '../net/node.js'
import { DataDir, DataDirInUseError } from '../store/data-dir.js'
import { loadOrCreateKeyFile, readKeyFile } from '../store/keys.js'
import { writeFileAtomic } from '../store/atomic.js'
import { BanList } from '../swarm/policy/ban-list.js'
import { RateLimiter } from '../swarm/rate-limiter.js'
import { ChunkServer } from '../swarm/server.js'
import type { NodeEventSink, TransferStats } from './events.js'
import type { NameRecord } from '../names/record.js'
import type { ReachabilityReport } from '../net/reachability.js'
import type { Datastore } from 'interface-datastore'
import type { PeerId } from '@libp2p/interface'

const log = logger('p2pweights:engine')

export type { ServedFolder, SeedOptions, SeedResult, FetchOptions, FetchSummary, NamedFetchSummary, ResolveNameOptions, ServeOptions }
export interface EngineOptions {
  dataDir: string
  listen?: string[]
  bootstrap?: string[]
  mdns?: boolean
  dhtProtocol?: string
  /** Reachability: see net/node.ts. */
  announce?: string[]
  relays?: string[]
  relayService?: RelayServiceLimits
  upnp?: boolean
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
  /** How long our name records are valid (ms); republished at a quarter of it. */
  nameValidity?: number
  /** Events of the node as a whole (warnings, announcements, name updates, reachability). */
  onEvent?: NodeEventSink
}

/** A peer connection, as `peers()` lists it. */
export interface EnginePeer {
  peerId: string
  addrs: string[]
  direction: 'inbound' | 'outbound'
  /** Seconds since the connection opened. */
  openFor: number
}

export interface EngineStatus {
  peerId: string
  addrs: string[]
  connections: number
  reachability: ReachabilityReport
  /** Release CIDs served now (seeded, fetched, or being fetched). */
  served: string[]
  /** Bytes since this engine started, all releases. */
  uploaded: number
  downloaded: number
}

export class Engine {
  /** Signed names: resolve, publish, serve records (src/names/). */
  readonly names: NameService
  private readonly served: ServedReleases
  private readonly announcer: Announcer
  private readonly downloadLimiter?: RateLimiter
  /** Fetches in progress, told of peers that ask us about the same release (they fetch it too). */
  private readonly interested = new Map<string, (peer: PeerId) => void>()
  /** Peers banned by earlier fetches (decaying), kept across fetches and restarts. */
  private banList = new BanList()
  private readonly transfer = new Map<string, TransferStats>()
  private readonly server: ChunkServer
  /** Seeds and fetches in flight: stop() cancels them and waits for them to settle. */
  private readonly jobs = new Set<{ controller: AbortController, done: Promise<unknown> }>()
  private stopped = false

  private constructor (private readonly node: P2PNode, private readonly dataDir: DataDir, private readonly emit: NodeEventSink, options: EngineOptions, private readonly ownsDataDir: boolean) {
    this.announcer = new Announcer(announceTargets(node), {
      onAnnounced: e => emit({ event: 'announced', ...e }),
      onWarning: message => emit({ event: 'warning', message })
    })
    this.names = new NameService({
      node,
      announcer: this.announcer,
      dataDir: dataDir.root,
      onWarning: message => emit({ event: 'warning', message }),
      onUpdate: record => emit({ event: 'name-updated', publisher: record.publisher, name: record.name, version: record.version, release: record.cid?.toString() ?? null })
    }, options.nameValidity)
    this.served = new ServedReleases({
      announcer: this.announcer,
      released: cid => this.server.released(cid),
      unpublish: cid => this.names.unpublish(cid)
    })
    this.server = new ChunkServer(node, this.served, {
      onInterest: (cid, peer) => this.interested.get(cid)?.(peer),
      rateLimiter: options.uploadRate != null && options.uploadRate > 0 ? new RateLimiter(options.uploadRate) : undefined,
      onUpload: e => { this.stats(e.cid).uploaded += e.bytes }
    })
    if (options.downloadRate != null && options.downloadRate > 0) this.downloadLimiter = new RateLimiter(options.downloadRate)
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
        announce: options.announce,
        relays: options.relays,
        relayService: options.relayService,
        upnp: options.upnp,
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
    if (this.ownsDataDir) this.banList = new BanList({}, await readFile(this.banListPath, 'utf8').then(t => JSON.parse(t), () => undefined) /* none yet, or unreadable: start empty */)
    await this.server.start()
    await this.names.start()
    await this.node.start()
    this.announcer.start()
    this.node.addEventListener('self:peer:update', this.onSelfUpdate)
  }

  private lastReachability = ''
  /** Says when how others reach us changes: a relay reservation made or lost, a port mapped. */
  private readonly onSelfUpdate = (): void => {
    const r = this.reachability()
    const key = `${r.state} ${r.relays.join(',')}`
    if (key === this.lastReachability) return
    this.lastReachability = key
    this.emit({ event: 'reachability', state: r.state, reason: r.reason, relays: r.relays })
  }

  /** Stops in reverse order of start; safe to call twice. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.node.removeEventListener('self:peer:update', this.onSelfUpdate)
    await this.cancelJobs()
    this.announcer.stop()
    await this.names.stop()
    await this.server.stop()
    await this.node.stop()
    await this.served.closeAll()
    if (this.ownsDataDir) {
      if (this.banList.size > 0) {
        await writeFileAtomic(this.banListPath, JSON.stringify(this.banList), 0o600).catch(err => log.error('saving the ban list failed: %e', err))
      }
      await this.dataDir.unlock()
    }
  }

  /**
   * Runs a seed or fetch as a job of this engine: stop() aborts its signal, so no flow is left
   * writing under the data dir (partial files, the hash cache, the ban list) once the node is gone.
   */
  private async job<T>(signal: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.stopped) throw new CancelledError('the node is stopping')
    const controller = new AbortController()
    const done = run(signal == null ? controller.signal : AbortSignal.any([signal, controller.signal]))
    const job = { controller, done }
    this.jobs.add(job)
    try {
      return await done
    } finally {
      this.jobs.delete(job)
    }
  }

  /** Aborts every job and waits for them, at most STOP_JOBS_TIMEOUT: a flow stuck in I/O does not hold up the stop. */
  private async cancelJobs (): Promise<void> {
    if (this.jobs.size === 0) return
    const jobs = [...this.jobs]
    for (const j of jobs) j.controller.abort(new CancelledError('the node is stopping'))
    if (!await settledWithin(jobs.map(j => j.done), STOP_JOBS_TIMEOUT)) log.error('%d seeds or fetches did not stop within %d ms', this.jobs.size, STOP_JOBS_TIMEOUT)
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

  /** How others can reach this node (public, mapped, relayed, LAN only) and why. */
  reachability (): ReachabilityReport {
    return this.node.services.reachability.report()
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

  status (): EngineStatus {
    return {
      peerId: this.peerId,
      addrs: this.addrs,
      connections: this.node.getConnections().length,
      reachability: this.reachability(),
      served: this.served.cids(),
      ...this.totals()
    }
  }

  peers (): EnginePeer[] {
    const now = Date.now()
    return this.node.getConnections().map(c => ({
      peerId: c.remotePeer.toString(),
      addrs: [c.remoteAddr.toString()],
      direction: c.direction,
      openFor: Math.round((now - c.timeline.open) / 1000)
    }))
  }

  /** Hashes (or takes from the cache), signs, serves and announces `folder`; `signal` cancels the hashing. */
  async seed (folder: string, options: SeedOptions = {}): Promise<SeedResult> {
    return await this.job(options.signal, async signal => await seedFolder(this.seedComponents(), folder, { ...options, signal }))
  }

  async fetch (cid: string | CID, options: FetchOptions = {}): Promise<FetchSummary> {
    const release = typeof cid === 'string' ? parseCid(cid) : cid
    return await this.job(options.signal, async signal => await fetchRelease(this.fetchComponents(), release, { ...options, signal }))
  }

  /** Resolves a name under the name rules, then fetches the release it points at. */
  async fetchName (text: string, options: FetchOptions & ResolveNameOptions = {}): Promise<NamedFetchSummary> {
    return await fetchName(this.nameComponents(), async (cid, o) => await this.fetch(cid, o), text, options)
  }

  async resolveName (text: string, options: ResolveNameOptions = {}): Promise<NameRecord> {
    return await resolveName(this.nameComponents(), text, options)
  }

  /** This node holds (or will hold) the release a name record points at: it serves the record too. */
  async provideName (record: NameRecord): Promise<void> {
    await provideName(this.nameComponents(), record)
  }

  /** Dials peer addresses (with /p2p/<id>); the ones reached, for asking them directly. */
  async dialPeers (addrs: string[], signal?: AbortSignal): Promise<PeerId[]> {
    return await dialPeers(this.nameComponents(), addrs, signal)
  }

  /** Serves a release the data dir knows from `folder`, after checking the folder against it (FolderChangedError). */
  async serve (cid: string | CID, folder: string, options: ServeOptions = {}): Promise<Release> {
    return await serveRelease(this.seedComponents(), typeof cid === 'string' ? parseCid(cid) : cid, folder, options)
  }

  /** Stops serving and announcing a release. Never touches its files. False if it was not served. */
  async unserve (cid: string): Promise<boolean> {
    return await this.served.withdraw(cid)
  }

  /** Releases served from folders in place, complete and verified (never a fetch in progress). */
  servedFolders (): ServedFolder[] {
    return this.served.folders()
  }

  /** The folders served in place whose files changed on disk, with those files. */
  async changedFolders (): Promise<Array<{ cid: string, files: string[] }>> {
    return await this.served.changed()
  }

  /** A release saved in the data dir, checked against `trust` (UntrustedPublisherError); undefined if absent. */
  async savedRelease (cid: string | CID, trust: string[] = []): Promise<Release | undefined> {
    const parsed = typeof cid === 'string' ? parseCid(cid) : cid
    const bytes = await this.dataDir.loadRelease(parsed)
    return bytes == null ? undefined : await openRelease(parsed, bytes, trust)
  }

  /** The data dir's publisher key file (seed without --key signs with it). */
  get publisherKeyPath (): string {
    return this.dataDir.publisherKeyPath
  }

  /** After a restart: a name this node published keeps its record fresh while it is the newest. */
  async resumeName (name: string, cid: CID): Promise<NameRecord | undefined> {
    return await this.names.resume(await readKeyFile(this.dataDir.publisherKeyPath), name, cid)
  }

  private seedComponents (): SeedComponents {
    return {
      dataDir: this.dataDir,
      served: this.served,
      names: this.names,
      superSeed: cid => this.server.superSeed(cid)
    }
  }

  private fetchComponents (): FetchComponents {
    return {
      node: this.node,
      dataDir: this.dataDir,
      served: this.served,
      announcer: this.announcer,
      downloadLimiter: this.downloadLimiter,
      banList: this.banList,
      stats: cid => this.stats(cid),
      chunkAdded: (cid, chunk) => this.server.chunkAdded(cid, chunk),
      receivedFrom: (peer, bytes) => this.server.received(peer, bytes),
      interested: this.interested
    }
  }

  private nameComponents (): NameComponents {
    return { node: this.node, names: this.names, announcer: this.announcer }
  }
}

export function parseCid (text: string): CID {
  try {
    return CID.parse(text.trim())
  } catch (err: any) {
    throw new InvalidCidError(`"${text}" is not a CID (${err.message}); use the CID that \`p2pweights seed\` printed, e.g. bafyrei…`)
  }
}
