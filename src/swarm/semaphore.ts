/** Counts slots for a bounded resource (uploads in flight); waiters are served in order. */
export class Semaphore {
  private readonly waiters: Array<() => void> = []

  constructor (private available: number) {}

  async acquire (signal?: AbortSignal): Promise<() => void> {
    if (this.available > 0) {
      this.available--
      return this.releaser()
    }
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = (): void => {
        const i = this.waiters.indexOf(wake)
        if (i >= 0) this.waiters.splice(i, 1)
        reject(signal?.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiters.push(wake)
    })
    return this.releaser()
  }

  private releaser (): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.waiters.shift()
      if (next != null) next()
      else this.available++
    }
  }
}
