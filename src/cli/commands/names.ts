/**
 * Signed names on the command line: `resolve <publisher>/<org>/<model>`, `trust add|ls|rm`, and
 * through a running daemon `follow` / `unfollow` / `following`. Fetching by name is `fetch`'s.
 */
import { Engine, parseCid } from '../../engine/engine.js'
import { NameStore } from '../../names/store.js'
import { defaultDataDir } from '../../store/data-dir.js'
import { readKeyFile } from '../../store/keys.js'
import { engineOptions, type NodeFlags } from '../options.js'
import { Reporter } from '../reporter.js'
import { requireDaemon, type ManageFlags } from './manage.js'
import { join } from 'node:path'
import type { NameRecord } from '../../names/record.js'
import { publisherId } from '../../manifest/signed.js'

export interface ResolveFlags extends NodeFlags {
  peer?: string[]
  allowExpired?: boolean
  findTimeout: number
}

/** What `resolve --json` prints (and the API's follow entries carry). */
export function describeRecord (record: NameRecord): { cid: string | null, version: number, expires: string, publisher: string, name: string } {
  return { cid: record.cid?.toString() ?? null, version: record.version, expires: new Date(record.expires).toISOString(), publisher: record.publisher, name: record.name }
}

export async function resolve (ref: string, flags: ResolveFlags): Promise<void> {
  const reporter = new Reporter(flags.json === true)
  const engine = await Engine.create({ ...engineOptions(flags), sharedDataDir: 'temporary-identity', onEvent: reporter.on })
  try {
    await engine.start()
    const record = await engine.resolveName(ref, { allowExpired: flags.allowExpired, peers: flags.peer, timeout: flags.findTimeout })
    if (record.expires <= Date.now()) reporter.warn(`${record.publisher}/${record.name} version ${record.version} expired at ${new Date(record.expires).toISOString()} (used because of --allow-expired)`)
    for (const c of record.withdrawn) reporter.warn(`the publisher withdrew ${c.toString()} from ${record.name}`)
    reporter.result({ event: 'resolved', ...describeRecord(record) })
    if (flags.json !== true) process.stdout.write(`${record.cid?.toString() ?? ''}\n`)
    reporter.info(`${record.publisher}/${record.name} version ${record.version}, valid until ${new Date(record.expires).toISOString()}`)
  } finally {
    await engine.stop()
  }
}

export interface TrustFlags { dataDir?: string, json?: boolean, as?: string }

function store (flags: TrustFlags): NameStore {
  return new NameStore(flags.dataDir ?? defaultDataDir())
}

export async function trustAdd (publisher: string, flags: TrustFlags): Promise<void> {
  const entry = await store(flags).trust(publisher, flags.as)
  if (flags.json === true) new Reporter(true).result({ event: 'trusted', ...entry })
  else process.stdout.write(`trusted ${entry.publisher}${entry.alias != null ? ` as ${entry.alias} (fetch ${entry.alias}/<org>/<model>)` : ''}\n`)
}

export async function trustLs (flags: TrustFlags): Promise<void> {
  const list = await store(flags).trusted()
  if (flags.json === true) {
    new Reporter(true).result({ event: 'trust', publishers: list })
    return
  }
  if (list.length === 0) process.stdout.write('no trusted publishers; add one with `p2pweights trust add <publisher-id> --as <alias>`\n')
  for (const e of list) process.stdout.write(`${(e.alias ?? '-').padEnd(16)}  ${e.publisher}\n`)
}

export async function trustRm (publisherOrAlias: string, flags: TrustFlags): Promise<void> {
  if (!await store(flags).untrust(publisherOrAlias)) throw new Error(`${publisherOrAlias} is neither a trusted publisher nor an alias; see \`p2pweights trust ls\``)
  if (flags.json === true) new Reporter(true).result({ event: 'untrusted', publisher: publisherOrAlias })
  else process.stdout.write(`removed ${publisherOrAlias}\n`)
}

export interface FollowFlags extends ManageFlags { keep?: number }

export async function follow (ref: string, flags: FollowFlags): Promise<void> {
  const entry = await (await requireDaemon(flags.dataDir)).follow({ ref, keep: flags.keep })
  if (flags.json === true) new Reporter(true).result({ event: 'following', ...entry })
  else process.stdout.write(`following ${entry.ref} (keeping the ${entry.keep} newest)${entry.version != null ? `; now at version ${entry.version}` : ''}\n`)
}

export async function unfollow (ref: string, flags: ManageFlags): Promise<void> {
  await (await requireDaemon(flags.dataDir)).unfollow(ref)
  if (flags.json === true) new Reporter(true).result({ event: 'unfollowed', ref })
  else process.stdout.write(`no longer following ${ref} (fetched versions stay)\n`)
}

export interface WithdrawFlags extends NodeFlags {
  key?: string
  replacement?: string
  peer?: string[]
}

/**
 * `withdraw <org/model> <cid>`: publish a new version of the name that withdraws a release
 * (clients warn and stop fetching it by name); with --replacement the name points there instead.
 */
export async function withdraw (name: string, cid: string, flags: WithdrawFlags): Promise<void> {
  const reporter = new Reporter(flags.json === true)
  const options = engineOptions(flags)
  const engine = await Engine.create({ ...options, sharedDataDir: 'temporary-identity', onEvent: reporter.on })
  try {
    await engine.start()
    const key = flags.key != null ? await readKeyFile(flags.key) : await readKeyFile(engine.publisherKeyPath)
    const peers = await engine.dialPeers(flags.peer ?? [])
    const record = await engine.names.withdraw(key, name, parseCid(cid), flags.replacement != null ? parseCid(flags.replacement) : null, { peers })
    reporter.result({ event: 'withdrawn', withdrawn: parseCid(cid).toString(), ...describeRecord(record) })
    reporter.info(`${record.publisher}/${record.name} version ${record.version} withdraws ${cid}; it now points at ${record.cid?.toString() ?? 'no release'}`)
  } finally {
    await engine.stop()
  }
}

export interface RotateFlags { dataDir?: string, key?: string, to: string, json?: boolean }

/**
 * `rotate-key --to <new key file> [--key <current>]`: the current key vouches for the new one.
 * Names published with the new key keep the old publisher id; peers that see the rotation refuse
 * records signed by the retired key from then on.
 */
export async function rotateKey (flags: RotateFlags): Promise<void> {
  const dataDir = flags.dataDir ?? defaultDataDir()
  const current = await readKeyFile(flags.key ?? join(dataDir, 'publisher.key'))
  const next = await readKeyFile(flags.to)
  const rotated = await new NameStore(dataDir).rotate(current, next.publicKey.raw)
  const result = { publisher: publisherId(rotated.publisher), key: publisherId(next.publicKey.raw), rotations: rotated.rotations.length }
  if (flags.json === true) new Reporter(true).result({ event: 'rotated', ...result })
  else process.stdout.write(`${result.key} now signs the names of ${result.publisher} (rotation ${result.rotations}); seed with --key ${flags.to}, and copy ${join(dataDir, 'names', 'chains')} to other machines that publish\n`)
}
