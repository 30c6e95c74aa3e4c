/** `p2pweights ls | status | rm <cid> | login-url`: ask the running daemon what it holds, or change it. */
import { resolve } from 'node:path'
import { parseCid } from '../../engine/engine.js'
import { defaultDataDir } from '../../store/data-dir.js'
import { DaemonClient } from '../daemon-client.js'
import { Reporter, formatBytes } from '../reporter.js'
import { sanitizeText } from '../../util/terminal-text.js'
import type { ModelInfo } from '../../daemon/service.js'

export interface ManageFlags {
  dataDir?: string
  json?: boolean
}

export async function requireDaemon (dataDir: string | undefined): Promise<DaemonClient> {
  const dir = dataDir ?? defaultDataDir()
  const client = await DaemonClient.find(dir)
  if (client == null) throw new Error(`no p2pweights daemon is running for ${dir}; start one with \`p2pweights daemon\` (or pass the --data-dir it uses)`)
  return client
}

export async function ls (flags: ManageFlags): Promise<void> {
  const models = await (await requireDaemon(flags.dataDir)).list()
  if (flags.json === true) {
    new Reporter(true).result({ event: 'models', models })
    return
  }
  if (models.length === 0) {
    process.stdout.write('the daemon holds no models; add one with `p2pweights seed <folder>` or `p2pweights fetch <cid>`\n')
    return
  }
  // Names, paths and errors may come from peers (manifests, wire errors): sanitised for the terminal.
  const rows = models.map(m => [sanitizeText(m.name), m.state, m.kind, size(m), `${m.peers}`, `${formatBytes(m.uploaded)} up`, sanitizeText(m.cid), sanitizeText(m.path)])
  const header = ['NAME', 'STATE', 'KIND', 'SIZE', 'PEERS', 'UPLOADED', 'CID', 'PATH']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  for (const row of [header, ...rows]) process.stdout.write(row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd() + '\n')
  for (const m of models) if (m.error != null) process.stdout.write(`${sanitizeText(m.name)}: ${sanitizeText(m.error)}\n`)
}

export async function status (flags: ManageFlags): Promise<void> {
  const client = await requireDaemon(flags.dataDir)
  const s = await client.status()
  if (flags.json === true) {
    new Reporter(true).result({ event: 'status', ...s, api: client.url })
    return
  }
  process.stdout.write([
    `p2pweights daemon ${s.version}, up ${s.uptime} s, API ${client.url}`,
    `peer        ${s.peerId}`,
    ...s.addrs.map(a => `address     ${a}`),
    `reachable   ${s.reachability.state}: ${s.reachability.reason}`,
    `DHT         ${s.dhtProtocol}`,
    `connections ${s.connections} (max ${s.limits.maxConnections})`,
    `models      ${s.models}`,
    `traffic     ${formatBytes(s.uploaded)} up, ${formatBytes(s.downloaded)} down`,
    `limits      upload ${rate(s.limits.uploadRate)}, download ${rate(s.limits.downloadRate)}, folders ${s.limits.allowedFolders.length > 0 ? s.limits.allowedFolders.join(', ') : 'any'}`
  ].join('\n') + '\n')
}

/** `rm <cid>` stops a model; `rm <folder>` cancels the seed of a folder the daemon is still hashing. */
export async function rm (target: string, flags: ManageFlags): Promise<void> {
  const client = await requireDaemon(flags.dataDir)
  if (!isCid(target)) {
    const folder = resolve(target)
    await client.cancelSeed(folder)
    if (flags.json === true) new Reporter(true).result({ event: 'cancelled', folder })
    else process.stdout.write(`cancelled the seed of ${sanitizeText(folder)}: nothing of it is served (its files stay where they are)\n`)
    return
  }
  await client.remove(target)
  if (flags.json === true) new Reporter(true).result({ event: 'removed', cid: target })
  else process.stdout.write(`removed ${target} (its files stay where they are)\n`)
}

function isCid (text: string): boolean {
  try {
    parseCid(text)
    return true
  } catch {
    return false // a folder
  }
}

/**
 * Prints the dashboard's login URL (it carries the API token: whoever has it drives the daemon).
 * Reading it needs the data dir, so only the daemon's user gets it.
 */
export async function loginUrlCommand (flags: ManageFlags): Promise<void> {
  const url = (await requireDaemon(flags.dataDir)).loginUrl()
  if (flags.json === true) new Reporter(true).result({ event: 'login-url', url })
  else process.stdout.write(url + '\n')
}

function size (m: ModelInfo): string {
  if (m.bytes == null) return '?'
  if (m.state === 'fetching' || m.state === 'queued' || m.state === 'failed') return `${formatBytes(m.verifiedBytes)}/${formatBytes(m.bytes)}`
  return formatBytes(m.bytes)
}

function rate (bytesPerSecond: number): string {
  return bytesPerSecond > 0 ? `${(bytesPerSecond / 1e6).toFixed(1)} MB/s` : 'unlimited'
}
