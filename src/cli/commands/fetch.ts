/** `p2pweights fetch <cid>`: find, verify and download a release; optionally keep seeding it. */
import { engineOptions, type NodeFlags } from '../options.js'
import { Reporter, formatBytes } from '../reporter.js'
import { openBackend } from '../backend.js'
import { ShutdownSignal } from './shutdown-signal.js'
import { sanitizeText } from '../../util/terminal-text.js'
import { resolve } from 'node:path'
import { defaultHfCacheDir } from '../../store/hf-cache.js'
import type { Command } from 'commander'

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

export async function fetch (ref: string, flags: FetchFlags, command?: Command): Promise<void> {
  // Limits the user gave; the rest are left to the engine, or to a running daemon's own flags.
  const given = (name: keyof FetchFlags): boolean => command == null || command.getOptionValueSource(name) === 'cli'
  const shutdown = new ShutdownSignal()
  const reporter = new Reporter(flags.json === true)
  try {
    const options = engineOptions(flags)
    const hfCache = flags.hfCache == null || flags.hfCache === false ? undefined : flags.hfCache === true ? defaultHfCacheDir() : resolve(flags.hfCache)
    if (hfCache != null && flags.output != null) throw new Error('--hf-cache and --output both say where to write; use one of them')
    const backend = await openBackend(flags.daemon, {
      ...options,
      downloadRate: Math.round((flags.maxDownloadRate ?? 0) * 1e6),
      uploadRate: Math.round((flags.maxUploadRate ?? 0) * 1e6),
      onEvent: reporter.on
    })
    const started = Date.now()
    try {
      const outcome = await backend.fetch({
        ref,
        outDir: flags.output,
        trust: flags.trust,
        peers: flags.peer,
        include: flags.include,
        exclude: flags.exclude,
        hfCache,
        findTimeout: given('findTimeout') ? flags.findTimeout : undefined,
        stallTimeout: given('stallTimeout') ? flags.stallTimeout : undefined,
        keepSeeding: flags.seed,
        intoExisting: flags.intoExisting,
        allowExpired: flags.allowExpired,
        wait: flags.wait,
        signal: shutdown.signal,
        onProgress: reporter.onProgress
      })
      reporter.stopBar()
      if (outcome.where === 'daemon') {
        reporter.result({ event: 'added', ...outcome.model })
        const done = outcome.done
        if (done == null) {
          reporter.info(`${backend.describe} is fetching ${outcome.model.cid}; follow it with \`p2pweights ls\` (or fetch --wait)`)
          return
        }
        reporter.result({ event: 'done', cid: done.cid, path: done.path, bytes: done.bytes, downloaded: done.downloaded, publisher: done.publisher })
        if (!reporter.json) process.stdout.write(sanitizeText(done.path) + '\n')
        return
      }
      const { summary } = outcome
      const seconds = (Date.now() - started) / 1000
      reporter.result({ event: 'done', ...summary, seconds })
      if (!reporter.json) {
        process.stdout.write(sanitizeText(summary.path) + '\n') // the folder is named after the release
        reporter.info(`fetched ${formatBytes(summary.bytes)} into ${summary.path} (${formatBytes(summary.downloaded)} from ${Object.keys(summary.fromPeers).length} peer(s) in ${seconds.toFixed(1)} s), signed by ${summary.publisher}`)
      }
      if (flags.seed === true) {
        reporter.result({ event: 'seeding', cid: summary.cid, peerId: outcome.peerId, addrs: outcome.addrs })
        reporter.info(`seeding at ${outcome.addrs.join(' ')}; press Ctrl-C to stop`)
        await shutdown.wait()
      }
    } finally {
      reporter.stopBar()
      await backend.close()
    }
  } finally {
    shutdown.dispose()
  }
}
