/**
 * Runs the daemon's fetches: each is retried with backoff (30 s doubling to 10 min) for as long
 * as it is on the list, and its progress is turned into model updates. A fetch removed from the
 * list is aborted, and so is every fetch when the daemon stops.
 */
import { logger } from '@libp2p/logger'
import { settledWithin, sleep } from '../util/sleep.js'
import { RETRY_FIRST, RETRY_MAX } from './constants.js'
import { STOP_JOBS_TIMEOUT } from '../engine/constants.js'
import type { ModelRegistry, Entry } from './registry.js'
import type { ProgressEmitter } from './progress-emitter.js'
import type { FolderPolicy, TrustPolicy } from './policy.js'
import type { FetchRecord } from './model-store.js'
import type { Engine } from '../engine/engine.js'
import type { FetchProgressEvents } from '../engine/events.js'

const log = logger('p2pweights:daemon:fetch')

export interface FetchSupervisorComponents {
  engine: Pick<Engine, 'fetch'>
  registry: Pick<ModelRegistry, 'holds' | 'describe' | 'save'>
  emitter: Pick<ProgressEmitter, 'model' | 'emit'>
  folders: Pick<FolderPolicy, 'outputFolder'>
  trust: Pick<TrustPolicy, 'forFetch'>
}

export interface FetchSupervisorInit {
  findTimeout?: number
  stallTimeout?: number
  retryFirst?: number
  retryMax?: number
}

export class FetchSupervisor {
  private stopped = false
  private readonly running = new Set<Entry>()
  private readonly runs = new Set<Promise<void>>()

  constructor (private readonly components: FetchSupervisorComponents, private readonly init: FetchSupervisorInit = {}) {}

  /** Starts (or resumes) the fetch of `entry` in the background. */
  start (entry: Entry): void {
    if (this.stopped || this.running.has(entry)) return
    const run = this.run(entry).finally(() => {
      this.running.delete(entry)
      this.runs.delete(run)
    })
    this.running.add(entry)
    this.runs.add(run)
  }

  /**
   * Aborts every fetch and waits for their loops to end (each ends at its abort, or after the
   * model-list save it was in): nothing of them writes after this resolves. Safe to call twice.
   */
  async stop (): Promise<void> {
    this.stopped = true
    for (const entry of this.running) entry.controller?.abort(new Error('daemon stopping'))
    if (!await settledWithin(this.runs, STOP_JOBS_TIMEOUT)) log.error('%d fetches did not stop within %d ms', this.runs.size, STOP_JOBS_TIMEOUT)
  }

  private async run (entry: Entry): Promise<void> {
    const { engine, registry, emitter, folders, trust } = this.components
    const record = entry.record as FetchRecord
    let delay = this.init.retryFirst ?? RETRY_FIRST
    while (!this.stopped && registry.holds(entry)) {
      entry.controller = new AbortController()
      entry.state = 'fetching'
      entry.error = undefined
      emitter.model(entry, true)
      try {
        const summary = await engine.fetch(record.cid, {
          outDir: record.outDir,
          baseDir: record.baseDir,
          // The daemon's --trust list as it is now (it may have changed since the fetch was added).
          trust: trust.forFetch(record.trust),
          checkOutDir: async dir => { await folders.outputFolder(dir) },
          peers: record.peers,
          include: record.include,
          exclude: record.exclude,
          hfCache: record.hfCache,
          findTimeout: record.findTimeout ?? this.init.findTimeout,
          stallTimeout: record.stallTimeout ?? this.init.stallTimeout,
          keepSeeding: true,
          signal: entry.controller.signal,
          onProgress: e => this.onProgress(entry, e)
        })
        record.outDir = summary.path
        record.complete = true
        entry.state = 'seeding'
        entry.verifiedBytes = summary.bytes
        entry.peers = 0
        await registry.save()
        emitter.model(entry, true)
        return
      } catch (err: any) {
        if (entry.controller.signal.aborted) return
        log('fetch of %s failed: %e', record.cid, err)
        entry.state = 'failed'
        entry.error = `${String(err.message)} (retrying in ${Math.round(delay / 1000)} s)`
        entry.peers = 0
        emitter.model(entry, true)
        await sleep(delay, entry.controller.signal).catch(() => {}) // aborted: the loop ends
        delay = Math.min(delay * 2, this.init.retryMax ?? RETRY_MAX)
      }
    }
  }

  private onProgress (entry: Entry, e: FetchProgressEvents): void {
    const { registry, emitter } = this.components
    const record = entry.record as FetchRecord
    switch (e.type) {
      case 'fetch:manifest':
        registry.describe(entry, e.detail.publisher, e.detail.files, e.detail.bytes)
        entry.name = e.detail.name
        if (record.outDir !== e.detail.path) {
          record.outDir = e.detail.path
          registry.save().catch(err => log.error('saving the model list failed: %e', err))
        }
        break
      case 'fetch:chunk:verified':
        entry.verifiedBytes = e.detail.bytes
        entry.peers = e.detail.peers
        break
      case 'fetch:peer:dropped':
        if (!e.detail.connected) return
        emitter.emit({ type: 'warning', message: `${entry.name}: dropped peer ${e.detail.peerId}: ${e.detail.reason}` })
        break
      default:
        return
    }
    emitter.model(entry)
  }
}
