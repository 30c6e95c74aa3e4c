/**
 * The buffers chunks are received into: a fixed number, in shared memory (hashed on a worker
 * thread without a copy), reused for every chunk. Their count bounds the chunk requests in
 * flight across all peers, and so the fetcher's memory, however many peers there are.
 */
export class ChunkBuffers {
  private readonly free: Buffer[] = []
  private readonly waiters: Array<(buffer: Buffer) => void> = []
  private created = 0

  constructor (private readonly count: number, private readonly size: number) {}

  /** A buffer of `size` bytes; waits while all are in use. */
  async take (signal: AbortSignal): Promise<Buffer> {
    signal.throwIfAborted()
    const buffer = this.free.pop()
    if (buffer != null) return buffer
    if (this.created < this.count) {
      this.created++
      return Buffer.from(new SharedArrayBuffer(this.size))
    }
    return await new Promise<Buffer>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters.splice(this.waiters.indexOf(wake), 1)
        reject(signal.reason)
      }
      const wake = (b: Buffer): void => {
        signal.removeEventListener('abort', onAbort)
        resolve(b)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiters.push(wake)
    })
  }

  /** Returns a buffer; nothing may write to it afterwards. */
  give (buffer: Buffer): void {
    const waiter = this.waiters.shift()
    if (waiter != null) waiter(buffer)
    else this.free.push(buffer)
  }
}
