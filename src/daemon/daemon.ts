/**
 * The long-running node of a NAS, and its composition root: one Engine, the model registry (a
 * persistent list of what it seeds and fetches), the seed queue, the fetch supervisor (retries),
 * the progress emitter (rates, throttling) and the name follower, started in that order and
 * stopped in reverse. Implements the DaemonService that the HTTP API serves. A restart serves
 * every seeded folder again (from the hash cache: no re-reading) and resumes unfinished fetches;
 * a seeded folder that changes on disk stops being served.
 */
import { join, resolve } from 'node:path'
import { FsDatastore } from 'datastore-fs'
import { Engine, parseCid } from '../engine/engine.js'
import { totalSize } from '../manifest/manifest.js'
import { pathFilter } from '../manifest/select.js'
import type { Follower } from '../names/follower.js'
import { isNameRef } from '../names/ref.js'
import { AMINO_DHT_PROTOCOL, CHANGE_CHECK_INTERVAL } from './constants.js'
import { FetchSupervisor } from './fetch-supervisor.js'
import { createFollower } from './follow.js'
import { restoreModels } from './restore.js'
import { ModelStore, type FetchRecord } from './model-store.js'
import { FolderPolicy, TrustPolicy } from './policy.js'
import { ProgressEmitter } from './progress-emitter.js'
import { ModelRegistry, type Entry } from './registry.js'
import { SeedQueue } from './seed-queue.js'
import {
  BadRequestError,
  type AddFetchRequest, type AddSeedRequest, type DaemonEvent, type DaemonLimits, type DaemonService,
  type FollowEntry, type FollowRequest, type ModelInfo, type NodeStatus, type PeerSummary, type ServedRelease
} from './service.js'
import type { EngineOptions } from '../engine/engine.js'
import type { NodeEvent } from '../engine/events.js'
import type { AbortOptions } from '@libp2p/interface'

export interface DaemonOptions extends Omit<EngineOptions, 'datastore' | 'onEvent' | 'maxConnections' | 'uploadRate' | 'downloadRate' | 'metrics'> {
  limits: DaemonLimits
  version: string
  /** How long a fetch may find nothing before it is marked failed and retried (ms). */
  findTimeout?: number
  /** A peer that sends nothing for this long is dropped (ms); daemon --stall-timeout. */
  stallTimeout?: number
  /** How often seeded folders are checked for changes on disk (ms). */
  checkInterval?: number
  /** Every node event, for the process's own output. */
  onEvent?: (event: NodeEvent) => void
  /** Prometheus text of the whole process; set by the HTTP layer's metrics registry. */
  metrics?: () => Promise<string>
  engineMetrics?: EngineOptions['metrics']
  /** Publisher ids every API fetch must be signed by (`daemon --trust`); empty = any. */
  trust?: string[]
  /** How often followed names are checked for a new version (ms); default 10 min. */
  followInterval?: number
}

export class Daemon implements DaemonService {
  private readonly started = Date.now()
  private stopped = false
  private readonly folders: FolderPolicy
  private readonly registry: ModelRegistry
  private readonly emitter: ProgressEmitter
  private readonly fetches: FetchSupervisor
  private readonly seeds = new SeedQueue()
  private follower?: Follower
  private changeTimer?: NodeJS.Timeout

  private constructor (private readonly engine: Engine, private readonly datastore: FsDatastore, private readonly options: DaemonOptions, private readonly trust: TrustPolicy) {
    this.folders = new FolderPolicy(options.dataDir, options.limits.allowedFolders)
    const stats = (cid: string): ReturnType<Engine['stats']> => engine.stats(cid)
    this.registry = new ModelRegistry(new ModelStore(join(options.dataDir, 'daemon')), stats)
    this.emitter = new ProgressEmitter(this.registry, stats)
    this.fetches = new FetchSupervisor(
      { engine, registry: this.registry, emitter: this.emitter, folders: this.folders, trust },
      { findTimeout: options.findTimeout, stallTimeout: options.stallTimeout }
    )
  }

