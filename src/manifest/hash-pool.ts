/**
 * A small pool of hashing threads. hashFile() runs the whole-file pass and the per-chunk pass
 * of one file in parallel on two threads; several files are hashed at once when there are
 * threads to spare.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { FileHashJob, HashReply } from './hash-worker.js'

export interface FileHashes {
  sha256: Uint8Array
  chunks: Uint8Array
}

interface Pending {
  job: FileHashJob
  onProgress: (bytes: number) => void
  resolve: (digest: Uint8Array) => void
  reject: (err: Error) => void
}

// Under the tests the sources run as .ts; in dist/ as .js.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './hash-worker.ts' : './hash-worker.js', import.meta.url)

export class HashPool {
  private readonly idle: Worker[] = []
  private readonly all: Worker[] = []
  private readonly queue: Pending[] = []
  private readonly running = new Map<number, Pending>()
  private nextId = 0
  private closed = false
  private closedBy?: Error
  private unlisten = (): void => {}

  /** `signal`: aborting it fails every job and stops the threads (a cancelled seed stops reading). */
  constructor (threads = Math.max(2, Math.min(availableParallelism(), 4)), signal?: AbortSignal) {
    if (signal != null) {
      const onAbort = (): void => { void this.close(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
      this.unlisten = () => signal.removeEventListener('abort', onAbort)
      if (signal.aborted) this.closedBy = signal.reason
    }
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_URL)
      worker.on('message', (reply: HashReply) => this.onReply(worker, reply))
      worker.on('error', err => this.failAll(err))
      worker.unref()
      this.all.push(worker)
      this.idle.push(worker)
    }
  }

  /**
   * Hashes a file whole and per chunk. `onProgress` gets byte counts, summed over both passes / 2.
   * With `identity`, the file opened must be that one (device and inode), not whatever the path
   * leads to by the time the worker opens it.
   */
  async hashFile (path: string, size: number, chunkSize: number, onProgress: (bytes: number) => void = () => {}, identity?: { dev: number, ino: number }): Promise<FileHashes> {
    const half = (bytes: number): void => onProgress(bytes / 2)
    const expected = identity == null ? {} : { dev: identity.dev, ino: identity.ino }
    const [sha256, chunks] = await Promise.all([
      this.submit({ id: 0, path, kind: 'whole', chunkSize, size, ...expected }, half),
      this.submit({ id: 0, path, kind: 'chunks', chunkSize, size, ...expected }, half)
    ])
    return { sha256, chunks }
  }

  async close (reason: Error = new Error('hash pool closed')): Promise<void> {
    this.closed = true
    this.closedBy ??= reason
    this.unlisten()
    this.failAll(reason)
    await Promise.all(this.all.map(w => w.terminate()))
    this.all.length = 0
    this.idle.length = 0
  }

  private async submit (job: FileHashJob, onProgress: (bytes: number) => void): Promise<Uint8Array> {
    if (this.closed || this.closedBy != null) throw this.closedBy ?? new Error('hash pool closed')
    return await new Promise((resolve, reject) => {
      this.queue.push({ job: { ...job, id: this.nextId++ }, onProgress, resolve, reject })
      this.pump()
    })
  }

  private pump (): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop() as Worker
      const pending = this.queue.shift() as Pending
      this.running.set(pending.job.id, pending)
      worker.ref() // keeps the process alive while a job runs, and only then
      worker.postMessage(pending.job)
    }
  }

  private onReply (worker: Worker, reply: HashReply): void {
    const pending = this.running.get(reply.id)
    if (pending == null) return
    if (reply.type === 'progress') {
      pending.onProgress(reply.bytes)
      return
    }
    this.running.delete(reply.id)
    worker.unref()
    this.idle.push(worker)
    if (reply.type === 'done') pending.resolve(reply.digest)
    else pending.reject(new Error(reply.message))
    this.pump()
  }

  private failAll (err: Error): void {
    for (const p of [...this.running.values(), ...this.queue]) p.reject(err)
    this.running.clear()
    this.queue.length = 0
  }
}
