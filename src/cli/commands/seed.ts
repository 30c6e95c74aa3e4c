/** `p2pweights seed <folder>`: hash, sign, serve in place and announce, until a signal. */
import { Engine } from '../../engine/engine.js'
import { totalSize } from '../../manifest/manifest.js'
import { engineOptions, type NodeFlags } from '../options.js'
import { Reporter, formatBytes } from '../reporter.js'
import { ShutdownSignal } from './shutdown-signal.js'

export interface SeedFlags extends NodeFlags {
  key?: string
  name?: string
  /** MiB */
  chunkSize: number
}

export async function seed (folder: string, flags: SeedFlags): Promise<void> {
  const shutdown = new ShutdownSignal()
  const reporter = new Reporter(flags.json === true)
  const engine = await Engine.create({ ...engineOptions(flags), onEvent: reporter.on })
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
