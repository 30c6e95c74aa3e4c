/**
 * The daemon's live events: the listeners of the event stream, model updates throttled per model
 * (state changes go out at once), and upload/download rates sampled per model.
 */
import { EMIT_INTERVAL, RATE_INTERVAL } from './constants.js'
import type { Entry, ModelRegistry } from './registry.js'
import type { DaemonEvent } from './service.js'
import type { TransferStats } from '../engine/events.js'

export interface ProgressEmitterInit {
  rateInterval?: number
  emitInterval?: number
}

export class ProgressEmitter {
  private readonly listeners = new Set<(event: DaemonEvent) => void>()
  private timer?: NodeJS.Timeout
  private readonly rateInterval: number
  private readonly emitInterval: number

  constructor (private readonly registry: Pick<ModelRegistry, 'values' | 'info'>, private readonly stats: (cid: string) => TransferStats, init: ProgressEmitterInit = {}) {
    this.rateInterval = init.rateInterval ?? RATE_INTERVAL
    this.emitInterval = init.emitInterval ?? EMIT_INTERVAL
  }

  start (): void {
    if (this.timer != null) return
    this.timer = setInterval(() => this.sampleRates(), this.rateInterval)
    this.timer.unref()
  }

  /** Safe to call twice. */
  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
    for (const entry of this.registry.values()) this.forget(entry)
  }

  subscribe (listener: (event: DaemonEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  emit (event: DaemonEvent): void {
    for (const listener of this.listeners) listener(event)
  }

  /** A model changed: `now` for a state change, else throttled to one update per interval. */
  model (entry: Entry, now = false): void {
    if (this.listeners.size === 0) return
    const since = Date.now() - entry.lastEmit
    if (now || since >= this.emitInterval) {
      this.forget(entry)
      entry.lastEmit = Date.now()
      this.emit({ type: 'model', model: this.registry.info(entry) })
    } else if (entry.emitTimer == null) {
      entry.emitTimer = setTimeout(() => { entry.emitTimer = undefined; this.model(entry, true) }, this.emitInterval - since)
    }
  }

  /** Drops an entry's pending update (it was removed). */
  forget (entry: Entry): void {
    clearTimeout(entry.emitTimer)
    entry.emitTimer = undefined
  }

  private sampleRates (): void {
    for (const entry of this.registry.values()) {
      const s = this.stats(entry.record.cid)
      entry.rate.up = (s.uploaded - entry.rate.lastUp) * 1000 / this.rateInterval
      entry.rate.down = (s.downloaded - entry.rate.lastDown) * 1000 / this.rateInterval
      entry.rate.lastUp = s.uploaded
      entry.rate.lastDown = s.downloaded
      if (entry.rate.up > 0 || entry.rate.down > 0) this.model(entry)
    }
  }
}
