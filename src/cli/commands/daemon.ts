/**
 * `p2pweights daemon`: the always-on node. Starts the daemon (which serves and resumes what it
 * had), its HTTP API and dashboard, writes <data-dir>/api.json for the CLI, and runs until
 * SIGINT/SIGTERM. The API token stays in <data-dir>/api-token: it is never written to stdout,
 * logs or --json output; the dashboard's login URL is shown only on a terminal (and by
 * `p2pweights login-url`).
 */
import { resolve } from 'node:path'
import { loadOrCreateToken, loginUrl, removeApiFile, writeApiFile } from '../../daemon/api-file.js'
import { Daemon } from '../../daemon/daemon.js'
import { createApiServer } from '../../daemon/http/server.js'
import { createMetrics } from '../../daemon/metrics.js'
import { DEFAULT_LISTEN, DEFAULT_WS_LISTEN } from '../../net/node.js'
import { engineOptions, type NodeFlags } from '../options.js'
import { Reporter } from '../reporter.js'
import { VERSION } from '../version.js'
import { DEFAULT_API } from '../constants.js'
import { ShutdownSignal } from './shutdown-signal.js'

export interface DaemonFlags extends NodeFlags {
  api: string
  maxConnections: number
  /** MB/s; 0 = unlimited */
  maxUploadRate: number
  maxDownloadRate: number
  allowFolder?: string[]
  /** Publisher ids every API fetch must be signed by (one of them). */
  trust?: string[]
  /** ms */
  checkInterval: number
  followInterval: number
  /** ms */
  stallTimeout: number
}


export async function daemon (flags: DaemonFlags): Promise<void> {
  const shutdown = new ShutdownSignal()
  const reporter = new Reporter(flags.json === true)
  // An always-on node must not die of one stray promise: say it loudly and keep serving.
  process.on('unhandledRejection', err => { reporter.error(`internal error, please report it: ${(err as Error)?.stack ?? String(err)}`) })
  // The always-on node also listens on WebSockets, for peers whose firewall passes web ports only.
  const options = { ...engineOptions(flags), listen: flags.listen ?? [...DEFAULT_LISTEN, DEFAULT_WS_LISTEN] }
  const { host, port } = parseApiAddress(flags.api)
  const metrics = createMetrics({ statfsLocation: options.dataDir })
  const running = await Daemon.start({
    ...options,
    version: VERSION,
    limits: {
      maxConnections: flags.maxConnections,
      uploadRate: Math.round(flags.maxUploadRate * 1e6),
      downloadRate: Math.round(flags.maxDownloadRate * 1e6),
      allowedFolders: (flags.allowFolder ?? []).map(f => resolve(f))
    },
    checkInterval: flags.checkInterval,
    stallTimeout: flags.stallTimeout,
    trust: flags.trust,
    followInterval: flags.followInterval,
    engineMetrics: metrics.libp2p,
    metrics: metrics.render,
    // Warnings, and each change in how others reach this node (a relay slot won or lost).
    onEvent: e => { if (e.event === 'warning' || e.event === 'reachability') reporter.on(e) }
  })
  try {
    metrics.attach(running)
    // On loopback too: every local user and, through their browsers, every web page can reach it.
    const token = await loadOrCreateToken(options.dataDir, message => { reporter.warn(message) })
    const api = await createApiServer(running, { host, port, token, onError: err => reporter.warn(`API error: ${err.message}`) })
    try {
      await writeApiFile(options.dataDir, { url: api.url, pid: process.pid, token: true })
      const status = running.status()
      reporter.result({ event: 'ready', peerId: status.peerId, addrs: status.addrs, reachability: status.reachability, api: api.url, models: status.models })
      reporter.info([
        `p2pweights daemon ${VERSION}, ${status.models} model(s)`,
        `  peer      ${status.peerId}`,
        ...status.addrs.map(a => `  address   ${a}`),
        `  reachable ${status.reachability.state}: ${status.reachability.reason}`,
        `  API       ${api.url} (token in ${options.dataDir}/api-token)`,
        'press Ctrl-C to stop'
      ].join('\n'))
      showLoginUrl(loginUrl(api.url, token), flags.json === true)
      await shutdown.wait()
    } finally {
      await removeApiFile(options.dataDir)
      await api.close()
    }
  } finally {
    shutdown.dispose()
    await running.stop()
  }
}

/**
 * Jupyter's pattern: the login URL (token included) goes to a terminal only, never to a log or a
 * pipe, where others could read it. Elsewhere `p2pweights login-url` prints it on request.
 */
function showLoginUrl (url: string, json: boolean): void {
  const stream = process.stderr.isTTY ? process.stderr : !json && process.stdout.isTTY ? process.stdout : undefined
  if (stream == null) return
  stream.write(`open the dashboard (this link logs you in; keep it private): ${url}\n`)
}

export function parseApiAddress (text: string): { host: string, port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text)
  const port = Number(match?.[2])
  if (match == null || port > 65535) throw new Error(`--api must be HOST:PORT, e.g. ${DEFAULT_API} or 0.0.0.0:7171, got "${text}"`)
  return { host: match[1].replace(/^\[|\]$/g, ''), port }
}
