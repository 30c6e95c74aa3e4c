/**
 * Worker thread for hashing. A file job hashes a file either whole or chunk by chunk: the two
 * kinds of job for one file run on two threads at once, so a folder hashes at about the speed
 * of `sha256sum` even though every byte is hashed twice. A memory job hashes bytes in shared
 * memory, so a fetcher verifies chunks off its event loop. Imports nothing but node: modules
 * so that it runs from dist/ and, type-stripped, from src/ under the tests.
 */
import { createHash } from 'node:crypto'
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'

export interface FileHashJob {
  id: number
  path: string
  kind: 'whole' | 'chunks'
  chunkSize: number
  /** Expected size: the file must not change while it is hashed. */
  size: number
  /** Expected file (device and inode): a path swapped for another file since it was checked is refused. */
  dev?: number
  ino?: number
}

export type HashReply =
  | { id: number, type: 'progress', bytes: number }
  | { id: number, type: 'done', digest: Uint8Array }
  | { id: number, type: 'error', message: string }

const READ_SIZE = 8 * 1024 * 1024
const PROGRESS_EVERY = 64 * 1024 * 1024
let buffer = Buffer.allocUnsafe(READ_SIZE)

function readFully (fd: number, into: Buffer, length: number, position: number): number {
  let done = 0
  while (done < length) {
    const n = readSync(fd, into, done, length - done, position + done)
    if (n === 0) break
    done += n
  }
  return done
}

function hashFile (job: FileHashJob, progress: (bytes: number) => void): Uint8Array {
  const fd = openSync(job.path, 'r')
  try {
    const s = fstatSync(fd)
    if (job.ino != null && (s.ino !== job.ino || s.dev !== job.dev)) throw new Error(`${job.path} was replaced by another file while being hashed`)
    if (s.size !== job.size) throw new Error(`${job.path} changed size while being hashed`)
    const step = job.kind === 'whole' ? READ_SIZE : job.chunkSize
    if (buffer.length < step) buffer = Buffer.allocUnsafe(step)
    const whole = createHash('sha256')
    const chunkCount = Math.ceil(job.size / job.chunkSize)
    const chunks = new Uint8Array(job.kind === 'chunks' ? chunkCount * 32 : 0)
    let position = 0
    let index = 0
    let sinceProgress = 0
    while (position < job.size) {
      const want = Math.min(step, job.size - position)
      const got = readFully(fd, buffer, want, position)
      if (got !== want) throw new Error(`${job.path} changed size while being hashed`)
      const view = buffer.subarray(0, got)
      if (job.kind === 'whole') whole.update(view)
      else chunks.set(createHash('sha256').update(view).digest(), 32 * index++)
      position += got
      sinceProgress += got
      if (sinceProgress >= PROGRESS_EVERY) {
        progress(sinceProgress)
        sinceProgress = 0
      }
    }
    if (sinceProgress > 0) progress(sinceProgress)
    return job.kind === 'whole' ? new Uint8Array(whole.digest()) : chunks
  } finally {
    closeSync(fd)
  }
}

parentPort?.on('message', (job: FileHashJob) => {
  try {
    const digest = hashFile(job, bytes => parentPort?.postMessage({ id: job.id, type: 'progress', bytes } satisfies HashReply))
    parentPort?.postMessage({ id: job.id, type: 'done', digest } satisfies HashReply)
  } catch (err: any) {
    parentPort?.postMessage({ id: job.id, type: 'error', message: String(err?.message ?? err) } satisfies HashReply)
  }
})
