/**
 * Seeding a folder in place: hash it (or take the hashes from the cache), sign the manifest,
 * register the folder as a chunk source, and announce the release and each file in the DHT.
 * Symlinks are followed only into the folder and the `allowSymlinksInto` roots; the data dir
 * is never seeded, whatever leads there. Cancellable while hashing: an aborted `signal` stops
 * the hash threads, and nothing is saved, served or announced.
 */
import { buildManifest } from '../manifest/build.js'
import { totalSize } from '../manifest/manifest.js'
import { isRepoId } from '../manifest/repo-id.js'
import { signRelease, type Release } from '../manifest/signed.js'
import { HashCache } from '../store/hash-cache.js'
import { loadOrCreateKeyFile, readKeyFile } from '../store/keys.js'
import { dataDirRule, serveFolder, type ServeComponents } from './serve.js'
import type { ProgressOptions, SeedProgressEvents } from './events.js'
import type { NameRecord } from '../names/record.js'
import type { NameService } from '../names/service.js'
import type { DataDir } from '../store/data-dir.js'
import type { AbortOptions } from '@libp2p/interface'

export interface SeedOptions extends AbortOptions, ProgressOptions<SeedProgressEvents> {
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

export interface SeedComponents extends ServeComponents {
  dataDir: ServeComponents['dataDir'] & Pick<DataDir, 'publisherKeyPath' | 'saveRelease'>
  names: Pick<NameService, 'publish'>
  /** This node published the release just now: serve it in initial seeding mode. */
  superSeed: (cid: string) => void
}

export async function seedFolder (components: SeedComponents, folder: string, options: SeedOptions = {}): Promise<SeedResult> {
  const { dataDir } = components
  const key = options.keyFile != null ? await readKeyFile(options.keyFile) : await loadOrCreateKeyFile(dataDir.publisherKeyPath)
  const started = Date.now()
  const { manifest, files, cached, policy } = await buildManifest(folder, {
    allowSymlinksInto: options.allowSymlinksInto,
    ...dataDirRule(dataDir),
    name: options.name,
    chunkSize: options.chunkSize,
    cache: new HashCache(dataDir.hashCacheDir),
    signal: options.signal,
    onProgress: p => options.onProgress?.({ type: 'seed:file:hashing', detail: { file: p.file, bytes: p.bytes, total: p.total } })
  })
  options.signal?.throwIfAborted()
  options.onProgress?.({ type: 'seed:hashed', detail: { files: files.length, cached, bytes: totalSize(manifest), seconds: (Date.now() - started) / 1000 } })
  const release = await signRelease(manifest, key)
  await dataDir.saveRelease(release.cid, release.bytes)
  options.signal?.throwIfAborted()
  await serveFolder(components, release, folder, files, policy)
  if (options.initialSeeding !== false) components.superSeed(release.cid.toString())
  // `--name org/model` also publishes the signed name record, continuing from the highest version found.
  if (options.name != null && isRepoId(options.name)) return { ...release, name: await components.names.publish(key, options.name, release.cid) }
  return release
}
