/**
 * The long-running node of a NAS: one Engine, a persistent list of what it seeds and fetches,
 * and the DaemonService that the HTTP API serves. A restart serves every seeded folder again
 * (from the hash cache: no re-reading) and resumes unfinished fetches. Fetches that fail are
 * retried with backoff for as long as they are on the list; a seeded folder that changes on
 * disk stops being served.
 */
import { realpath, stat } from 'node:fs/promises'
import { isAbsolute, join, resolve } from 'node:path'
import { FsDatastore } from 'datastore-fs'
import { Engine, parseCid } from '../engine/engine.js'
import { FolderChangedError, serveRelease } from '../engine/serve.js'
import { totalSize } from '../manifest/manifest.js'
import { SeededFolder } from '../store/seeded-folder.js'
import { isInside, realPathOfMaybeMissing } from '../util/real-path.js'
import { sleep } from '../util/sleep.js'
import { ModelStore, type FetchRecord, type ModelRecord } from './model-store.js'
import {
  BadRequestError, ForbiddenFolderError,
  type AddFetchRequest, type AddSeedRequest, type DaemonEvent, type DaemonLimits, type DaemonService,
  type ModelInfo, type ModelState, type NodeStatus, type PeerSummary
} from './service.js'
import type { EngineOptions } from '../engine/engine.js'
import type { EngineEvent } from '../engine/events.js'

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
  private hashingFolder?: string
  private stopped = false

  private constructor (readonly engine: Engine, private readonly store: ModelStore, private readonly datastore: FsDatastore, private readonly options: DaemonOptions) {}

  static async start (options: DaemonOptions): Promise<Daemon> {
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
    daemon = new Daemon(engine, new ModelStore(join(options.dataDir, 'daemon')), datastore, options)
    await engine.start()
    await daemon.restore()
    daemon.timers.push(setInterval(() => { void daemon?.checkFolders() }, options.checkInterval ?? CHANGE_CHECK_INTERVAL))
    daemon.timers.push(setInterval(() => daemon?.sampleRates(), RATE_INTERVAL))
    for (const t of daemon.timers) t.unref()
    return daemon
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
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
      connections: this.engine.node.getConnections().length,
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
    const folder = await this.allowedFolder(req.folder, true)
    // One seed hashes at a time: the disk is the bottleneck, and progress is attributable.
    const job = this.seeding.catch(() => {}).then(async () => {
      this.hashingFolder = folder
      try {
        return await this.engine.seed(folder, { name: req.name })
      } finally {
        this.hashingFolder = undefined
      }
    })
    this.seeding = job
    const release = await job
    const cid = release.cid.toString()
    const existing = this.entries.get(cid)
    if (existing != null) return this.info(existing)
    const entry = this.newEntry({ kind: 'seed', cid, folder, name: release.manifest.name, addedAt: new Date().toISOString() }, 'seeding')
    this.describe(entry, release.publisher, release.manifest.files.length, totalSize(release.manifest))
    entry.verifiedBytes = entry.bytes ?? 0
    await this.save()
    this.emitModel(entry, true)
    return this.info(entry)
  }

  async addFetch (req: AddFetchRequest): Promise<ModelInfo> {
    let cid: string
    try {
      cid = parseCid(req.cid).toString()
    } catch (err: any) {
      throw new BadRequestError(err.message)
    }
    const existing = this.entries.get(cid)
    if (existing != null) return this.info(existing)
    const outDir = req.outDir == null ? undefined : await this.allowedFolder(req.outDir, false)
    const record: FetchRecord = {
      kind: 'fetch',
      cid,
      outDir,
      baseDir: join(this.options.dataDir, 'models'),
      trust: req.trust ?? [],
      peers: req.peers ?? [],
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
    await this.engine.unseed(cid)
    await this.save()
    this.emit({ type: 'removed', cid })
    return true
  }

  peers (): PeerSummary[] {
    const now = Date.now()
    return this.engine.node.getConnections().map(c => ({
      peerId: c.remotePeer.toString(),
      addrs: [c.remoteAddr.toString()],
      direction: c.direction,
      openFor: Math.round((now - c.timeline.open) / 1000)
    }))
  }

  subscribe (listener: (event: DaemonEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  async metrics (): Promise<string> {
    return await (this.options.metrics?.() ?? Promise.resolve(''))
  }

  /** Counters per model for the metrics layer. */
  modelStats (): Array<{ cid: string, name: string, uploaded: number, downloaded: number, chunksVerified: number, chunksFailed: number }> {
    return [...this.entries.values()].map(e => ({ cid: e.record.cid, name: e.name, ...this.engine.stats(e.record.cid) }))
  }

  // ---- internals ----------------------------------------------------------------------

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
        const release = await serveRelease(this.engine, parseCid(record.cid), served)
        this.describe(entry, release.publisher, release.manifest.files.length, totalSize(release.manifest))
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
          trust: record.trust,
          peers: record.peers,
          findTimeout: this.options.findTimeout,
          keepSeeding: true,
          signal: entry.controller.signal
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
    if (e.event === 'warning') {
      this.emit({ type: 'warning', message: e.message })
      return
    }
    if (e.event === 'hashing' && this.hashingFolder != null) {
      this.emit({ type: 'hashing', folder: this.hashingFolder, bytes: e.bytes, total: e.total })
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
    for (const entry of this.entries.values()) {
      if (entry.state !== 'seeding') continue
      const source = this.engine.sources.get(entry.record.cid)
      if (!(source instanceof SeededFolder)) continue
      const changed = await source.changedFiles()
      if (changed.length === 0) continue
      await this.engine.unseed(entry.record.cid)
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

  /**
   * Checks a folder the API was given against --allow-folder and returns it normalised. The
   * check is on the real path: `..` is resolved, and for a folder that does not exist yet (a
   * fetch's output) the deepest existing ancestor's symlinks are resolved, so neither can lead
   * outside an allowed folder.
   */
  private async allowedFolder (folder: string, mustExist: boolean): Promise<string> {
    if (typeof folder !== 'string' || !isAbsolute(folder)) throw new BadRequestError(`folder must be an absolute path, got ${JSON.stringify(folder)}`)
    const normalised = resolve(folder)
    const s = await stat(normalised).catch(() => undefined)
    if (mustExist && s?.isDirectory() !== true) throw new BadRequestError(`${folder} is not a folder`)
    if (s != null && !s.isDirectory()) throw new BadRequestError(`${folder} exists and is not a folder`)
    const allowed = this.options.limits.allowedFolders
    if (allowed.length === 0) return normalised
    const real = await realPathOfMaybeMissing(normalised)
    for (const root of allowed) {
      const realRoot = await realpath(root).catch(() => resolve(root))
      if (isInside(real, realRoot)) return normalised
    }
    throw new ForbiddenFolderError(`${folder} is outside the folders this daemon may use (${allowed.join(', ')}); see --allow-folder`)
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
