/** `p2pweights seed <folder>`: hash, sign, serve in place and announce, until a signal. */
import { Engine } from '../../engine/engine.js'
import { totalSize } from '../../manifest/manifest.js'
import { engineOptions, type NodeFlags } from '../options.js'
import { Reporter, formatBytes } from '../reporter.js'
import { DaemonClient } from '../daemon-client.js'
import { ShutdownSignal } from './shutdown-signal.js'
import { seedThroughDaemon } from './through-daemon.js'

export const DEFAULT_CHUNK_MIB = 4

export interface SeedFlags extends NodeFlags {
  key?: string
  name?: string
  /** MiB */
  chunkSize: number
  /** MB/s, 0 = none */
  maxUploadRate?: number
  /** false with --no-daemon */
  daemon: boolean
}

export async function seed (folder: string, flags: SeedFlags): Promise<void> {
  const reporter = new Reporter(flags.json === true)
  const options = engineOptions(flags)
  const client = flags.daemon ? await DaemonClient.find(options.dataDir) : undefined
  if (client != null) {
    if (flags.key != null || flags.chunkSize !== DEFAULT_CHUNK_MIB) {
      throw new Error(`a daemon is running for ${options.dataDir} and seeds with its own key and chunk size; drop --key/--chunk-size, or stop the daemon, or use another --data-dir with --no-daemon`)
    }
    await seedThroughDaemon(client, folder, flags.name, reporter)
    return
  }
  const shutdown = new ShutdownSignal()
  const engine = await Engine.create({ ...options, uploadRate: Math.round((flags.maxUploadRate ?? 0) * 1e6), sharedDataDir: 'temporary-identity', onEvent: reporter.on })
  try {
    await engine.start()
    const release = await engine.seed(folder, { keyFile: flags.key, name: flags.name, chunkSize: flags.chunkSize * 1024 * 1024 })
    reporter.stopBar()
    const cid = release.cid.toString()
    reporter.result({ event: 'ready', cid, peerId: engine.peerId, publisher: release.publisher, addrs: engine.addrs })
    if (flags.json !== true) {
      process.stdout.write(cid + '\n')
      reporter.info([
        `seeding ${release.manifest.name}: ${release.manifest.files.length} file(s), ${formatBytes(totalSize(release.manifest))}`,
        `  publisher ${release.publisher}`,
        `  peer      ${engine.peerId}`,
        ...engine.addrs.map(a => `  address   ${a}`),
        `fetch it with: p2pweights fetch ${cid}`,
        'press Ctrl-C to stop'
      ].join('\n'))
    }
    await shutdown.wait()
  } finally {
    shutdown.dispose()
    await engine.stop()
  }
}
