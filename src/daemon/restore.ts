/**
 * A restarted daemon serves again what it seeded and fetched before (from the hash cache: no
 * re-reading), after checking each folder against --allow-folder and --trust as they are now,
 * and resumes unfinished fetches. A folder that no longer holds its release is marked `changed`.
 */
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import { FolderChangedError } from '../engine/errors.js'
import { totalSize } from '../manifest/manifest.js'
import { isRepoId } from '../manifest/repo-id.js'
import { selectFiles } from '../manifest/select.js'
import type { FetchSupervisor } from './fetch-supervisor.js'
import type { FetchRecord } from './model-store.js'
import type { FolderPolicy, TrustPolicy } from './policy.js'
import type { ModelRegistry } from './registry.js'
import type { Engine } from '../engine/engine.js'

const log = logger('p2pweights:daemon:restore')

export interface RestoreComponents {
  engine: Pick<Engine, 'serve' | 'savedRelease' | 'resumeName'>
  registry: Pick<ModelRegistry, 'load' | 'add' | 'describe'>
  folders: Pick<FolderPolicy, 'seedFolder' | 'outputFolder'>
  trust: Pick<TrustPolicy, 'forFetch'>
  fetches: Pick<FetchSupervisor, 'start'>
}

export async function restoreModels (components: RestoreComponents, onWarning: (message: string) => void): Promise<void> {
  const { engine, registry, folders, fetches } = components
  for (const record of await registry.load()) {
    const served = record.kind === 'seed' ? record.folder : record.complete ? record.outDir : undefined
    const entry = registry.add(record, served != null ? 'hashing' : 'queued')
    if (served == null) {
      fetches.start(entry)
      continue
    }
    try {
      // --allow-folder and --trust may have changed since it was added.
      if (record.kind === 'seed') await folders.seedFolder(served)
      else await checkFetched(components, record, served)
      const selection = record.kind === 'fetch' ? record : {}
      // An HF snapshot's links lead into its entry's blobs/ (snapshots/<commit>/ -> ../../blobs).
      const roots = record.kind === 'seed' ? record.symlinkRoots : record.hfCache != null ? [join(served, '..', '..', 'blobs')] : undefined
      const release = await engine.serve(record.cid, served, { ...selection, allowSymlinksInto: roots })
      if (record.kind === 'seed' && isRepoId(record.name)) {
        // A seed published under a name keeps its record fresh, if it is still the newest.
        engine.resumeName(record.name, release.cid).catch(err => {
          onWarning(`republishing the name ${record.name} failed: ${String(err.message)}`)
        })
      }
      // A partial fetch counts the files it holds.
      const held = selectFiles(release.manifest, selection)
      const bytes = held == null ? totalSize(release.manifest) : [...held].reduce((n, i) => n + release.manifest.files[i].size, 0)
      registry.describe(entry, release.publisher, held?.size ?? release.manifest.files.length, bytes)
      entry.verifiedBytes = entry.bytes ?? 0
      entry.state = 'seeding'
    } catch (err: any) {
      log('serving %s again failed: %e', record.cid, err)
      entry.state = err instanceof FolderChangedError ? 'changed' : 'failed'
      entry.error = `${String(err.message)}; remove it, or seed the folder again to publish what it holds now`
    }
  }
}

/** A completed fetch is served again only if its folder and its publisher are still allowed. */
async function checkFetched (components: RestoreComponents, record: FetchRecord, folder: string): Promise<void> {
  await components.folders.outputFolder(folder)
  const trusted = components.trust.forFetch(record.trust)
  if (trusted.length === 0) return
  await components.engine.savedRelease(record.cid, trusted) // UntrustedPublisherError
}
