/**
 * A token bucket in bytes per second, shared by all transfers in one direction. take() waits
 * until the bytes may go; waiters are served in order. Burst: one second's worth, or one
 * request's bytes when that is larger (a chunk is never split).
 */
export class RateLimiter {
  private tokens: number
  private last = Date.now()
  private queue: Promise<void> = Promise.resolve()

  constructor (readonly bytesPerSecond: number) {
    this.tokens = bytesPerSecond
  }

  async take (bytes: number, signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(async () => { await this.wait(bytes, signal) })
    // The caller gets this turn's error from `turn`; the queue only needs it settled.
    this.queue = turn.catch(() => {})
    await turn
  }

  private async wait (bytes: number, signal?: AbortSignal): Promise<void> {
    const now = Date.now()
    this.tokens = Math.min(Math.max(this.bytesPerSecond, bytes), this.tokens + (now - this.last) * this.bytesPerSecond / 1000)
    this.last = now
    if (this.tokens < bytes) {
      const ms = Math.ceil((bytes - this.tokens) * 1000 / this.bytesPerSecond)
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, ms)
        signal?.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason) }, { once: true })
      })
      this.tokens += ms * this.bytesPerSecond / 1000
      this.last = Date.now()
    }
    this.tokens -= bytes
  }
}
