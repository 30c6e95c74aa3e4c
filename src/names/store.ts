/**
 * What a node remembers about names, in its data dir:
 *
 *   names/seen/<hex of name digest>   the newest verified record seen for a name (any source)
 *   names/trust.json                  trusted publishers and their aliases
 *
 * The seen record is the rollback guard (TUF's "keep the highest version seen"): accept() refuses
 * anything older, or signed by a key the publisher has rotated away from, and stores what it
 * accepts. Files are written atomically, so a crash leaves the old record or the new.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { toString as toHex } from 'uint8arrays/to-string'
import { InvalidNameRefError, NameRollbackError, RetiredKeyError } from './errors.js'
import * as dagCbor from '@ipld/dag-cbor'
import { equals } from 'uint8arrays/equals'
import { compareRecords, MAX_ROTATIONS, nameDigest, openNameRecord, rootKeyOf, signRotation, verifyRotations, type NameRecord, type Rotation } from './record.js'
import type { PrivateKey } from '@libp2p/interface'
import { writeFileAtomic } from '../store/atomic.js'
import { logger } from '@libp2p/logger'

const log = logger('p2pweights:names:store')

/** The rotation chain that lets a key sign for a root publisher (old key vouches for new). */
export interface KeyChain { publisher: Uint8Array, rotations: Rotation[] }

export interface TrustEntry { publisher: string, alias?: string, addedAt: string }

const ALIAS = /^[a-z0-9][a-z0-9_-]{0,31}$/

export class NameStore {
  private readonly seenDir: string
  private readonly trustPath: string
  private readonly chainsDir: string
  /** One accept() at a time, so two sources cannot interleave a read and a write. */
  private queue: Promise<unknown> = Promise.resolve()

  constructor (dataDir: string) {
    this.seenDir = join(dataDir, 'names', 'seen')
    this.trustPath = join(dataDir, 'names', 'trust.json')
    this.chainsDir = join(dataDir, 'names', 'chains')
  }

  private async fileOf (record: Pick<NameRecord, 'name'>, root: Uint8Array): Promise<string> {
    return join(this.seenDir, toHex(await nameDigest(root, record.name), 'base16'))
  }

  /** The newest record seen for a name (expired or not), or undefined. */
  async seen (root: Uint8Array, name: string): Promise<NameRecord | undefined> {
    const bytes = await readFile(await this.fileOf({ name }, root)).catch(() => undefined)
    if (bytes == null) return undefined
    // Our own file, but still checked: a damaged one must not become the guard.
    return await openNameRecord(bytes, { allowExpired: true }).catch(() => undefined)
  }

  /** The seen record stored under a hex name digest (what a peer's GET asks for). */
  async seenByDigest (hex: string): Promise<NameRecord | undefined> {
    if (!/^[0-9a-f]{68}$/.test(hex)) return undefined
    const bytes = await readFile(join(this.seenDir, hex)).catch(() => undefined)
    return bytes == null ? undefined : await openNameRecord(bytes, { allowExpired: true }).catch(() => undefined)
  }

  /** Every newest record this node holds, for serving to peers. */
  async all (): Promise<NameRecord[]> {
    const names = await readdir(this.seenDir).catch(() => [] as string[])
    const out: NameRecord[] = []
    for (const file of names.filter(n => /^[0-9a-f]+$/.test(n))) {
      const bytes = await readFile(join(this.seenDir, file)).catch(() => undefined)
      const record = bytes == null ? undefined : await openNameRecord(bytes, { allowExpired: true }).catch(() => undefined)
      if (record != null) out.push(record)
    }
    return out
  }

  /**
   * Checks a verified record against the newest one seen and keeps it if it is newer. Returns
   * true when it replaced what was stored. Throws NameRollbackError for an older version and
   * RetiredKeyError for a record signed by a key rotated away from.
   */
  async accept (record: NameRecord): Promise<boolean> {
    // The previous accept's error went to its own caller.
    const job = this.queue.catch(() => {}).then(async () => await this.acceptNow(record))
    this.queue = job
    return await job
  }

