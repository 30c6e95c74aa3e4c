/** `p2pweights fetch <cid>`: find, verify and download a release; optionally keep seeding it. */
import { Engine } from '../../engine/engine.js'
import { engineOptions, type NodeFlags } from '../options.js'
import { Reporter, formatBytes } from '../reporter.js'
import { DaemonClient } from '../daemon-client.js'
import { ShutdownSignal } from './shutdown-signal.js'
import { fetchThroughDaemon } from './through-daemon.js'

export interface FetchFlags extends NodeFlags {
  output?: string
  trust?: string[]
  peer?: string[]
  findTimeout: number
  stallTimeout: number
  maxDownloadRate?: number
  maxUploadRate?: number
  seed?: boolean
  /** With a daemon: wait for the fetch to complete. */
  wait?: boolean
  /** false with --no-daemon */
  daemon: boolean
}

export async function fetch (cid: string, flags: FetchFlags): Promise<void> {
  const shutdown = new ShutdownSignal()
  const reporter = new Reporter(flags.json === true)
  const options = engineOptions(flags)
  const client = flags.daemon ? await DaemonClient.find(options.dataDir) : undefined
  if (client != null) {
    try {
      await fetchThroughDaemon(client, cid, { outDir: flags.output, trust: flags.trust, peers: flags.peer, wait: flags.wait }, reporter, shutdown.signal)
    } finally {
      shutdown.dispose()
    }
    return
  }
  const engine = await Engine.create({ ...options, downloadRate: Math.round((flags.maxDownloadRate ?? 0) * 1e6), uploadRate: Math.round((flags.maxUploadRate ?? 0) * 1e6), sharedDataDir: 'temporary-identity', onEvent: reporter.on })
  const started = Date.now()
  try {
    await engine.start()
    const summary = await engine.fetch(cid, {
      outDir: flags.output,
      trust: flags.trust,
      peers: flags.peer,
      findTimeout: flags.findTimeout,
      stallTimeout: flags.stallTimeout,
      keepSeeding: flags.seed,
      signal: shutdown.signal
    })
    reporter.stopBar()
    const seconds = (Date.now() - started) / 1000
    reporter.result({ event: 'done', ...summary, seconds })
    if (flags.json !== true) {
      process.stdout.write(summary.path + '\n')
      reporter.info(`fetched ${formatBytes(summary.bytes)} into ${summary.path} (${formatBytes(summary.downloaded)} from ${Object.keys(summary.fromPeers).length} peer(s) in ${seconds.toFixed(1)} s), signed by ${summary.publisher}`)
    }
    if (flags.seed === true) {
      reporter.info('seeding; press Ctrl-C to stop')
      await shutdown.wait()
    }
  } finally {
    shutdown.dispose()
    await engine.stop()
  }
}
