/**
 * The daemon's models: one entry per release CID, seeded or fetched, with its persistent record
 * (model-store.ts) and its live state. Turns an entry into the API's ModelInfo.
 */
import { join } from 'node:path'
import type { ModelStore, ModelRecord } from './model-store.js'
import type { ModelInfo, ModelState } from './service.js'
import type { TransferStats } from '../engine/events.js'

export interface Entry {
  record: ModelRecord
  state: ModelState
  name: string
  publisher?: string
  files?: number
  bytes?: number
  verifiedBytes: number
  peers: number
  error?: string
  /** Aborts the entry's running work (a fetch, a fetch's retry wait). */
  controller?: AbortController
  rate: { up: number, down: number, lastUp: number, lastDown: number }
  lastEmit: number
  emitTimer?: NodeJS.Timeout
}

export class ModelRegistry {
  private readonly entries = new Map<string, Entry>()

  constructor (private readonly store: Pick<ModelStore, 'load' | 'save'>, private readonly stats: (cid: string) => TransferStats) {}

  async load (): Promise<ModelRecord[]> {
    return await this.store.load()
  }

  async save (): Promise<void> {
    await this.store.save([...this.entries.values()].map(e => e.record))
  }

  get size (): number {
    return this.entries.size
  }

  get (cid: string): Entry | undefined {
    return this.entries.get(cid)
  }

  values (): Entry[] {
    return [...this.entries.values()]
  }

  /** True while `entry` is still the one registered for its CID (not removed, not replaced). */
  holds (entry: Entry): boolean {
    return this.entries.get(entry.record.cid) === entry
  }

  add (record: ModelRecord, state: ModelState): Entry {
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

  /** Forgets an entry and aborts its work; its timers are the emitter's to clear. */
  delete (cid: string): Entry | undefined {
    const entry = this.entries.get(cid)
    if (entry == null) return undefined
    this.entries.delete(cid)
    entry.controller?.abort(new Error('removed'))
    return entry
  }

  describe (entry: Entry, publisher: string, files: number, bytes: number): void {
    entry.publisher = publisher
    entry.files = files
    entry.bytes = bytes
  }

  info (e: Entry): ModelInfo {
    const stats = this.stats(e.record.cid)
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

  list (): ModelInfo[] {
    return this.values().map(e => this.info(e))
  }
}
