/**
 * The long-running node of a NAS: one Engine, a persistent list of what it seeds and fetches,
 * and the DaemonService that the HTTP API serves. A restart serves every seeded folder again
 * (from the hash cache: no re-reading) and resumes unfinished fetches. Fetches that fail are
 * retried with backoff for as long as they are on the list; a seeded folder that changes on
 * disk stops being served.
 */
import { rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { FsDatastore } from 'datastore-fs'
import { Engine, parseCid } from '../engine/engine.js'
import { FolderChangedError } from '../engine/errors.js'
import { totalSize } from '../manifest/manifest.js'
import { pathFilter, selectFiles } from '../manifest/select.js'
import { isRepoId } from '../manifest/repo-id.js'
import { Follower, followRoot, type FollowedVersion } from '../names/follower.js'
import { formatRef, isNameRef } from '../names/ref.js'
import { isInside } from '../util/real-path.js'
import { sleep } from '../util/sleep.js'
import { ModelStore, type FetchRecord, type ModelRecord } from './model-store.js'
import { FolderPolicy, TrustPolicy } from './policy.js'
import {
  BadRequestError,
  type AddFetchRequest, type AddSeedRequest, type DaemonEvent, type DaemonLimits, type DaemonService,
  type FollowEntry, type FollowRequest, type ModelInfo, type ModelState, type NodeStatus, type PeerSummary, type ServedRelease
} from './service.js'
import type { EngineOptions } from '../engine/engine.js'
import { flatEvent, type EngineEvent } from '../engine/events.js'
import type { CID } from 'multiformats/cid'

export interface DaemonOptions extends Omit<EngineOptions, 'datastore' | 'onEvent' | 'maxConnections' | 'uploadRate' | 'downloadRate' | 'metrics'> {
  limits: DaemonLimits
  version: string
  /** How long a fetch may find nothing before it is marked failed and retried (ms). */
  findTimeout?: number
  /** How often seeded folders are checked for changes on disk (ms). */
  checkInterval?: number
  /** Every engine event, for the process's own output. */
  onEvent?: (event: EngineEvent) => void
  /** Prometheus text of the whole process; set by the HTTP layer's metrics registry. */
  metrics?: () => Promise<string>
  engineMetrics?: EngineOptions['metrics']
  /** Publisher ids every API fetch must be signed by (`daemon --trust`); empty = any. */
  trust?: string[]
  /** How often followed names are checked for a new version (ms); default 10 min. */
  followInterval?: number
}

interface Entry {
  record: ModelRecord
  state: ModelState
  name: string
  publisher?: string
  files?: number
  bytes?: number
  verifiedBytes: number
  peers: number
  error?: string
  controller?: AbortController
  rate: { up: number, down: number, lastUp: number, lastDown: number }
  lastEmit: number
  emitTimer?: NodeJS.Timeout
}

const CHANGE_CHECK_INTERVAL = 30_000
const RATE_INTERVAL = 2000
const EMIT_INTERVAL = 250
const RETRY_FIRST = 30_000
const RETRY_MAX = 10 * 60_000

export class Daemon implements DaemonService {
  private readonly entries = new Map<string, Entry>()
  private readonly listeners = new Set<(event: DaemonEvent) => void>()
  private readonly timers: NodeJS.Timeout[] = []
  private readonly started = Date.now()
  private seeding: Promise<unknown> = Promise.resolve()
  private stopped = false
  private readonly folders: FolderPolicy
  private follower?: Follower

  private constructor (readonly engine: Engine, private readonly store: ModelStore, private readonly datastore: FsDatastore, private readonly options: DaemonOptions, private readonly trust: TrustPolicy) {
    this.folders = new FolderPolicy(options.dataDir, options.limits.allowedFolders)
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
      onEvent: e => daemon?.onEngineEvent(e)
    }).catch(async err => {
      await datastore.close()
      throw err
    })
    daemon = new Daemon(engine, new ModelStore(join(options.dataDir, 'daemon')), datastore, options, trust)
    await engine.start()
    await daemon.restore()
    await daemon.startFollower()
    daemon.timers.push(setInterval(() => { void daemon?.checkFolders() }, options.checkInterval ?? CHANGE_CHECK_INTERVAL))
    daemon.timers.push(setInterval(() => daemon?.sampleRates(), RATE_INTERVAL))
    for (const t of daemon.timers) t.unref()
    return daemon
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.follower?.stop()
    for (const t of this.timers) clearInterval(t)
    for (const entry of this.entries.values()) {
      entry.controller?.abort(new Error('daemon stopping'))
      clearTimeout(entry.emitTimer)
    }
    await this.engine.stop()
    await this.datastore.close()
  }

  // ---- DaemonService ----------------------------------------------------------------

  status (): NodeStatus {
    const { uploaded, downloaded } = this.engine.totals()
    return {
      peerId: this.engine.peerId,
      addrs: this.engine.addrs,
      version: this.options.version,
      uptime: Math.round((Date.now() - this.started) / 1000),
      connections: this.engine.status().connections,
      dhtProtocol: this.options.dhtProtocol ?? '/ipfs/kad/1.0.0',
      reachability: this.engine.reachability(),
      models: this.entries.size,
      uploaded,
      downloaded,
      limits: this.options.limits
    }
  }

  list (): ModelInfo[] {
    return [...this.entries.values()].map(e => this.info(e))
  }

  get (cid: string): ModelInfo | undefined {
    const entry = this.entries.get(normalizeCid(cid))
    return entry == null ? undefined : this.info(entry)
  }

  async addSeed (req: AddSeedRequest): Promise<ModelInfo> {
    const folder = await this.folders.seedFolder(req.folder)
    const symlinkRoots = req.symlinkRoots == null ? undefined : await Promise.all(req.symlinkRoots.map(async r => await this.folders.seedFolder(r)))
    // One seed hashes at a time: the disk is the bottleneck, and progress is attributable.
    const job = this.seeding.catch(() => {}).then(async () => {
      return await this.engine.seed(folder, {
        name: req.name,
        allowSymlinksInto: symlinkRoots,
        onProgress: e => { if (e.type === 'seed:file:hashing') this.emit({ type: 'hashing', folder, bytes: e.detail.bytes, total: e.detail.total }) }
      })
    })
    this.seeding = job
    const release = await job
    const cid = release.cid.toString()
    const existing = this.entries.get(cid)
    if (existing != null) return this.info(existing)
    const entry = this.newEntry({ kind: 'seed', cid, folder, name: release.manifest.name, ...(symlinkRoots != null ? { symlinkRoots } : {}), addedAt: new Date().toISOString() }, 'seeding')
    this.describe(entry, release.publisher, release.manifest.files.length, totalSize(release.manifest))
    entry.verifiedBytes = entry.bytes ?? 0
    await this.save()
    this.emitModel(entry, true)
    return this.info(entry)
  }

  async addFetch (req: AddFetchRequest): Promise<ModelInfo> {
    let cid: string
    let trust = req.trust ?? []
    try {
      if (isNameRef(req.cid)) {
        // A name: resolved under the name rules, then fetched trusting only the keys it vouches for.
        const record = await this.engine.resolveName(req.cid, { peers: req.peers, allowExpired: req.allowExpired })
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
    const existing = this.entries.get(cid)
    if (existing != null) {
      await this.checkHeldTrust(existing, this.trust.forFetch(trust))
      return this.info(existing)
    }
    const outDir = req.outDir == null ? undefined : await this.folders.outputFolder(req.outDir)
    const hfCache = req.hfCache == null ? undefined : await this.folders.outputFolder(req.hfCache)
    try {
      pathFilter(req) // bad globs are the caller's error, now rather than at every retry
    } catch (err: any) {
      throw new BadRequestError(err.message)
    }
    return await this.queueFetch(cid, outDir, trust, req.peers ?? [], { include: req.include, exclude: req.exclude, hfCache })
  }

  /** A fetch into `outDir` (already checked, or the daemon's own follow folder). */
  private async queueFetch (cid: string, outDir: string | undefined, trust: string[], peers: string[], selection: { include?: string[], exclude?: string[], hfCache?: string } = {}): Promise<ModelInfo> {
    const existing = this.entries.get(cid)
    if (existing != null) return this.info(existing)
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
      complete: false,
      addedAt: new Date().toISOString()
    }
    const entry = this.newEntry(record, 'queued')
    await this.save()
    void this.runFetch(entry)
    return this.info(entry)
  }

  async remove (text: string): Promise<boolean> {
    const cid = normalizeCid(text)
    const entry = this.entries.get(cid)
    if (entry == null) return false
    this.entries.delete(cid)
    entry.controller?.abort(new Error('removed'))
    clearTimeout(entry.emitTimer)
    await this.engine.unserve(cid)
    await this.save()
    this.emit({ type: 'removed', cid })
    return true
  }

  peers (): PeerSummary[] {
    return this.engine.peers()
  }

  subscribe (listener: (event: DaemonEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
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
      const entry = this.entries.get(served.cid)
      if (entry?.state !== 'seeding') continue
      out.push({ cid: served.cid, name: served.release.manifest.name, addedAt: entry.record.addedAt, release: served.release, files: served.files })
    }
    return out
  }

  /** Counters per model for the metrics layer. */
  modelStats (): Array<{ cid: string, name: string, uploaded: number, downloaded: number, chunksVerified: number, chunksFailed: number }> {
    return [...this.entries.values()].map(e => ({ cid: e.record.cid, name: e.name, ...this.engine.stats(e.record.cid) }))
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

  /** A seed published under a name keeps its record fresh after a restart, if it is still the newest. */
  private async resumeName (name: string, cid: CID): Promise<void> {
    try {
      await this.engine.resumeName(name, cid)
    } catch (err: any) {
      this.emit({ type: 'warning', message: `republishing the name ${name} failed: ${String(err.message)}` })
    }
  }

  /**
   * Followed names: their versions are ordinary fetches, in folders under followRoot().
   */
  private async startFollower (): Promise<void> {
    const root = followRoot(this.options.dataDir)
    this.follower = new Follower(this.options.dataDir, {
      resolve: async ref => {
        const record = await this.engine.resolveName(ref)
        await this.engine.provideName(record)
        return record
      },
      canonical: async ref => formatRef(await this.engine.names.parseRef(ref)),
      fetch: async (cid, path, trust) => { await this.queueFetch(cid, path, trust, []) },
      drop: async (version: FollowedVersion) => {
        // Only what the follower itself fetched: the same release seeded or fetched by hand stays.
        const entry = this.entries.get(version.cid)
        if (entry?.record.kind !== 'fetch' || resolve(entry.record.outDir ?? '') !== resolve(version.path)) return
        await this.remove(version.cid)
        if (isInside(resolve(version.path), root)) await rm(version.path, { recursive: true, force: true })
      },
      onChange: entry => this.emit({ type: 'follow', follow: entry }),
      onWarning: message => this.emit({ type: 'warning', message })
    }, this.options.followInterval)
    await this.follower.start()
  }

  /** Serves what was seeded and fetched before, and resumes unfinished fetches. */
  private async restore (): Promise<void> {
    for (const record of await this.store.load()) {
      const served = record.kind === 'seed' ? record.folder : record.complete ? record.outDir : undefined
      const entry = this.newEntry(record, served != null ? 'hashing' : 'queued')
      if (served == null) {
        void this.runFetch(entry)
        continue
      }
      try {
        // --allow-folder and --trust may have changed since it was added.
        if (record.kind === 'seed') await this.folders.seedFolder(served)
        else await this.checkFetched(record, served)
        const selection = record.kind === 'fetch' ? record : {}
        // An HF snapshot's links lead into its entry's blobs/ (snapshots/<commit>/ -> ../../blobs).
        const roots = record.kind === 'seed' ? record.symlinkRoots : record.hfCache != null ? [join(served, '..', '..', 'blobs')] : undefined
        const release = await this.engine.serve(record.cid, served, { ...selection, allowSymlinksInto: roots })
        if (record.kind === 'seed' && isRepoId(record.name)) void this.resumeName(record.name, release.cid)
        // A partial fetch counts the files it holds.
        const held = selectFiles(release.manifest, selection)
        const bytes = held == null ? totalSize(release.manifest) : [...held].reduce((n, i) => n + release.manifest.files[i].size, 0)
        this.describe(entry, release.publisher, held?.size ?? release.manifest.files.length, bytes)
        entry.verifiedBytes = entry.bytes ?? 0
        entry.state = 'seeding'
      } catch (err: any) {
        entry.state = err instanceof FolderChangedError ? 'changed' : 'failed'
        entry.error = `${err.message}; remove it, or seed the folder again to publish what it holds now`
      }
    }
  }

  private async runFetch (entry: Entry): Promise<void> {
    const record = entry.record as FetchRecord
    let delay = RETRY_FIRST
    while (!this.stopped && this.entries.get(record.cid) === entry) {
      entry.controller = new AbortController()
      entry.state = 'fetching'
      entry.error = undefined
      this.emitModel(entry, true)
      try {
        const summary = await this.engine.fetch(record.cid, {
          outDir: record.outDir,
          baseDir: record.baseDir,
          // The daemon's --trust list as it is now (it may have changed since the fetch was added).
          trust: this.trust.forFetch(record.trust),
          checkOutDir: async dir => { await this.folders.outputFolder(dir) },
          peers: record.peers,
          include: record.include,
          exclude: record.exclude,
          hfCache: record.hfCache,
          findTimeout: this.options.findTimeout,
          keepSeeding: true,
          signal: entry.controller.signal,
          onProgress: e => this.onEngineEvent(flatEvent(e))
        })
        record.outDir = summary.path
        record.complete = true
        entry.state = 'seeding'
        entry.verifiedBytes = summary.bytes
        entry.peers = 0
        await this.save()
        this.emitModel(entry, true)
        return
      } catch (err: any) {
        if (entry.controller.signal.aborted) return
        entry.state = 'failed'
        entry.error = `${err.message} (retrying in ${Math.round(delay / 1000)} s)`
        entry.peers = 0
        this.emitModel(entry, true)
        await sleep(delay, entry.controller.signal).catch(() => {})
        delay = Math.min(delay * 2, RETRY_MAX)
      }
    }
  }

  private onEngineEvent (e: EngineEvent): void {
    this.options.onEvent?.(e)
    if (e.event === 'name-updated') {
      this.follower?.onRecord(e)
      return
    }
    if (e.event === 'warning') {
      this.emit({ type: 'warning', message: e.message })
      return
    }
    if (!('cid' in e)) return
    const entry = this.entries.get(e.cid)
    if (entry == null) return
    if (e.event === 'manifest') {
      const record = entry.record as FetchRecord
      this.describe(entry, e.publisher, e.files, e.bytes)
      entry.name = e.name
      if (record.outDir !== e.path) {
        record.outDir = e.path
        void this.save()
      }
    } else if (e.event === 'progress') {
      entry.verifiedBytes = e.bytes
      entry.peers = e.peers
    } else if (e.event === 'peer-dropped' && e.connected) {
      this.emit({ type: 'warning', message: `${entry.name}: dropped peer ${e.peerId}: ${e.reason}` })
    } else {
      return
    }
    this.emitModel(entry)
  }

  /** Stops serving seeded folders whose files changed on disk. */
  private async checkFolders (): Promise<void> {
    for (const { cid, files: changed } of await this.engine.changedFolders()) {
      const entry = this.entries.get(cid)
      if (entry?.state !== 'seeding') continue
      await this.engine.unserve(cid)
      entry.state = 'changed'
      entry.error = `${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ` and ${changed.length - 3} more` : ''} changed on disk; no longer served. Remove it, or seed the folder again to publish what it holds now`
      this.emitModel(entry, true)
    }
  }

  private sampleRates (): void {
    for (const entry of this.entries.values()) {
      const s = this.engine.stats(entry.record.cid)
      entry.rate.up = (s.uploaded - entry.rate.lastUp) * 1000 / RATE_INTERVAL
      entry.rate.down = (s.downloaded - entry.rate.lastDown) * 1000 / RATE_INTERVAL
      entry.rate.lastUp = s.uploaded
      entry.rate.lastDown = s.downloaded
      if (entry.rate.up > 0 || entry.rate.down > 0) this.emitModel(entry)
    }
  }

  /** A completed fetch is served again only if its folder and its publisher are still allowed. */
  private async checkFetched (record: FetchRecord, folder: string): Promise<void> {
    await this.folders.outputFolder(folder)
    const trusted = this.trust.forFetch(record.trust)
    if (trusted.length === 0) return
    const cid = parseCid(record.cid)
    await this.engine.savedRelease(cid, trusted) // UntrustedPublisherError
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

  private newEntry (record: ModelRecord, state: ModelState): Entry {
    const entry: Entry = {
      record,
      state,
      name: record.kind === 'seed' ? record.name : record.cid.slice(0, 16) + '…',
      verifiedBytes: 0,
      peers: 0,
      rate: { up: 0, down: 0, lastUp: 0, lastDown: 0 },
      lastEmit: 0
    }
    this.entries.set(record.cid, entry)
    return entry
  }

  private describe (entry: Entry, publisher: string, files: number, bytes: number): void {
    entry.publisher = publisher
    entry.files = files
    entry.bytes = bytes
  }

  private info (e: Entry): ModelInfo {
    const stats = this.engine.stats(e.record.cid)
    return {
      cid: e.record.cid,
      name: e.name,
      kind: e.record.kind,
      state: e.state,
      path: e.record.kind === 'seed' ? e.record.folder : e.record.outDir ?? join(e.record.baseDir, '…'),
      publisher: e.publisher,
      files: e.files,
      bytes: e.bytes,
      verifiedBytes: e.verifiedBytes,
      uploaded: stats.uploaded,
      downloaded: stats.downloaded,
      chunksVerified: stats.chunksVerified,
      chunksFailed: stats.chunksFailed,
      peers: e.peers,
      rate: { up: e.rate.up, down: e.rate.down },
      error: e.error,
      addedAt: e.record.addedAt
    }
  }

  private async save (): Promise<void> {
    await this.store.save([...this.entries.values()].map(e => e.record))
  }

  /** Model updates are throttled per model; state changes (`now`) go out at once. */
  private emitModel (entry: Entry, now = false): void {
    if (this.listeners.size === 0) return
    const since = Date.now() - entry.lastEmit
    if (now || since >= EMIT_INTERVAL) {
      clearTimeout(entry.emitTimer)
      entry.emitTimer = undefined
      entry.lastEmit = Date.now()
      this.emit({ type: 'model', model: this.info(entry) })
    } else if (entry.emitTimer == null) {
      entry.emitTimer = setTimeout(() => { entry.emitTimer = undefined; this.emitModel(entry, true) }, EMIT_INTERVAL - since)
    }
  }

  private emit (event: DaemonEvent): void {
    for (const listener of this.listeners) listener(event)
  }
}

/** The canonical string of a CID given in any base; unparsable text stays as it is (and is not found). */
function normalizeCid (text: string): string {
  try {
    return parseCid(text).toString()
  } catch {
    return text
  }
}
