/**
 * `seed` and `fetch` while a daemon runs for the same data dir: the work goes to the daemon
 * (which keeps seeding it) and the command returns, as the ipfs CLI does with a running daemon.
 */
import { resolve } from 'node:path'
import { formatBytes, Reporter } from '../reporter.js'
import { sanitizeText } from '../../util/terminal-text.js'
import type { DaemonClient } from '../daemon-client.js'
import type { ModelInfo } from '../../daemon/service.js'

export async function seedThroughDaemon (client: DaemonClient, folder: string, name: string | undefined, reporter: Reporter, symlinkRoots?: string[]): Promise<void> {
  reporter.info(`handing ${folder} to the daemon at ${client.url} (it hashes, then seeds it)`)
  const model = await client.addSeed({ folder: resolve(folder), name, ...(symlinkRoots != null ? { symlinkRoots } : {}) })
  reporter.result({ event: 'added', ...model })
  if (!reporter.json) {
    process.stdout.write(model.cid + '\n')
    reporter.info(`the daemon seeds ${sanitizeText(model.name)} (${formatBytes(model.bytes ?? 0)}); see \`p2pweights ls\``)
  }
}

export interface FetchThroughDaemon {
  outDir?: string
  trust?: string[]
  peers?: string[]
  wait?: boolean
  include?: string[]
  exclude?: string[]
  hfCache?: string
  allowExpired?: boolean
}

export async function fetchThroughDaemon (client: DaemonClient, cid: string, flags: FetchThroughDaemon, reporter: Reporter, signal: AbortSignal): Promise<void> {
  const model = await client.addFetch({
    cid,
    outDir: flags.outDir == null ? undefined : resolve(flags.outDir),
    trust: flags.trust,
    peers: flags.peers,
    ...(flags.include != null ? { include: flags.include } : {}),
    ...(flags.exclude != null ? { exclude: flags.exclude } : {}),
    ...(flags.hfCache != null ? { hfCache: flags.hfCache } : {}),
    ...(flags.allowExpired === true ? { allowExpired: true } : {})
  })
  reporter.result({ event: 'added', ...model })
  if (flags.wait !== true) {
    reporter.info(`the daemon at ${client.url} is fetching ${model.cid}; follow it with \`p2pweights ls\` (or fetch --wait)`)
    return
  }
  const done = await waitForModel(client, model.cid, reporter, signal)
  reporter.result({ event: 'done', cid: done.cid, path: done.path, bytes: done.bytes, downloaded: done.downloaded, publisher: done.publisher })
  if (!reporter.json) process.stdout.write(sanitizeText(done.path) + '\n')
}

/** Follows the daemon's events until the fetch is complete; a failure ends the wait. */
async function waitForModel (client: DaemonClient, cid: string, reporter: Reporter, signal: AbortSignal): Promise<ModelInfo> {
  const controller = new AbortController()
  const stop = AbortSignal.any([signal, controller.signal])
  try {
    for await (const event of client.events(stop)) {
      const models = event.type === 'snapshot' ? event.models : event.type === 'model' ? [event.model] : []
      const model = models.find(m => m.cid === cid)
      if (event.type === 'removed' && event.cid === cid) throw new Error(`${cid} was removed from the daemon`)
      if (model == null) continue
      if (model.bytes != null) reporter.on({ event: 'progress', cid, bytes: model.verifiedBytes, total: model.bytes, downloaded: model.downloaded, peers: model.peers })
      if (model.state === 'seeding') return model
      if (model.state === 'failed' || model.state === 'changed') {
        throw new Error(`${model.error ?? model.state}; the daemon keeps retrying, see \`p2pweights ls\``)
      }
    }
    throw new Error('the daemon closed the event stream; see `p2pweights ls`')
  } finally {
    controller.abort()
    reporter.stopBar()
  }
}
