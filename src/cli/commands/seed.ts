/** `p2pweights seed <folder>`: hash, sign, serve in place and announce, until a signal. */
import { totalSize } from '../../manifest/manifest.js'
import { engineOptions, type NodeFlags } from '../options.js'
import { Reporter, formatBytes } from '../reporter.js'
import { openBackend } from '../backend.js'
import { ShutdownSignal } from './shutdown-signal.js'
import { sanitizeText } from '../../util/terminal-text.js'
import { resolve } from 'node:path'
import { defaultHfCacheDir, resolveSnapshot } from '../../store/hf-cache.js'


export interface SeedFlags extends NodeFlags {
  key?: string
  name?: string
  /** MiB */
  chunkSize: number
  allowSymlinksInto?: string[]
  /** MB/s, 0 = none */
  maxUploadRate?: number
  /** false with --no-daemon */
  daemon: boolean
  /** true: the default HF cache; a string: that cache folder, or the repo id when no folder is given. */
  hfCache?: string | boolean
}

/** `seed <folder>`, or with --hf-cache the snapshot of `org/name` (see program.ts). */
async function seedTarget (folderArg: string | undefined, flags: SeedFlags): Promise<{ folder: string, name?: string, symlinkRoots?: string[] }> {
  if (flags.hfCache == null || flags.hfCache === false) {
    if (folderArg == null) throw new Error('seed needs a folder (or --hf-cache org/name)')
    return { folder: folderArg, name: flags.name }
  }
  const repoId = folderArg ?? (typeof flags.hfCache === 'string' ? flags.hfCache : undefined)
  if (repoId == null) throw new Error('seed --hf-cache needs the repo id: seed --hf-cache org/name')
  const cacheDir = typeof flags.hfCache === 'string' && folderArg != null ? resolve(flags.hfCache) : defaultHfCacheDir()
  const snapshot = await resolveSnapshot(cacheDir, repoId)
  return { folder: snapshot.folder, name: flags.name ?? repoId, symlinkRoots: [snapshot.blobsDir] }
}

export async function seed (folderArg: string | undefined, flags: SeedFlags): Promise<void> {
  const reporter = new Reporter(flags.json === true)
  const options = engineOptions(flags)
  const { folder, name, symlinkRoots } = await seedTarget(folderArg, flags)
  const roots = [...(symlinkRoots ?? []), ...(flags.allowSymlinksInto ?? []).map(r => resolve(r))]
  const allowSymlinksInto = roots.length > 0 ? roots : undefined
  const shutdown = new ShutdownSignal()
  try {
    const backend = await openBackend(flags.daemon, { ...options, uploadRate: Math.round((flags.maxUploadRate ?? 0) * 1e6), onEvent: reporter.on })
    try {
      if (backend.where === 'daemon') reporter.info(`handing ${folder} to ${backend.describe} (it hashes, then seeds it)`)
      const outcome = await backend.seed({ folder, name, keyFile: flags.key, chunkSize: flags.chunkSize * 1024 * 1024, allowSymlinksInto, signal: shutdown.signal, onProgress: reporter.onProgress })
      reporter.stopBar()
      if (outcome.where === 'daemon') {
        // The daemon keeps seeding it; this command is done.
        const { model } = outcome
        reporter.result({ event: 'added', ...model })
        if (!reporter.json) {
          process.stdout.write(model.cid + '\n')
          reporter.info(`the daemon seeds ${sanitizeText(model.name)} (${formatBytes(model.bytes ?? 0)}); see \`p2pweights ls\``)
        }
        return
      }
      const { release, peerId, addrs, reachability: reach } = outcome
      const cid = release.cid.toString()
      const named = release.name != null ? { name: release.name.name, version: release.name.version } : {}
      reporter.result({ event: 'ready', cid, peerId, publisher: release.publisher, addrs, reachability: reach, ...named })
      if (!reporter.json) {
        process.stdout.write(cid + '\n')
        reporter.info([
          `seeding ${release.manifest.name}: ${release.manifest.files.length} file(s), ${formatBytes(totalSize(release.manifest))}`,
          `  publisher ${release.publisher}`,
          `  peer      ${peerId}`,
          ...addrs.map(a => `  address   ${a}`),
          `  reachable ${reach.state}: ${reach.reason}`,
          `fetch it with: p2pweights fetch ${cid}`,
          ...(release.name != null ? [`  or by name: p2pweights fetch ${release.name.publisher}/${release.name.name} (version ${release.name.version})`] : []),
          'press Ctrl-C to stop'
        ].join('\n'))
      }
      await shutdown.wait()
    } finally {
      await backend.close()
    }
  } finally {
    shutdown.dispose()
  }
}
