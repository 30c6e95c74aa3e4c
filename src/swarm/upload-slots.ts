/**
 * Upload slots shared fairly among peers: at most `total` uploads in flight across all peers
 * (each holds a reused chunk buffer or a slice: swarm/server.ts) and at most `perPeer` for any one peer; when a
 * slot frees, it goes to the waiting peer with the fewest uploads in flight, so one peer with
 * many streams cannot queue ahead of everyone else. `total` may change (policy/upload-limit.ts:
 * it follows the uplink); a lower total takes effect as uploads finish.
 */
export class UploadSlots {
  private inUse = 0
  private readonly active = new Map<string, number>()
  private readonly queue: Array<{ peer: string, wake: () => void }> = []

  private readonly total: () => number

  constructor (total: number | (() => number), private readonly perPeer: number) {
    this.total = typeof total === 'number' ? () => total : total
  }

  /** Every upload slot is taken: a new request waits (or is refused). */
  get full (): boolean {
    return this.inUse >= this.total()
  }

  /** Requests waiting for a slot. */
  get waiting (): number {
    return this.queue.length
  }

  async acquire (peer: string, signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted()
    if (this.canTake(peer)) {
      this.take(peer)
    } else {
      // wakeNext takes the slot for us before it wakes us, so no newcomer can slip in.
      await new Promise<void>((resolve, reject) => {
        const entry = { peer, wake: () => { signal.removeEventListener('abort', onAbort); resolve() } }
        const onAbort = (): void => {
          const i = this.queue.indexOf(entry)
          if (i >= 0) this.queue.splice(i, 1)
          reject(signal.reason)
        }
        signal.addEventListener('abort', onAbort, { once: true })
        this.queue.push(entry)
      })
    }
    let released = false
    return () => {
      if (released) return
      released = true
      this.inUse--
      const n = (this.active.get(peer) ?? 1) - 1
      if (n > 0) this.active.set(peer, n)
      else this.active.delete(peer)
      this.wakeNext()
    }
  }

  /** Uploads in flight for a peer. */
  of (peer: string): number {
    return this.active.get(peer) ?? 0
  }

  private canTake (peer: string): boolean {
    return this.inUse < this.total() && this.of(peer) < this.perPeer
  }

  private take (peer: string): void {
    this.inUse++
    this.active.set(peer, this.of(peer) + 1)
  }

  private wakeNext (): void {
    let best = -1
    for (let i = 0; i < this.queue.length; i++) {
      const w = this.queue[i]
      if (this.canTake(w.peer) && (best < 0 || this.of(w.peer) < this.of(this.queue[best].peer))) best = i
    }
    if (best < 0) return
    const [next] = this.queue.splice(best, 1)
    this.take(next.peer)
    next.wake()
  }
}
