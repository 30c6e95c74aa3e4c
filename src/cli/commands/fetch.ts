/** `p2pweights fetch <cid>`: find, verify and download a release; optionally keep seeding it. */
import { Engine } from '../../engine/engine.js'
import { isNameRef } from '../../names/ref.js'
import { engineOptions, type NodeFlags } from '../options.js'
import { Reporter, formatBytes } from '../reporter.js'
import { DaemonClient } from '../daemon-client.js'
import { ShutdownSignal } from './shutdown-signal.js'
import { fetchThroughDaemon } from './through-daemon.js'
import { sanitizeText } from '../../util/terminal-text.js'
import { resolve } from 'node:path'
import { defaultHfCacheDir } from '../../store/hf-cache.js'

export interface FetchFlags extends NodeFlags {
  output?: string
  trust?: string[]
  peer?: string[]
  findTimeout: number
  stallTimeout: number
  maxDownloadRate?: number
  maxUploadRate?: number
  seed?: boolean
  include?: string[]
  exclude?: string[]
  /** true: the default HF cache; a string: that cache folder. */
  hfCache?: string | boolean
  /** Write into a folder that holds other files. */
  intoExisting?: boolean
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
  const hfCache = flags.hfCache == null || flags.hfCache === false ? undefined : flags.hfCache === true ? defaultHfCacheDir() : resolve(flags.hfCache)
  if (hfCache != null && flags.output != null) throw new Error('--hf-cache and --output both say where to write; use one of them')
  const selection = { include: flags.include, exclude: flags.exclude, hfCache }
  const client = flags.daemon ? await DaemonClient.find(options.dataDir) : undefined
  if (client != null) {
    if (flags.intoExisting === true) {
      shutdown.dispose()
      throw new Error(`a daemon is running for ${options.dataDir}; --into-existing is not passed through it yet: choose an empty output folder, or stop the daemon, or use --no-daemon`)
    }
    try {
      await fetchThroughDaemon(client, cid, { outDir: flags.output, trust: flags.trust, peers: flags.peer, wait: flags.wait, allowExpired: flags.allowExpired, ...selection }, reporter, shutdown.signal)
    } finally {
      shutdown.dispose()
    }
    return
  }
  const engine = await Engine.create({ ...options, downloadRate: Math.round((flags.maxDownloadRate ?? 0) * 1e6), uploadRate: Math.round((flags.maxUploadRate ?? 0) * 1e6), sharedDataDir: 'temporary-identity', onEvent: reporter.on })
  const started = Date.now()
  try {
    await engine.start()
    const fetchOptions = {
      outDir: flags.output,
      trust: flags.trust,
      peers: flags.peer,
      ...selection,
      findTimeout: flags.findTimeout,
      stallTimeout: flags.stallTimeout,
      keepSeeding: flags.seed,
      intoExisting: flags.intoExisting,
      signal: shutdown.signal,
      onProgress: reporter.onProgress
    }
    // A name (publisher/org/model) is resolved under the name rules first; a CID is fetched as is.
    const summary = isNameRef(cid)
      ? await engine.fetchName(cid, { ...fetchOptions, allowExpired: flags.allowExpired })
      : await engine.fetch(cid, fetchOptions)
    reporter.stopBar()
    const seconds = (Date.now() - started) / 1000
    reporter.result({ event: 'done', ...summary, seconds })
    if (flags.json !== true) {
      process.stdout.write(sanitizeText(summary.path) + '\n') // the folder is named after the release
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