  private async acceptNow (record: NameRecord): Promise<boolean> {
    const root = rootKeyOf(record)
    const seen = await this.seen(root, record.name)
    if (seen != null) {
      if (record.version < seen.version) {
        throw new NameRollbackError(`refusing ${record.publisher}/${record.name} version ${record.version} (${record.cid?.toString() ?? 'no release'}): ` +
          `this node has already seen version ${seen.version} (${seen.cid?.toString() ?? 'no release'}); an older record is a rollback`)
      }
      if (record.rotations < seen.rotations) {
        throw new RetiredKeyError(`refusing ${record.publisher}/${record.name} version ${record.version}: it is signed by ${record.keys[record.keys.length - 1]}, ` +
          `a key the publisher rotated away from (this node has seen rotation ${seen.rotations})`)
      }
      if (compareRecords(record, seen) >= 0) return false
    }
    await mkdir(this.seenDir, { recursive: true })
    await writeFileAtomic(await this.fileOf(record, root), record.bytes)
    return true
  }

  /** The chain for a signing key (raw), if it was rotated to; verified, else ignored. */
  async chainOf (key: Uint8Array): Promise<KeyChain | undefined> {
    const bytes = await readFile(join(this.chainsDir, toHex(key, 'base16'))).catch(() => undefined)
    if (bytes == null) return undefined
    try {
      const chain = dagCbor.decode(bytes) as KeyChain
      if (!(chain.publisher instanceof Uint8Array) || !Array.isArray(chain.rotations) || chain.rotations.length > MAX_ROTATIONS) return undefined
      return equals(await verifyRotations(chain.publisher, chain.rotations), key) ? chain : undefined
    } catch (err: any) {
      log.error('stored key chain %s is unusable (%s); ignored', toHex(key, 'base16'), err?.message)
      return undefined
    }
  }

  async saveChain (key: Uint8Array, chain: KeyChain): Promise<void> {
    if (!equals(await verifyRotations(chain.publisher, chain.rotations), key)) throw new InvalidNameRefError('the rotation chain does not end in this key')
    await mkdir(this.chainsDir, { recursive: true })
    await writeFileAtomic(join(this.chainsDir, toHex(key, 'base16')), dagCbor.encode(chain), 0o600)
  }

  /**
   * Old key vouches for new: signs a rotation from `current` (a root key, or one rotated to
   * before) to `next` and keeps the chain, so `next` signs this publisher's names from now on.
   */
  async rotate (current: PrivateKey, next: Uint8Array): Promise<KeyChain> {
    const chain = await this.chainOf(current.publicKey.raw) ?? { publisher: current.publicKey.raw, rotations: [] }
    if (chain.rotations.length >= MAX_ROTATIONS) throw new InvalidNameRefError(`at most ${MAX_ROTATIONS} key rotations per publisher`)
    const rotated = { publisher: chain.publisher, rotations: [...chain.rotations, await signRotation(current, chain.publisher, chain.rotations.length, next)] }
    await this.saveChain(next, rotated)
    return rotated
  }

  async trusted (): Promise<TrustEntry[]> {
    const text = await readFile(this.trustPath, 'utf8').catch(() => undefined)
    if (text == null) return []
    const parsed = JSON.parse(text) as { publishers?: TrustEntry[] }
    return Array.isArray(parsed.publishers) ? parsed.publishers : []
  }

  async trust (publisher: string, alias?: string): Promise<TrustEntry> {
    const id = parsePublisher(publisher)
    if (alias != null && !ALIAS.test(alias)) throw new InvalidNameRefError(`alias "${alias}" must be 1-32 lowercase letters, digits, - or _`)
    const list = (await this.trusted()).filter(e => e.publisher !== id)
    if (alias != null && list.some(e => e.alias === alias)) throw new InvalidNameRefError(`alias "${alias}" already names another publisher; \`trust rm\` it first`)
    const entry: TrustEntry = { publisher: id, ...(alias != null ? { alias } : {}), addedAt: new Date().toISOString() }
    await this.saveTrust([...list, entry])
    return entry
  }

  /** Removes by publisher id or alias; false when neither is known. */
  async untrust (publisherOrAlias: string): Promise<boolean> {
    const list = await this.trusted()
    const kept = list.filter(e => e.publisher !== publisherOrAlias && e.alias !== publisherOrAlias)
    if (kept.length === list.length) return false
    await this.saveTrust(kept)
    return true
  }

  private async saveTrust (list: TrustEntry[]): Promise<void> {
    await mkdir(join(this.trustPath, '..'), { recursive: true })
    await writeFileAtomic(this.trustPath, JSON.stringify({ publishers: list }, null, 2) + '\n')
  }
}

export function parsePublisher (text: string): string {
  try {
    const id = peerIdFromString(text)
    if (id.type !== 'Ed25519') throw new Error('not Ed25519')
    return id.toString()
  } catch {
    throw new InvalidNameRefError(`"${text}" is not a publisher id (it looks like 12D3KooW…, as printed by keygen and seed)`)
  }
}