  static async start (options: DaemonOptions): Promise<Daemon> {
    const trust = new TrustPolicy(options.trust)
    const datastore = new FsDatastore(join(options.dataDir, 'datastore'))
    await datastore.open()
    let daemon: Daemon | undefined
    const engine = await Engine.create({
      ...options,
      datastore,
      maxConnections: options.limits.maxConnections,
      uploadRate: options.limits.uploadRate,
      downloadRate: options.limits.downloadRate,
      metrics: options.engineMetrics,
      onEvent: e => daemon?.onNodeEvent(e)
    }).catch(async err => {
      await datastore.close()
      throw err
    })
    daemon = new Daemon(engine, datastore, options, trust)
    await engine.start()
    await daemon.restore()
    await daemon.startFollower()
    daemon.emitter.start()
    daemon.changeTimer = setInterval(() => { void daemon?.checkFolders() }, options.checkInterval ?? CHANGE_CHECK_INTERVAL)
    daemon.changeTimer.unref()
    return daemon
  }

  /** Stops the parts in reverse order of start; safe to call twice. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.changeTimer)
    this.emitter.stop()
    await this.follower?.stop()
    this.seeds.stop()
    await this.fetches.stop()
    await this.engine.stop()
    await this.datastore.close()
  }

  // ---- DaemonService ----------------------------------------------------------------

  status (): NodeStatus {
    const s = this.engine.status()
    return {
      peerId: s.peerId,
      addrs: s.addrs,
      version: this.options.version,
      uptime: Math.round((Date.now() - this.started) / 1000),
      connections: s.connections,
      dhtProtocol: this.options.dhtProtocol ?? AMINO_DHT_PROTOCOL,
      reachability: s.reachability,
      models: this.registry.size,
      uploaded: s.uploaded,
      downloaded: s.downloaded,
      limits: this.options.limits
    }
  }

  list (): ModelInfo[] {
    return this.registry.list()
  }

  get (cid: string): ModelInfo | undefined {
    const entry = this.registry.get(normalizeCid(cid))
    return entry == null ? undefined : this.registry.info(entry)
  }

  /** Resolves once hashed and served; `signal` (the HTTP client gone) or `rm <folder>` cancels it while it waits or hashes. */
  async addSeed (req: AddSeedRequest, options: AbortOptions = {}): Promise<ModelInfo> {
    const folder = await this.folders.seedFolder(req.folder)
    const symlinkRoots = req.symlinkRoots == null ? undefined : await Promise.all(req.symlinkRoots.map(async r => await this.folders.seedFolder(r)))
    const release = await this.seeds.run(folder, options.signal, async signal => await this.engine.seed(folder, {
      name: req.name,
      allowSymlinksInto: symlinkRoots,
      signal,
      onProgress: e => { if (e.type === 'seed:file:hashing') this.emitter.emit({ type: 'hashing', folder, bytes: e.detail.bytes, total: e.detail.total }) }
    }))
    const cid = release.cid.toString()
    const existing = this.registry.get(cid)
    if (existing != null) return this.registry.info(existing)
    const entry = this.registry.add({ kind: 'seed', cid, folder, name: release.manifest.name, ...(symlinkRoots != null ? { symlinkRoots } : {}), addedAt: new Date().toISOString() }, 'seeding')
    this.registry.describe(entry, release.publisher, release.manifest.files.length, totalSize(release.manifest))
    entry.verifiedBytes = entry.bytes ?? 0
    await this.registry.save()
    this.emitter.model(entry, true)
    return this.registry.info(entry)
  }

