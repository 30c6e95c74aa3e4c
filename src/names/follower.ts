/**
 * Following names on the daemon: for each followed `<publisher>/<org>/<model>`, check for a new
 * version every `interval` and whenever a peer pushes a newer record, fetch it in the background
 * (the daemon's fetches, so its bandwidth limits apply), seed it, and keep the N newest versions.
 * The list lives in <data-dir>/daemon/follows.json, written atomically on every change.
 *
 * The follower knows nothing of HTTP or the engine: the daemon hands it a FollowHost.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { NameRollbackError } from './errors.js'
import { formatRef } from './ref.js'
import { DEFAULT_FOLLOW_INTERVAL, DEFAULT_KEEP, MAX_KEEP } from './constants.js'
import { writeFileAtomic } from '../store/atomic.js'
import type { NameRecord } from './record.js'

export interface FollowedVersion { version: number, cid: string, path: string }

export interface FollowEntry {
  /** `<publisher-id>/<org>/<model>` (an alias is turned into the publisher id). */
  ref: string
  keep: number
  versions: FollowedVersion[]
  /** Highest version seen (also when it could not be fetched). */
  version?: number
  lastCheck?: string
  error?: string
  warnings: string[]
  addedAt: string
}

export interface FollowHost {
  /** Resolves a name under the rules (throws on rollback, expiry, forgery, withdrawal). */
  resolve: (ref: string) => Promise<NameRecord>
  /** Canonical `<publisher-id>/<org>/<model>` of what the user typed (aliases resolved). */
  canonical: (ref: string) => Promise<string>
  /** Queues a background fetch of `cid` into `path`, accepting only `trust` as signers. */
  fetch: (cid: string, path: string, trust: string[]) => Promise<void>
  /** Stops serving an old version and removes the folder the follower made for it. */
  drop: (version: FollowedVersion) => Promise<void>
  onChange?: (entry: FollowEntry) => void
  onWarning?: (message: string) => void
}

// Re-exported: the daemon and the CLI read these from here.
export { DEFAULT_FOLLOW_INTERVAL, DEFAULT_KEEP, MAX_KEEP }

/**
 * The folder followed versions are fetched into: inside the data dir's downloads folder
 * (`models/`), the one part of the data dir a fetch may write to and serve from.
 */
export function followRoot (dataDir: string): string {
  return join(dataDir, 'models', '.followed')
}

export class Follower {
  private readonly entries = new Map<string, FollowEntry>()
  private readonly file: string
  private timer?: NodeJS.Timeout
  /** One check per name at a time. */
  private readonly running = new Map<string, Promise<void>>()
  private stopped = false
  private saving: Promise<void> = Promise.resolve()

  constructor (private readonly dataDir: string, private readonly host: FollowHost, private readonly interval = DEFAULT_FOLLOW_INTERVAL) {
    this.file = join(dataDir, 'daemon', 'follows.json')
  }

  /** Where version `v` of a followed name goes: under the data dir, so dropping it is ours to do. */
  folderOf (ref: string, version: number): string {
    return join(followRoot(this.dataDir), ...ref.split('/'), `v${version}`)
  }

  async start (): Promise<void> {
    const text = await readFile(this.file, 'utf8').catch(() => undefined)
    const list = text == null ? [] : (JSON.parse(text) as { follows?: FollowEntry[] }).follows ?? []
    for (const e of list) this.entries.set(e.ref, { ...e, warnings: e.warnings ?? [] })
    this.timer = setInterval(() => { this.checkAll() }, this.interval)
    this.timer.unref()
    this.checkAll()
  }

  /**
   * Stops checking and waits for the save in flight: once this resolves nothing writes under the
   * data dir any more (a check still running finds `stopped` and records nothing; the next start
   * checks again).
   */
  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    await this.saving.catch(() => {})
  }

  list (): FollowEntry[] {
    return [...this.entries.values()]
  }

  async follow (text: string, keep = DEFAULT_KEEP): Promise<FollowEntry> {
    const ref = await this.host.canonical(text)
    const existing = this.entries.get(ref)
    const entry: FollowEntry = existing ?? { ref, keep, versions: [], warnings: [], addedAt: new Date().toISOString() }
    entry.keep = keep
    this.entries.set(ref, entry)
    await this.save()
    await this.check(ref)
    return entry
  }

  async unfollow (text: string): Promise<boolean> {
    const ref = await this.host.canonical(text).catch(() => text)
    if (!this.entries.delete(ref)) return false
    await this.save()
    return true
  }

  /** A newer record of some name arrived (a peer's push, or a resolve): check it if followed. */
  onRecord (record: Pick<NameRecord, 'publisher' | 'name' | 'version'>): void {
    const ref = formatRef(record)
    const entry = this.entries.get(ref)
    if (entry != null && (entry.version ?? 0) < record.version) void this.check(ref)
  }

  private checkAll (): void {
    for (const ref of this.entries.keys()) void this.check(ref)
  }

  async check (ref: string): Promise<void> {
    const running = this.running.get(ref)
    if (running != null) return await running
    const job = this.checkNow(ref)
      .catch((err: Error) => this.host.onWarning?.(`checking ${ref} failed: ${err.message}`))
      .finally(() => this.running.delete(ref))
    this.running.set(ref, job)
    await job
  }

  private async checkNow (ref: string): Promise<void> {
    const entry = this.entries.get(ref)
    if (entry == null || this.stopped) return
    entry.lastCheck = new Date().toISOString()
    try {
      const record = await this.host.resolve(ref)
      entry.error = undefined
      entry.version = Math.max(entry.version ?? 0, record.version)
      const withdrawn = entry.versions.filter(v => record.withdrawn.some(c => c.toString() === v.cid))
      for (const v of withdrawn) {
        const message = `${ref}: the publisher withdrew version ${v.version} (${v.cid}); it is no longer fetched by name`
        if (!entry.warnings.includes(message)) {
          entry.warnings.push(message)
          this.host.onWarning?.(message)
        }
      }
      const cid = record.cid?.toString()
      if (cid != null && !entry.versions.some(v => v.cid === cid) && record.version > Math.max(0, ...entry.versions.map(v => v.version))) {
        const version: FollowedVersion = { version: record.version, cid, path: this.folderOf(ref, record.version) }
        await this.host.fetch(cid, version.path, record.keys)
        entry.versions.push(version)
        entry.versions.sort((a, b) => b.version - a.version)
        for (const old of entry.versions.splice(entry.keep)) await this.host.drop(old).catch(err => this.host.onWarning?.(`${ref}: could not drop version ${old.version}: ${String(err.message)}`))
      }
    } catch (err: any) {
      entry.error = err instanceof NameRollbackError ? `refused a rollback: ${String(err.message)}` : String(err.message)
    }
    entry.warnings = entry.warnings.slice(-8)
    await this.save()
    this.host.onChange?.(entry)
  }

  /** Saves run one after another: two writers of the same temp file would race. */
  private async save (): Promise<void> {
    if (this.stopped) return
    // The previous save's error went to its own caller.
    const job = this.saving.catch(() => {}).then(async () => {
      await mkdir(join(this.dataDir, 'daemon'), { recursive: true })
      await writeFileAtomic(this.file, JSON.stringify({ follows: this.list() }, null, 2) + '\n')
    })
    this.saving = job
    await job
  }
}
