/**
 * The buffers chunks are received into: a fixed number, reused for every chunk. Their count
 * bounds the chunk requests in flight across all peers, and so the fetcher's memory, however
 * many peers there are.
 *
 * Plain memory, hashed on the event loop. In shared memory (to hash on a worker thread without a
 * copy) every decrypted message was copied in at a seventh of memcpy's speed (V8 copies into a
 * SharedArrayBuffer with relaxed atomics) and each chunk cost a worker round trip; 512 MiB from
 * one seeder took 1.10x as long, with 1.16x the CPU (5 pairs of runs).
 *
 * A freed buffer goes to the waiting request with the highest priority (the fetcher gives its
 * fastest peers the highest, policy/peer-book.ts `priority`), in arrival order among equals: a
 * buffer held by a slow peer is held for long, so the fast ones must not queue behind it.
 */
interface Waiter {
  wake: (buffer: Buffer) => void
  priority: () => number
}

export class ChunkBuffers {
  private readonly free: Buffer[] = []
  private readonly waiters: Waiter[] = []
  private created = 0

  constructor (private readonly count: number, private readonly size: number) {}

  /** A buffer of `size` bytes; waits while all are in use. `priority` is read when one frees. */
  async take (signal: AbortSignal, priority: () => number = () => 0): Promise<Buffer> {
    signal.throwIfAborted()
    const buffer = this.free.pop()
    if (buffer != null) return buffer
    if (this.created < this.count) {
      this.created++
      return Buffer.allocUnsafeSlow(this.size)
    }
    return await new Promise<Buffer>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter)
        if (i >= 0) this.waiters.splice(i, 1)
        reject(signal.reason)
      }
      const waiter: Waiter = {
        wake: (b: Buffer): void => {
          signal.removeEventListener('abort', onAbort)
          resolve(b)
        },
        priority
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiters.push(waiter)
    })
  }

  /** Waiting requests (for tests and status). */
  get waiting (): number {
    return this.waiters.length
  }

  /** Returns a buffer; nothing may write to it afterwards. */
  give (buffer: Buffer): void {
    if (this.waiters.length === 0) {
      this.free.push(buffer)
      return
    }
    let best = 0
    let bestPriority = this.waiters[0].priority()
    for (let i = 1; i < this.waiters.length; i++) {
      const p = this.waiters[i].priority()
      if (p > bestPriority) { best = i; bestPriority = p }
    }
    const [waiter] = this.waiters.splice(best, 1)
    waiter.wake(buffer)
  }
}
