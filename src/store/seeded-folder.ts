/**
 * A release served from a folder in place: no copy is made. The folder was hashed (or its hashes
 * came from the cache) when it was seeded; from then on every read checks the file's identity
 * (device, inode), size and mtime against what was hashed, and a file that changed stops being
 * served rather than being served with bytes that no longer match the manifest.
 *
 * Opening a file for serving checks its real path against the read policy again (a symlink
 * swapped after seeding to point at a key is refused) and that the file opened is the one that
 * was hashed, so no bytes of any other file can be served under the release's name.
 */
import { constants } from 'node:fs'
import { open, stat, type FileHandle } from 'node:fs/promises'
import { Bitfield } from './bitfield.js'
import { checkChunk, sliceLength, type ChunkSource } from './chunk-source.js'
import { ChunkNotHeldError, SourceUnavailableError } from './errors.js'
import { ChunkIndex } from '../manifest/manifest.js'
import { ReadPolicy } from '../manifest/read-policy.js'
import type { ScannedFile } from '../manifest/build.js'
import type { Release } from '../manifest/signed.js'

/** Slices of one chunk re-check the file's identity when the last check is this old (ms). */
const RECHECK_WITHIN_CHUNK = 1000

export class SeededFolder implements ChunkSource {
  readonly index: ChunkIndex
  private readonly full: Bitfield
  private readonly handles = new Map<number, Promise<FileHandle>>()
  /** When each file's identity was last checked (ms). */
  private readonly checkedAt = new Map<number, number>()
  private policy?: Promise<ReadPolicy>

  /**
   * `files[i]` is file i of the manifest on disk. A folder that holds only some files of the
   * release (a partial fetch) leaves the others undefined: their chunks are not offered.
   * Without `policy`, symlinks may lead only inside `folder`.
   */
  constructor (readonly release: Release, readonly files: ReadonlyArray<ScannedFile | undefined>, readonly folder: string, policy?: ReadPolicy) {
    this.index = new ChunkIndex(release.manifest)
    if (files.every(f => f != null)) {
      this.full = Bitfield.full(this.index.total)
    } else {
      this.full = new Bitfield(this.index.total)
      files.forEach((f, i) => { if (f != null) for (let c = 0; c < this.index.count(i); c++) this.full.set(this.index.first(i) + c) })
    }
    if (policy != null) this.policy = Promise.resolve(policy)
  }

  have (): Bitfield {
    return this.full
  }

  async readChunk (fileIndex: number, chunk: number, into?: Buffer): Promise<Uint8Array> {
    checkChunk(this.index, fileIndex, chunk)
    return await this.readSlice(fileIndex, chunk, 0, into ?? Buffer.allocUnsafe(this.index.length(fileIndex, chunk)))
  }

  async readSlice (fileIndex: number, chunk: number, offset: number, into: Buffer): Promise<Uint8Array> {
    checkChunk(this.index, fileIndex, chunk)
    const length = sliceLength(this.index, fileIndex, chunk, offset, into.length)
    const file = this.files[fileIndex]
    if (file == null) throw new ChunkNotHeldError(`file ${fileIndex} of the release is not in ${this.folder}`)
    const handle = await this.handle(fileIndex)
    // Checked before every chunk, and again within a chunk at most once a second: a stat per
    // slice (of 256 KiB then) cost the seeder 9% of its time.
    const now = Date.now()
    if (offset === 0 || now - (this.checkedAt.get(fileIndex) ?? -Infinity) >= RECHECK_WITHIN_CHUNK) {
      const s = await handle.stat()
      if (s.size !== file.size || s.mtimeMs !== file.mtimeMs || s.ino !== file.ino || s.dev !== file.dev) {
        throw new SourceUnavailableError(`${file.path} changed on disk since it was hashed; seed the folder again`)
      }
      this.checkedAt.set(fileIndex, now)
    }
    const buffer = into.subarray(0, length)
    const start = chunk * this.index.chunkSize + offset
    let done = 0
    while (done < length) {
      const { bytesRead } = await handle.read(buffer, done, length - done, start + done)
      if (bytesRead === 0) throw new SourceUnavailableError(`${file.path} is shorter than when it was hashed`)
      done += bytesRead
    }
    return buffer
  }

  /** The files whose identity, size or mtime differ from when they were hashed (or that are gone). */
  async changedFiles (): Promise<string[]> {
    const changed: string[] = []
    for (const file of this.files) {
      if (file == null) continue
      const s = await stat(file.path).catch(() => undefined)
      if (s == null || s.size !== file.size || s.mtimeMs !== file.mtimeMs || s.ino !== file.ino || s.dev !== file.dev) changed.push(file.path)
    }
    return changed
  }

  async close (): Promise<void> {
    const handles = [...this.handles.values()]
    this.handles.clear()
    await Promise.all(handles.map(async h => await (await h.catch(() => undefined))?.close()))
  }

  private async handle (fileIndex: number): Promise<FileHandle> {
    let handle = this.handles.get(fileIndex)
    if (handle == null) {
      handle = this.openChecked(fileIndex)
      this.handles.set(fileIndex, handle)
      handle.catch(() => this.handles.delete(fileIndex))
    }
    try {
      return await handle
    } catch (err: any) {
      throw new SourceUnavailableError(`cannot serve ${this.files[fileIndex]?.path ?? `file ${fileIndex}`}: ${err.message ?? err.code}`)
    }
  }

  /** Opens the real path the policy allows, then makes sure it is the very file that was hashed. */
  private async openChecked (fileIndex: number): Promise<FileHandle> {
    const file = this.files[fileIndex]
    if (file == null) throw new Error(`file ${fileIndex} of the release is not in this folder`)
    this.policy ??= ReadPolicy.create(this.folder)
    const real = await (await this.policy).check(file.path, file.relative, file)
    // O_NOFOLLOW: the last component was just resolved; a link put there since is refused.
    const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
    const s = await handle.stat().catch(async err => { await handle.close(); throw err })
    if (s.ino !== file.ino || s.dev !== file.dev) {
      await handle.close()
      throw new Error('it is no longer the file that was hashed (replaced, or a symlink re-pointed)')
    }
    return handle
  }
}
