/**
 * How many uploads this node runs at once: as many as its uplink can carry at `perUpload` bytes
 * per second each. Pure policy (no I/O, an injectable clock).
 *
 * A fetcher gives each chunk request a deadline (its stall allowance plus the chunk at 64 KiB/s,
 * policy/backoff.ts) and strikes a peer that misses it. A home seeder on a 10 Mbit/s uplink
 * that ran 32 uploads at once sent each at 40 KB/s: every request missed its deadline, and
 * honest fetchers banned an honest seeder. So the number of uploads follows the uplink:
 *
 * - with a known capacity (`--max-upload-rate`), capacity / perUpload from the start;
 * - otherwise it starts at `max` and learns from finished uploads while demand exceeds the
 *   limit (a request had to wait): when uploads ran slower than `perUpload`, the limit shrinks
 *   in proportion (never below `min`); when they ran faster than twice that, it grows by a
 *   quarter. At most one change per `interval`, judged by the uploads that started after the
 *   last change and have finished (those that began before it shared the uplink with more or
 *   fewer others).
 *
 * An upload that runs slow because the fetcher's downlink is slow looks the same as a slow
 * uplink; at 128 KiB/s per upload that is a fetcher below 10 Mbit/s spread over its 8 requests,
 * and serving fewer at once costs such a fetcher nothing.
 */
import { systemClock, type Clock } from './clock.js'

export interface UploadLimitInit {
  /** The most uploads at once (the server's maxUploads). */
  max: number
  /** The fewest, however slow the uplink. */
  min?: number
  /** Bytes per second each upload should get. */
  perUpload?: number
  /** The uplink's bytes per second when known (an upload rate limit): fixes the limit. */
  capacity?: number
  /** Least time between two changes (ms). */
  interval?: number
  clock?: Clock
}

export const DEFAULT_PER_UPLOAD = 128 * 1024

export class UploadLimit {
  private current: number
  private readonly min: number
  private readonly perUpload: number
  private readonly interval: number
  private readonly clock: Clock
  private lastChange: number
  /** Uploads finished since the last change, and whether demand exceeded the limit meanwhile. */
  private samples: number[] = []
  private saturated = false

  constructor (private readonly init: UploadLimitInit) {
    this.min = Math.min(init.min ?? 2, init.max)
    this.perUpload = init.perUpload ?? DEFAULT_PER_UPLOAD
    this.interval = init.interval ?? 10_000
    this.clock = init.clock ?? systemClock
    this.lastChange = this.clock.now()
    this.current = init.capacity != null && init.capacity > 0 ? this.clamp(Math.floor(init.capacity / this.perUpload)) : init.max
  }

  /** Uploads allowed at once now. */
  get value (): number {
    return this.current
  }

  /** A request found every upload taken (it waits, or is refused). */
  full (): void {
    this.saturated = true
  }

  /** An upload of `bytes` took `ms` from its start to its last byte handed to the stream. */
  finished (bytes: number, ms: number): void {
    if (this.init.capacity != null && this.init.capacity > 0) return
    if (bytes < 64 * 1024) return // control answers and tiny chunks say nothing about the uplink
    const now = this.clock.now()
    // An upload that began before the last change ran beside the old number of uploads.
    if (now - ms < this.lastChange) return
    this.samples.push(bytes * 1000 / Math.max(1, ms))
    if (now - this.lastChange < this.interval) return
    if (this.saturated && this.samples.length > 0) {
      const rate = median(this.samples)
      if (rate < this.perUpload) this.current = this.clamp(Math.floor(this.current * rate / this.perUpload))
      else if (rate >= 2 * this.perUpload) this.current = this.clamp(this.current + Math.max(1, Math.floor(this.current / 4)))
    }
    this.lastChange = now
    this.samples = []
    this.saturated = false
  }

  private clamp (n: number): number {
    return Math.max(this.min, Math.min(this.init.max, n))
  }
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}
