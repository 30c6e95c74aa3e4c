/**
 * The daemon hashes one folder at a time (the disk is the bottleneck, and progress is
 * attributable). Each seed waiting or hashing can be cancelled: by `rm <folder>`, by its HTTP
 * client going away, or by the daemon stopping.
 */
import { CancelledError } from '../engine/errors.js'

export class SeedQueue {
  private tail: Promise<unknown> = Promise.resolve()
  /** Seeds waiting or hashing, by folder (real path). */
  private readonly pending = new Map<string, Set<AbortController>>()

  /** Runs `job` after the seeds before it; `signal` (the caller's) also cancels it. */
  async run<T> (folder: string, signal: AbortSignal | undefined, job: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController()
    const onAbort = (): void => controller.abort(signal?.reason ?? new CancelledError(`the seed of ${folder} was cancelled`))
    signal?.addEventListener('abort', onAbort, { once: true })
    if (signal?.aborted === true) onAbort()
    let set = this.pending.get(folder)
    if (set == null) this.pending.set(folder, set = new Set())
    set.add(controller)
    // The seed before failed or was cancelled: that is its caller's answer; this one runs anyway.
    const result = this.tail.catch(() => {}).then(async () => {
      controller.signal.throwIfAborted() // cancelled while waiting: never starts
      return await job(controller.signal)
    })
    this.tail = result
    try {
      return await result
    } finally {
      signal?.removeEventListener('abort', onAbort)
      set.delete(controller)
      if (set.size === 0) this.pending.delete(folder)
    }
  }

  /** True if this folder is waiting or hashing. */
  has (folder: string): boolean {
    return this.pending.has(folder)
  }

  /** Cancels the seeds of `folder`; false if there were none. */
  cancel (folder: string, reason: Error = new CancelledError(`the seed of ${folder} was removed while hashing; nothing of it is served`)): boolean {
    const set = this.pending.get(folder)
    if (set == null) return false
    for (const c of set) c.abort(reason)
    return true
  }

  /** Cancels every seed; safe to call twice. */
  stop (): void {
    for (const set of this.pending.values()) for (const c of set) c.abort(new CancelledError('the daemon is stopping'))
  }
}