  async addFetch (req: AddFetchRequest, options: AbortOptions = {}): Promise<ModelInfo> {
    let cid: string
    let trust = req.trust ?? []
    try {
      if (isNameRef(req.cid)) {
        // A name: resolved under the name rules, then fetched trusting only the keys it vouches for.
        const record = await this.engine.resolveName(req.cid, { peers: req.peers, allowExpired: req.allowExpired, signal: options.signal })
        cid = String(record.cid)
        trust = record.keys
        // It will hold the release, so it serves the name record too (found through this CID).
        await this.engine.provideName(record)
      } else {
        cid = parseCid(req.cid).toString()
      }
    } catch (err: any) {
      throw new BadRequestError(err.message)
    }
    // Checked before anything else, also for a CID this daemon already holds.
    const existing = this.registry.get(cid)
    if (existing != null) {
      await this.checkHeldTrust(existing, this.trust.forFetch(trust))
      return this.registry.info(existing)
    }
    const outDir = req.outDir == null ? undefined : await this.folders.outputFolder(req.outDir)
    const hfCache = req.hfCache == null ? undefined : await this.folders.outputFolder(req.hfCache)
    try {
      pathFilter(req) // bad globs are the caller's error, now rather than at every retry
    } catch (err: any) {
      throw new BadRequestError(err.message)
    }
    return await this.queueFetch(cid, outDir, trust, req.peers ?? [], { include: req.include, exclude: req.exclude, hfCache, findTimeout: req.findTimeout, stallTimeout: req.stallTimeout })
  }

  /** A fetch into `outDir` (already checked, or the daemon's own follow folder). */
  private async queueFetch (cid: string, outDir: string | undefined, trust: string[], peers: string[], selection: Pick<FetchRecord, 'include' | 'exclude' | 'hfCache' | 'findTimeout' | 'stallTimeout'> = {}): Promise<ModelInfo> {
    const existing = this.registry.get(cid)
    if (existing != null) return this.registry.info(existing)
    const record: FetchRecord = {
      kind: 'fetch',
      cid,
      outDir,
      baseDir: this.folders.downloads,
      trust,
      peers,
      ...(selection.include != null ? { include: selection.include } : {}),
      ...(selection.exclude != null ? { exclude: selection.exclude } : {}),
      ...(selection.hfCache != null ? { hfCache: selection.hfCache } : {}),
      ...(selection.findTimeout != null ? { findTimeout: selection.findTimeout } : {}),
      ...(selection.stallTimeout != null ? { stallTimeout: selection.stallTimeout } : {}),
      complete: false,
      addedAt: new Date().toISOString()
    }
    const entry = this.registry.add(record, 'queued')
    await this.registry.save()
    this.fetches.start(entry)
    return this.registry.info(entry)
  }

  async remove (text: string): Promise<boolean> {
    const cid = normalizeCid(text)
    const entry = this.registry.delete(cid)
    if (entry == null) return false
    this.emitter.forget(entry)
    await this.engine.unserve(cid)
    await this.registry.save()
    this.emitter.emit({ type: 'removed', cid })
    return true
  }

  /** Cancels the seed of a folder still waiting or hashing: nothing of it is saved or served. */
  async cancelSeed (folder: string): Promise<boolean> {
    const real = await this.folders.seedFolder(folder).catch(() => resolve(folder))
    return this.seeds.cancel(real) || this.seeds.cancel(resolve(folder))
  }

  peers (): PeerSummary[] {
    return this.engine.peers()
  }

  subscribe (listener: (event: DaemonEvent) => void): () => void {
    return this.emitter.subscribe(listener)
  }

  async metrics (): Promise<string> {
    return await (this.options.metrics?.() ?? Promise.resolve(''))
  }

  /**
   * What the HF endpoint may serve: models in state `seeding` whose source is a folder checked
   * against the manifest (a seed, or a fetch that completed). A fetch in progress is never here.
   */
  servedReleases (): ServedRelease[] {
    const out: ServedRelease[] = []
    for (const served of this.engine.servedFolders()) {
      const entry = this.registry.get(served.cid)
      if (entry?.state !== 'seeding') continue
      out.push({ cid: served.cid, name: served.release.manifest.name, addedAt: entry.record.addedAt, release: served.release, files: served.files })
    }
    return out
  }

