/**
 * A download in progress, on disk. Chunks are verified against the manifest, then written into
 * `<out>/.p2pweights/<file#>.part`; a file is moved to its final name only when every chunk of it
 * is verified and the .part is fsynced. The set of verified chunks is saved to `have` only after
 * the .part files it covers are fsynced, so after a crash `have` may lag (those chunks are fetched
 * again) but never claims a chunk that is not on disk. Layout of the state folder:
 *
 *   <out>/.p2pweights/release   the signed release being fetched (checked again on resume)
 *   <out>/.p2pweights/have      bitfield of verified chunks (global numbers) and its HMAC, written atomically
 *   <out>/.p2pweights/lock      pid of the process writing here
 *   <out>/.p2pweights/<i>.part  file i of the manifest, sparse, verified chunks only
 *
 * The state folder is removed once every file is in place. Nothing in it is trusted (see
 * state-folder.ts): planted symlinks are never followed, and `have` bits count only when their
 * MAC verifies; anything unproven is hashed again.
 *
 * A new download refuses a folder that holds files other than the release's own (an earlier
 * fetch of it, finished or copied in, whose files must then verify), unless `intoExisting`.
 */
import { lstat, mkdir, realpath, rename, rm, statfs, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { equals } from 'uint8arrays/equals'
import { fsyncDir, writeFileAtomic } from './atomic.js'
import { Bitfield } from './bitfield.js'
import { FLUSH_EVERY_BYTES } from './constants.js'
import { ChunkNotHeldError, DiskSpaceError, DownloadConflictError, LockedError, SourceUnavailableError } from './errors.js'
import { acquireLock, forgetLock, releaseLock } from './lock-file.js'
import { assertFolderIsFor, isPlainFile, openForRead, openHave, openPartFile, prepareStateDir, readStateFile, sealHave } from './state-folder.js'
import { UnsafePathError } from '../manifest/errors.js'
import { ChunkIndex, chunkHash, type ManifestFile } from '../manifest/manifest.js'
import { STATE_DIR_NAME } from '../manifest/paths.js'
import { verifyChunk } from '../manifest/verify.js'
import { isInside, realPathOfMaybeMissing } from '../util/real-path.js'
import { checkChunk, sliceLength, type ChunkSource } from './chunk-source.js'
import { MAX_RELEASE_BYTES, type Release } from '../manifest/signed.js'
import { logger } from '@libp2p/logger'

const log = logger('p2pweights:store:download')

export interface DownloadEvents {
  /** A file is complete, verified and under its final name. */
  onFileComplete?: (file: ManifestFile, fileIndex: number) => void
}

export interface DownloadOptions extends DownloadEvents {
  /**
   * The secret that authenticates `have` (the data dir's state.key). Without it nothing in
   * `have` is believed: every chunk on disk is hashed again when the download is opened.
   */
  stateKey?: Uint8Array
  /** Write into a folder that holds other files (files at the release's paths are replaced). */
  intoExisting?: boolean
  /**
   * A partial download (--include/--exclude): the indexes of the files to fetch. The download
   * is complete when these are in place; other files are neither fetched nor created.
   */
  files?: ReadonlySet<number>
}

export class Download implements ChunkSource {
  readonly index: ChunkIndex
  readonly stateDir: string
  /** The chunks of the wanted files (absent: all files are wanted). */
  readonly wanted?: Bitfield
  private readonly verified: Bitfield
  private readonly finalized: boolean[]
  /** What each file at its final name was when it was verified: a read checks it is still that file. */
  private readonly finalIdentity: Array<FileIdentityStamp | undefined> = []
  private readonly writers = new Map<number, Promise<FileHandle>>()
  private dirty = new Set<number>()
  private flushing: Promise<void> = Promise.resolve()
  private realOutDir = ''
  private unflushed = 0

  private constructor (readonly release: Release, readonly outDir: string, haveBytes: Uint8Array | undefined, private readonly events: DownloadOptions) {
    const files = events.files
    this.index = new ChunkIndex(release.manifest)
    if (files != null) {
      this.wanted = new Bitfield(this.index.total)
      for (const i of files) for (let c = 0; c < this.index.count(i); c++) this.wanted.set(this.index.first(i) + c)
    }
    this.stateDir = join(outDir, STATE_DIR_NAME)
    this.verified = haveBytes?.length === Math.ceil(this.index.total / 8) ? new Bitfield(this.index.total, haveBytes) : new Bitfield(this.index.total)
    this.finalized = release.manifest.files.map(() => false)
  }

  /** Opens (or resumes) the download of `release` into `outDir`. */
  static async open (outDir: string, release: Release, options: DownloadOptions = {}): Promise<Download> {
    const stateDir = join(outDir, STATE_DIR_NAME)
    await mkdir(outDir, { recursive: true })
    const existed = await prepareStateDir(stateDir)
    await takeLock(stateDir)
    try {
      const previous = await Download.savedRelease(outDir)
      if (previous != null && !equals(previous, release.bytes)) {
        throw new DownloadConflictError(`${outDir} holds a partial download of another release; choose another output folder, or delete ${stateDir} to discard it`)
      }
      // A folder without our state is adopted only if it holds nothing but this release's files.
      const adopting = previous == null && options.intoExisting !== true
      if (adopting) await assertFolderIsFor(outDir, release.manifest)
      if (previous == null) await writeFileAtomic(join(stateDir, 'release'), release.bytes)
      const realOutDir = await realpath(outDir)
      const bitfieldLength = Math.ceil(new ChunkIndex(release.manifest).total / 8)
      const saved = previous == null ? undefined : await readStateFile(join(stateDir, 'have'), bitfieldLength + 64)
      const have = openHave(saved === 'planted' ? undefined : saved, bitfieldLength, options.stateKey, release.cid, realOutDir)
      const download = new Download(release, outDir, have, options)
      download.realOutDir = realOutDir
      await download.reconcile(adopting)
      await download.checkFreeSpace()
      return download
    } catch (err) {
      await releaseLock(join(stateDir, 'lock'))
      if (!existed) await rm(stateDir, { recursive: true, force: true }) // leave the folder as we found it
      throw err
    }
  }

  /**
   * The release bytes saved in `<outDir>/.p2pweights/release`, unverified (check them with
   * openRelease), or undefined. Throws UnsafePathError if something else was planted there.
   */
  static async savedRelease (outDir: string): Promise<Uint8Array | undefined> {
    const path = join(outDir, STATE_DIR_NAME, 'release')
    const bytes = await readStateFile(path, MAX_RELEASE_BYTES)
    if (bytes === 'planted') throw new UnsafePathError(`${path} is a symlink or not a plain file, so p2pweights did not write it; delete ${dirname(path)} and fetch again`)
    return bytes
  }

  have (): Bitfield {
    return this.verified
  }

  get complete (): boolean {
    return this.finalized.every((done, i) => done || !this.isWanted(i))
  }

  /** Whether file `fileIndex` is part of this (possibly partial) download. */
  isWanted (fileIndex: number): boolean {
    return this.events.files == null || this.events.files.has(fileIndex)
  }

  /** Bytes of the release already verified on disk. */
  get verifiedBytes (): number {
    let bytes = 0
    for (let i = 0; i < this.index.total; i++) {
      if (!this.verified.has(i) || (this.wanted != null && !this.wanted.has(i))) continue
      const { fileIndex, chunk } = this.index.locate(i)
      bytes += this.index.length(fileIndex, chunk)
    }
    return bytes
  }

  /**
   * Verifies one chunk against the manifest and writes it. Throws ChunkHashMismatchError, and
   * writes nothing, when the bytes are wrong. Returns false when the chunk was already held.
   */
  async writeChunk (global: number, data: Uint8Array): Promise<boolean> {
    if (this.verified.has(global)) return false
    const { fileIndex, chunk } = this.index.locate(global)
    const file = this.release.manifest.files[fileIndex]
    verifyChunk(chunkHash(file, chunk), this.index.length(fileIndex, chunk), [data], `chunk ${chunk} of ${file.path}`)
    if (this.verified.has(global)) return false // another copy landed while we hashed
    const handle = await this.writer(fileIndex)
    // A short write (the disk filled part-way) is finished by writing the rest, which then fails
    // with the file system's own error (ENOSPC) rather than a vague one.
    for (let written = 0; written < data.byteLength;) {
      const { bytesWritten } = await handle.write(data, written, data.byteLength - written, chunk * this.index.chunkSize + written)
      if (bytesWritten === 0) throw new Error(`short write to ${file.path}.part: no byte could be written`)
      written += bytesWritten
    }
    if (this.verified.has(global)) return false
    this.verified.set(global)
    this.dirty.add(fileIndex)
    this.unflushed += data.byteLength
    // Bound what a crash can lose, however fast chunks arrive.
    if (this.unflushed >= FLUSH_EVERY_BYTES) {
      // The chunks stay dirty and the next flush (timer or close) tries again.
      void this.flush().catch((err: Error) => { log.error('flushing %s failed: %s', this.outDir, err.message) })
    }
    const first = this.index.first(fileIndex)
    if (this.verified.hasRange(first, first + this.index.count(fileIndex))) await this.finalize(fileIndex)
    return true
  }

  async readChunk (fileIndex: number, chunk: number, into?: Buffer): Promise<Uint8Array> {
    checkChunk(this.index, fileIndex, chunk)
    return await this.readSlice(fileIndex, chunk, 0, into ?? Buffer.allocUnsafe(this.index.length(fileIndex, chunk)))
  }

  async readSlice (fileIndex: number, chunk: number, offset: number, into: Buffer): Promise<Uint8Array> {
    if (!this.verified.has(checkChunk(this.index, fileIndex, chunk))) throw new ChunkNotHeldError(`chunk ${chunk} of ${this.release.manifest.files[fileIndex].path} is not fetched yet`)
    const length = sliceLength(this.index, fileIndex, chunk, offset, into.length)
    const buffer = into.subarray(0, length)
    const read = async (path: string, final: boolean): Promise<void> => {
      const handle = await openForRead(path)
      try {
        const expected = final ? this.finalIdentity[fileIndex] : undefined
        if (expected != null && !sameFile(await handle.stat(), expected)) {
          throw new SourceUnavailableError(`${path} changed on disk since it was verified; it is not served`)
        }
        const { bytesRead } = await handle.read(buffer, 0, length, chunk * this.index.chunkSize + offset)
        if (bytesRead !== length) throw new Error(`short read from ${path}`)
      } finally {
        await handle.close()
      }
    }
    // The .part may be renamed to its final name between the check and the open.
    const final = this.finalized[fileIndex]
    await read(final ? this.finalPath(fileIndex) : this.partPath(fileIndex), final)
      .catch(async err => { if (err.code === 'ENOENT' && !final) await read(this.finalPath(fileIndex), true); else throw err })
    return buffer
  }

  /** Makes verified chunks durable: fsync the .part files written to, then save the bitfield. */
  async flush (): Promise<void> {
    // A failed flush must not stop the next one: chain on the settled previous flush.
    // The previous flush's error went to its own caller.
    this.flushing = this.flushing.catch(() => {}).then(async () => {
      if (this.dirty.size === 0 || !await exists(this.stateDir)) return
      const snapshot = new Uint8Array(this.verified.bytes)
      const files = [...this.dirty]
      this.dirty = new Set()
      this.unflushed = 0
      try {
        for (const i of files) {
          try {
            await (await this.writers.get(i))?.datasync()
          } catch (err) {
            // Closed under us by finalize(), which fsynced it itself; any other error is real.
            if (!this.finalized[i]) throw err
          }
        }
      } catch (err) {
        for (const i of files) this.dirty.add(i) // the next flush must sync them again
        throw err
      }
      await writeFileAtomic(join(this.stateDir, 'have'), sealHave(snapshot, this.events.stateKey, this.release.cid, this.realOutDir))
    })
    await this.flushing
  }

  /** Closes files; when the download is complete, removes the state folder. */
  async close (): Promise<void> {
    // Closing goes on: the chunks not saved are verified again from the .part files on resume.
    await this.flush().catch((err: Error) => { log.error('last flush of %s failed: %s', this.outDir, err.message) })
    for (const [i, handle] of this.writers) {
      this.writers.delete(i)
      await (await handle.catch(() => undefined))?.close()
    }
    if (this.complete) {
      await rm(this.stateDir, { recursive: true, force: true })
      forgetLock(join(this.stateDir, 'lock'))
      await fsyncDir(this.outDir)
    } else {
      await releaseLock(join(this.stateDir, 'lock'))
    }
  }

  private partPath (fileIndex: number): string {
    return join(this.stateDir, `${fileIndex}.part`)
  }

  private finalPath (fileIndex: number): string {
    return join(this.outDir, ...this.release.manifest.files[fileIndex].path.split('/'))
  }

  private async writer (fileIndex: number): Promise<FileHandle> {
    let handle = this.writers.get(fileIndex)
    if (handle == null) {
      handle = (async () => {
        const { handle: h } = await openPartFile(this.partPath(fileIndex))
        await h.truncate(this.release.manifest.files[fileIndex].size) // sparse; keeps written chunks
        return h
      })()
      this.writers.set(fileIndex, handle)
    }
    return await handle
  }

  /** fsync the .part, then move it to its final name, inside the output folder. */
  private async finalize (fileIndex: number): Promise<void> {
    const handle = this.writers.get(fileIndex)
    this.writers.delete(fileIndex)
    let written: { dev: number, ino: number } | undefined
    if (handle != null) {
      const h = await handle
      await h.datasync()
      written = await h.stat()
      await h.close()
    } else if (this.release.manifest.files[fileIndex].size === 0) {
      const { handle: h } = await openPartFile(this.partPath(fileIndex))
      await h.truncate(0)
      written = await h.stat()
      await h.close()
    }
    // The name must still lead to the file we wrote and verified, not one swapped in since.
    const now = await lstat(this.partPath(fileIndex))
    if (written != null && (now.ino !== written.ino || now.dev !== written.dev)) {
      throw new UnsafePathError(`${this.partPath(fileIndex)} was replaced while we wrote it; is another process writing to ${this.outDir}?`)
    }
    const target = this.finalPath(fileIndex)
    const parent = dirname(target)
    await this.ensureInside(parent)
    await rename(this.partPath(fileIndex), target)
    await fsyncDir(parent)
    this.finalIdentity[fileIndex] = stampOf(await lstat(target))
    this.finalized[fileIndex] = true
    this.events.onFileComplete?.(this.release.manifest.files[fileIndex], fileIndex)
  }

  /**
   * Creates `dir` and checks that, symlinks resolved, it is inside the output folder. The
   * deepest existing ancestor is checked before anything is created, so a symlinked parent
   * pointing elsewhere gets no new folder there either.
   */
  private async ensureInside (dir: string): Promise<void> {
    const check = (path: string, real: string): void => {
      if (!isInside(real, this.realOutDir)) throw new UnsafePathError(`${path} resolves to ${real}, outside the output folder ${this.outDir}; refusing to write there`)
    }
    check(dir, await realPathOfMaybeMissing(dir))
    await mkdir(dir, { recursive: true })
    check(dir, await realpath(dir)) // in case a symlink appeared meanwhile
  }

  /**
   * Brings the bitfield in line with what is on disk after a crash, or in a pre-filled folder.
   * `have` may lag behind the .part files (its flush failed, e.g. on a full disk, or a crash
   * came first): chunks of a .part that `have` does not mark are checked by hashing, so no
   * verified byte is fetched twice. A file already at its final name counts only if every
   * chunk of it matches.
   */
  private async reconcile (adopting: boolean): Promise<void> {
    const files = this.release.manifest.files
    const foreign = (i: number): never => {
      throw new DownloadConflictError(`${this.outDir} already holds ${files[i].path}, which is not that file of release "${this.release.manifest.name}"; ` +
        'choose another output folder (-o), or pass --into-existing to replace it')
    }
    for (let i = 0; i < files.length; i++) {
      const first = this.index.first(i)
      const count = this.index.count(i)
      let part = await lstat(this.partPath(i)).catch(() => undefined)
      if (part != null && !isPlainFile(part)) {
        // Planted (a symlink, a hard link to a file elsewhere): dropped, never read or written.
        if (part.isDirectory()) throw new UnsafePathError(`${this.partPath(i)} is a folder; remove it and fetch again`)
        await rm(this.partPath(i), { force: true })
        part = undefined
      }
      // lstat: a symlink at the final name is not our file; the rename will replace the link.
      const finalStat = await lstat(this.finalPath(i)).catch(() => undefined)
      const finalMatches = finalStat?.isFile() === true && finalStat.size === files[i].size
      if (part != null) {
        // Holes read as zeros and never match; an unallocated .part is not worth reading.
        if (part.blocks > 0) await this.recheck(i, this.partPath(i))
        if (this.verified.hasRange(first, first + count)) await this.finalize(i) // crashed before the rename
        continue
      }
      if (count > 0 && this.verified.hasRange(first, first + count) && finalMatches) {
        this.finalIdentity[i] = stampOf(finalStat)
        this.finalized[i] = true
        continue
      }
      this.clearFile(i) // bits without a .part are stale
      if (finalMatches && await this.recheck(i, this.finalPath(i))) {
        this.finalIdentity[i] = stampOf(finalStat)
        this.finalized[i] = true
      }
      else if (adopting && finalStat != null) foreign(i)
      else if (finalMatches) this.clearFile(i) // a different file under that name: it will be replaced
      else if (files[i].size === 0 && this.isWanted(i)) await this.finalize(i)
    }
  }

  /** Hashes the chunks of `path` not yet marked and marks those that match; true if all are marked. */
  private async recheck (fileIndex: number, path: string): Promise<boolean> {
    const file = this.release.manifest.files[fileIndex]
    const first = this.index.first(fileIndex)
    const handle = await openForRead(path)
    try {
      const buffer = Buffer.allocUnsafe(this.index.chunkSize)
      for (let c = 0; c < this.index.count(fileIndex); c++) {
        if (this.verified.has(first + c)) continue
        const length = this.index.length(fileIndex, c)
        const { bytesRead } = await handle.read(buffer, 0, length, c * this.index.chunkSize)
        try {
          verifyChunk(chunkHash(file, c), length, [buffer.subarray(0, bytesRead)])
          this.verified.set(first + c)
        } catch {
          // not there (yet): fetched again. Expected for every chunk not yet written, so not logged.
        }
      }
    } finally {
      await handle.close()
    }
    return this.verified.hasRange(first, first + this.index.count(fileIndex))
  }

  private clearFile (fileIndex: number): void {
    const first = this.index.first(fileIndex)
    for (let c = 0; c < this.index.count(fileIndex); c++) this.verified.clear(first + c)
  }

  /** Fails early unless the files still to complete can grow to their full size. */
  private async checkFreeSpace (): Promise<void> {
    let needed = 0
    for (let i = 0; i < this.release.manifest.files.length; i++) {
      if (this.finalized[i] || !this.isWanted(i)) continue
      const part = await lstat(this.partPath(i)).catch(() => undefined)
      needed += Math.max(0, this.release.manifest.files[i].size - (part?.blocks ?? 0) * 512)
    }
    const fs = await statfs(this.stateDir)
    const free = fs.bavail * fs.bsize
    if (needed > free) {
      throw new DiskSpaceError(`not enough disk space in ${this.outDir}: ${formatBytes(needed)} more needed, ${formatBytes(free)} free; free some space and run the fetch again (it resumes)`)
    }
  }
}

async function exists (path: string): Promise<boolean> {
  return await lstat(path).then(() => true, () => false)
}

function formatBytes (n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`
}

/** One writer per output folder: a second fetch into the same folder would interleave writes. */
async function takeLock (stateDir: string): Promise<void> {
  try {
    await acquireLock(join(stateDir, 'lock'))
  } catch (err) {
    if (!(err instanceof LockedError)) throw err
    throw new DownloadConflictError(err.pid === 0
      ? `${dirname(stateDir)} is already being written by this process`
      : `another p2pweights process (pid ${err.pid}) is writing to ${dirname(stateDir)}; wait for it or stop it`)
  }
}

interface FileIdentityStamp { dev: number, ino: number, size: number, mtimeMs: number }

function stampOf (s: FileIdentityStamp): FileIdentityStamp {
  return { dev: s.dev, ino: s.ino, size: s.size, mtimeMs: s.mtimeMs }
}

function sameFile (s: FileIdentityStamp, expected: FileIdentityStamp): boolean {
  return s.dev === expected.dev && s.ino === expected.ino && s.size === expected.size && s.mtimeMs === expected.mtimeMs
}
