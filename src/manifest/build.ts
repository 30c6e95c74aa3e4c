/**
 * Builds a manifest from a folder on disk: every regular file, recursively, in a deterministic
 * order (sorted by path), skipping `.git/` and our own `.p2pweights/` state folder (in any
 * letter case). A symlink to a file is followed only when its real path stays inside the folder
 * or inside a root the caller allows (read-policy.ts): a Hugging Face snapshot is a folder of
 * links into `../../blobs/`; a link to a key elsewhere stops the build with an error naming it.
 * Symlinks to folders are not followed, so a link loop cannot make the walk endless.
 *
 * Hashes come from a cache keyed on (path, size, mtime, ctime, device, inode) when it has them,
 * so seeding an unchanged 100 GB folder again does not read it again.
 */
import { readdir, stat } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import drain from 'it-drain'
import parallel from 'it-parallel'
import { InvalidManifestError } from './errors.js'
import { HashPool, type FileHashes } from './hash-pool.js'
import { DEFAULT_CHUNK_SIZE, MANIFEST_VERSION, MAX_FILES, validateManifest, type Manifest } from './manifest.js'
import { STATE_DIR_NAME } from './paths.js'
import { ReadPolicy, type ReadPolicyOptions } from './read-policy.js'

const SKIPPED_DIRS = new Set(['.git', STATE_DIR_NAME])

export interface FileIdentity {
  /** Absolute path. */
  path: string
  size: number
  mtimeMs: number
  ctimeMs: number
  dev: number
  ino: number
  chunkSize: number
  /**
   * When the file was stat'ed, or when reading it for hashing began if later (ms since the
   * epoch): the hash cache's racy rule counts from here.
   */
  seenAt: number
}

/** The identity of a file from a stat of it taken now. */
export function identityFrom (path: string, s: { size: number, mtimeMs: number, ctimeMs: number, dev: number, ino: number }, chunkSize: number, seenAt: number): FileIdentity {
  return { path, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, dev: s.dev, ino: s.ino, chunkSize, seenAt }
}

/** What the builder needs of a hash cache (store/hash-cache.ts implements it). */
export interface HashCacheLike {
  get: (file: FileIdentity) => Promise<FileHashes | undefined>
  set: (file: FileIdentity, hashes: FileHashes) => Promise<void>
}

export interface BuildProgress {
  /** Bytes hashed so far (cached files count at once). */
  bytes: number
  total: number
  file: string
}

export interface BuildOptions extends ReadPolicyOptions {
  name?: string
  chunkSize?: number
  cache?: HashCacheLike
  onProgress?: (progress: BuildProgress) => void
  /** Stops hashing: buildManifest rejects with the signal's reason, the hash threads stop. */
  signal?: AbortSignal
}

export interface ScannedFile extends FileIdentity {
  /** Relative POSIX path inside the folder. */
  relative: string
}

/**
 * Lists the files a manifest of `folder` would hold, sorted by relative path. Throws
 * SymlinkEscapeError or ForbiddenFolderError for a file the read policy refuses.
 */
export async function scanFolder (folder: string, chunkSize = DEFAULT_CHUNK_SIZE, policy?: ReadPolicy): Promise<ScannedFile[]> {
  const root = resolve(folder)
  const rootStat = await stat(root).catch(() => undefined)
  if (rootStat?.isDirectory() !== true) throw new InvalidManifestError(`${folder} is not a folder`)
  policy ??= await ReadPolicy.create(root)
  const files: ScannedFile[] = []
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true })
    for (const entry of entries) {
      const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`
      const path = join(dir, entry.name)
      // Skipped as files too: a git worktree or submodule has a `.git` file.
      if (SKIPPED_DIRS.has(entry.name.toLowerCase())) continue
      if (entry.isDirectory()) {
        await walk(path, relative)
        continue
      }
      if (!entry.isFile() && !entry.isSymbolicLink()) continue
      const seenAt = Date.now()
      const s = await stat(path).catch(() => undefined) // follows a symlink; a dangling one is skipped
      if (s?.isFile() !== true) continue
      await policy.checkFile(path, relative, s, entry.isFile())
      files.push({ ...identityFrom(path, s, chunkSize, seenAt), relative })
      if (files.length > MAX_FILES) throw new InvalidManifestError(`${folder} holds more than ${MAX_FILES} files`)
    }
  }
  await walk(root, '')
  files.sort((a, b) => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0))
  return files
}

export interface BuildResult {
  manifest: Manifest
  files: ScannedFile[]
  /** The policy the files were checked against; serving checks every open against it again. */
  policy: ReadPolicy
  /** How many files' hashes came from the cache. */
  cached: number
}

export async function buildManifest (folder: string, options: BuildOptions = {}): Promise<BuildResult> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE
  const policy = await ReadPolicy.create(folder, options)
  const files = await scanFolder(folder, chunkSize, policy)
  const total = files.reduce((sum, f) => sum + f.size, 0)
  let hashed = 0
  let cachedFiles = 0
  const report = (file: string): void => options.onProgress?.({ bytes: hashed, total, file })

  const hashes: FileHashes[] = new Array(files.length)
  let pool: HashPool | undefined
  try {
    const jobs = files.map((file, i) => async () => {
      options.signal?.throwIfAborted()
      const cached = await options.cache?.get(file)
      if (cached != null) {
        hashes[i] = cached
        cachedFiles++
        hashed += file.size
        report(file.relative)
        return
      }
      pool ??= new HashPool(undefined, options.signal)
      // Reading starts after this moment: any write after it shows as a newer ctime, so the
      // cache's racy rule may count from here rather than from the scan.
      const readFrom = Date.now()
      hashes[i] = await pool.hashFile(file.path, file.size, chunkSize, bytes => {
        hashed += bytes
        report(file.relative)
      }, file)
      await options.cache?.set({ ...file, seenAt: readFrom }, hashes[i])
    })
    // Bounded, so a folder of many small files does not open them all at once.
    await drain(parallel(jobs, { concurrency: 8 }))
    options.signal?.throwIfAborted()
  } finally {
    await pool?.close()
  }

  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    name: options.name ?? basename(resolve(folder)),
    chunkSize,
    files: files.map((f, i) => ({ path: f.relative, size: f.size, sha256: hashes[i].sha256, chunks: hashes[i].chunks }))
  }
  validateManifest(manifest)
  return { manifest, files, cached: cachedFiles, policy }
}
