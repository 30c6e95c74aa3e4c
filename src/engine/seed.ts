/**
 * Seeding a folder in place: hash it (or take the hashes from the cache), sign the manifest,
 * register the folder as a chunk source, and announce the release and each file in the DHT.
 * Symlinks are followed only into the folder and the `allowSymlinksInto` roots; the data dir
 * is never seeded, whatever leads there.
 */
import { buildManifest } from '../manifest/build.js'
import { totalSize } from '../manifest/manifest.js'
import { isRepoId } from '../manifest/repo-id.js'
import { signRelease, type Release } from '../manifest/signed.js'
import { HashCache } from '../store/hash-cache.js'
import { loadOrCreateKeyFile, readKeyFile } from '../store/keys.js'
import { dataDirRule, serveFolder } from './serve.js'
import type { Engine } from './engine.js'
import type { NameRecord } from '../names/record.js'

export interface SeedOptions {
  /** Serve in initial seeding mode (every chunk out once before any twice); default on. */
  initialSeeding?: boolean
  /** Publisher key file; default: the data dir's publisher.key, created on first use. */
  keyFile?: string
  name?: string
  chunkSize?: number
  /**
   * Folders outside the seeded one that its symlinks may point into (e.g. a Hugging Face
   * cache's `blobs/` when seeding `snapshots/<rev>/`). Any other link leaving the folder stops
   * the seed with SymlinkEscapeError.
   */
  allowSymlinksInto?: string[]
}

/** A seeded release; `name` is the signed name record published for it (a name `org/model`). */
export type SeedResult = Release & { name?: NameRecord }

export async function seedFolder (engine: Engine, folder: string, options: SeedOptions): Promise<SeedResult> {
  const key = options.keyFile != null ? await readKeyFile(options.keyFile) : await loadOrCreateKeyFile(engine.dataDir.publisherKeyPath)
  const started = Date.now()
  const { manifest, files, cached, policy } = await buildManifest(folder, {
    allowSymlinksInto: options.allowSymlinksInto,
    ...dataDirRule(engine),
    name: options.name,
    chunkSize: options.chunkSize,
    cache: new HashCache(engine.dataDir.hashCacheDir),
    onProgress: p => engine.emit({ event: 'hashing', file: p.file, bytes: p.bytes, total: p.total })
  })
  engine.emit({ event: 'hashed', files: files.length, cached, bytes: totalSize(manifest), seconds: (Date.now() - started) / 1000 })
  const release = await signRelease(manifest, key)
  await engine.dataDir.saveRelease(release.cid, release.bytes)
  await serveFolder(engine, release, folder, files, policy)
  if (options.initialSeeding !== false) engine.superSeed(release.cid.toString())
  // `--name org/model` also publishes the signed name record, continuing from the highest version found.
  if (options.name != null && isRepoId(options.name)) return { ...release, name: await engine.names.publish(key, options.name, release.cid) }
  return release
}
