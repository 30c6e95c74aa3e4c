/** `p2pweights fetch <cid>`: find, verify and download a release; optionally keep seeding it. */
import { Engine } from '../../engine/engine.js'
import { fetchName } from '../../engine/fetch-name.js'
import { isNameRef } from '../../names/ref.js'
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
  seed?: boolean
  /** With a daemon: wait for the fetch to complete. */
  wait?: boolean
  /** false with --no-daemon */
  daemon: boolean
  allowExpired?: boolean
}

export async function fetch (cid: string, flags: FetchFlags): Promise<void> {
  const shutdown = new ShutdownSignal()
  const reporter = new Reporter(flags.json === true)
  const options = engineOptions(flags)
  const client = flags.daemon ? await DaemonClient.find(options.dataDir) : undefined
  if (client != null) {
    try {
      await fetchThroughDaemon(client, cid, { outDir: flags.output, trust: flags.trust, peers: flags.peer, wait: flags.wait, allowExpired: flags.allowExpired }, reporter, shutdown.signal)
    } finally {
      shutdown.dispose()
    }
    return
  }
  const engine = await Engine.create({ ...options, sharedDataDir: 'temporary-identity', onEvent: reporter.on })
  const started = Date.now()
  try {
    await engine.start()
    const fetchOptions = {
      outDir: flags.output,
      trust: flags.trust,
      peers: flags.peer,
      findTimeout: flags.findTimeout,
      stallTimeout: flags.stallTimeout,
      keepSeeding: flags.seed,
      signal: shutdown.signal
    }
    // A name (publisher/org/model) is resolved under the name rules first; a CID is fetched as is.
    const summary = isNameRef(cid)
      ? await fetchName(engine, cid, { ...fetchOptions, allowExpired: flags.allowExpired })
      : await engine.fetch(cid, fetchOptions)
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