  /** Counters per model for the metrics layer. */
  modelStats (): Array<{ cid: string, name: string, uploaded: number, downloaded: number, chunksVerified: number, chunksFailed: number }> {
    return this.registry.values().map(e => ({ cid: e.record.cid, name: e.name, ...this.engine.stats(e.record.cid) }))
  }

  follows (): FollowEntry[] {
    return this.follower?.list() ?? []
  }

  async follow (req: FollowRequest): Promise<FollowEntry> {
    if (this.follower == null) throw new BadRequestError('the daemon is still starting')
    try {
      return await this.follower.follow(req.ref, req.keep)
    } catch (err: any) {
      throw new BadRequestError(err.message)
    }
  }

  async unfollow (ref: string): Promise<boolean> {
    return await (this.follower?.unfollow(ref) ?? Promise.resolve(false))
  }

  // ---- internals ----------------------------------------------------------------------

  private onNodeEvent (e: NodeEvent): void {
    this.options.onEvent?.(e)
    if (e.event === 'name-updated') this.follower?.onRecord(e)
    else if (e.event === 'warning') this.emitter.emit({ type: 'warning', message: e.message })
  }

  /** Followed names: their versions are ordinary fetches, in folders under followRoot(). */
  private async startFollower (): Promise<void> {
    this.follower = createFollower({
      engine: this.engine,
      registry: this.registry,
      dataDir: this.options.dataDir,
      queueFetch: async (cid, path, trust) => { await this.queueFetch(cid, path, trust, []) },
      remove: async cid => { await this.remove(cid) },
      emit: event => this.emitter.emit(event)
    }, this.options.followInterval)
    await this.follower.start()
  }

  /** Serves what was seeded and fetched before, and resumes unfinished fetches. */
  private async restore (): Promise<void> {
    await restoreModels({ engine: this.engine, registry: this.registry, folders: this.folders, trust: this.trust, fetches: this.fetches }, warning => {
      this.emitter.emit({ type: 'warning', message: warning })
    })
  }

  /** Stops serving seeded folders whose files changed on disk. */
  private async checkFolders (): Promise<void> {
    for (const { cid, files: changed } of await this.engine.changedFolders()) {
      const entry = this.registry.get(cid)
      if (entry?.state !== 'seeding') continue
      await this.engine.unserve(cid)
      entry.state = 'changed'
      entry.error = `${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ` and ${changed.length - 3} more` : ''} changed on disk; no longer served. Remove it, or seed the folder again to publish what it holds now`
      this.emitter.model(entry, true)
    }
  }

  /**
   * A fetch asked for a CID this daemon already holds (seeded, fetched or being fetched): its
   * publisher must be among `trusted` all the same. Throws UntrustedPublisherError.
   */
  private async checkHeldTrust (entry: Entry, trusted: string[]): Promise<void> {
    const cid = entry.record.cid
    if (trusted.length === 0) return
    if (entry.publisher != null) {
      TrustPolicy.check(cid, entry.publisher, trusted)
      return
    }
    const release = await this.engine.savedRelease(cid).catch(() => undefined)
    if (release != null) {
      TrustPolicy.check(cid, release.publisher, trusted)
      return
    }
    // Still looking for the release: fine if the running fetch accepts no one the caller does not.
    const running = entry.record.kind === 'fetch' ? this.trust.forFetch(entry.record.trust) : []
    if (running.length > 0 && running.every(id => trusted.includes(id))) return
    throw new BadRequestError(`${cid} is already being fetched and its publisher is not known yet, so the trust list cannot be checked; wait for it, or remove it and fetch it again with this trust list`)
  }
}

/** The canonical string of a CID given in any base; unparsable text stays as it is (and is not found). */
function normalizeCid (text: string): string {
  try {
    return parseCid(text).toString()
  } catch {
    return text // not a CID: looked up as it is, and not found
  }
}
