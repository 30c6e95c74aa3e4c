/** `p2pweights fetch <cid>`: find, verify and download a release; optionally keep seeding it. */
import { Engine } from '../../engine/engine.js'
import { engineOptions, type NodeFlags } from '../options.js'
import { Reporter, formatBytes } from '../reporter.js'
import { runUntilSignal } from './run-until-signal.js'

export interface FetchFlags extends NodeFlags {
  output?: string
  trust?: string[]
  peer?: string[]
  findTimeout: number
  stallTimeout: number
  seed?: boolean
}

export async function fetch (cid: string, flags: FetchFlags): Promise<void> {
  const reporter = new Reporter(flags.json === true)
  const engine = await Engine.create({ ...engineOptions(flags), onEvent: reporter.on })
  const interrupted = new AbortController()
  const onSignal = (): void => interrupted.abort(new Error('interrupted; run the same command again to resume'))
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
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
      signal: interrupted.signal
    })
    reporter.stopBar()
    const seconds = (Date.now() - started) / 1000
    reporter.result({ event: 'done', ...summary, seconds })
    if (flags.json !== true) {
      process.stdout.write(summary.path + '\n')
      reporter.info(`fetched ${formatBytes(summary.bytes)} into ${summary.path} (${formatBytes(summary.downloaded)} from ${Object.keys(summary.fromPeers).length} peer(s) in ${seconds.toFixed(1)} s), signed by ${summary.publisher}`)
    }
  } catch (err) {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await engine.stop()
    throw err
  }
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  if (flags.seed === true) {
    reporter.info('seeding; press Ctrl-C to stop')
    await runUntilSignal(async () => { await engine.stop() })
  } else {
    await engine.stop()
  }
}
