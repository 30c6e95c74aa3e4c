/**
 * Where a fetch writes and what it fetches: the output folder (default `<baseDir>/<name>`,
 * `org/name` as `org--name`), or a Hugging Face cache entry (--hf-cache: a staging folder,
 * placed into blobs/ and snapshots/ once complete), and which files (--include/--exclude).
 */
import { join, resolve } from 'node:path'
import { defaultFolderName, hfCommit } from '../manifest/repo-id.js'
import { selectFiles, type FileSelection } from '../manifest/select.js'
import { HfCacheEntry, type CachedFile } from '../store/hf-cache.js'
import type { Release } from '../manifest/signed.js'

export interface TargetOptions extends FileSelection {
  outDir?: string
  baseDir?: string
  /** Write the release as an entry of this Hugging Face hub cache. */
  hfCache?: string
}

export interface FetchTarget {
  /** Where the Download writes. */
  outDir: string
  /** The files to fetch; undefined = all. */
  files?: Set<number>
  /** Prepares the folder before the Download opens it. */
  prepare: () => Promise<void>
  /** Folders outside the served one that its symlinks lead into (an HF cache's blobs/). */
  symlinkRoots?: string[]
  /** After the download completed: moves files into place; returns the folder to serve. */
  finish: () => Promise<string>
}

export function planTarget (release: Release, options: TargetOptions): FetchTarget {
  const { manifest } = release
  const files = selectFiles(manifest, options)
  if (options.hfCache == null) {
    const outDir = resolve(options.outDir ?? join(options.baseDir ?? '.', defaultFolderName(manifest.name)))
    return { outDir, files, prepare: async () => {}, finish: async () => outDir }
  }
  const entry = new HfCacheEntry(options.hfCache, manifest.name)
  const commit = hfCommit(release.cid)
  const cached: CachedFile[] = manifest.files
    .filter((_, i) => files == null || files.has(i))
    .map(f => ({ path: f.path, size: f.size, sha256: Buffer.from(f.sha256).toString('hex') }))
  return {
    outDir: entry.stagingDir(commit),
    files,
    symlinkRoots: [entry.blobsDir],
    prepare: async () => { await entry.prefillStaging(commit, cached, release.bytes) },
    finish: async () => await entry.place(commit, cached)
  }
}
