/**
 * Seeding a folder in place: hash it (or take the hashes from the cache), sign the manifest,
 * register the folder as a chunk source, and announce the release and each file in the DHT.
 */
import { buildManifest } from '../manifest/build.js'
import { totalSize } from '../manifest/manifest.js'
import { signRelease, type Release } from '../manifest/signed.js'
import { HashCache } from '../store/hash-cache.js'
import { loadOrCreateKeyFile, readKeyFile } from '../store/keys.js'
import { serveFolder } from './serve.js'
import type { Engine } from './engine.js'

export interface SeedOptions {
  /** Serve in initial seeding mode (every chunk out once before any twice); default on. */
  initialSeeding?: boolean
  /** Publisher key file; default: the data dir's publisher.key, created on first use. */
  keyFile?: string
  name?: string
  chunkSize?: number
}

export async function seedFolder (engine: Engine, folder: string, options: SeedOptions): Promise<Release> {
  const key = options.keyFile != null ? await readKeyFile(options.keyFile) : await loadOrCreateKeyFile(engine.dataDir.publisherKeyPath)
  const started = Date.now()
  const { manifest, files, cached } = await buildManifest(folder, {
    name: options.name,
    chunkSize: options.chunkSize,
    cache: new HashCache(engine.dataDir.hashCacheDir),
    onProgress: p => engine.emit({ event: 'hashing', file: p.file, bytes: p.bytes, total: p.total })
  })
  engine.emit({ event: 'hashed', files: files.length, cached, bytes: totalSize(manifest), seconds: (Date.now() - started) / 1000 })
  const release = await signRelease(manifest, key)
  await engine.dataDir.saveRelease(release.cid, release.bytes)
  await serveFolder(engine, release, folder, files)
  if (options.initialSeeding !== false) engine.superSeed(release.cid.toString())
  return release
}
