/**
 * SIGINT/SIGTERM handling for long-running commands. Installed before the node starts, so a
 * signal at any moment (even right after `ready` is printed) stops the node cleanly.
 */
export class ShutdownSignal {
  private readonly controller = new AbortController()
  private readonly onSignal = (): void => this.controller.abort(new Error('interrupted; run the same command again to resume'))

  constructor () {
    process.on('SIGINT', this.onSignal)
    process.on('SIGTERM', this.onSignal)
  }

  get signal (): AbortSignal {
    return this.controller.signal
  }

  /** Resolves at the first signal (at once if one came already). */
  async wait (): Promise<void> {
    if (this.signal.aborted) return
    await new Promise(resolve => this.signal.addEventListener('abort', resolve, { once: true }))
  }

  dispose (): void {
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
  }
}
