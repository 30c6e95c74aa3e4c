/**
 * Name records: a publisher's signed statement "my model `org/model` is now release <cid>, as
 * version N, valid until T". The format is our own dag-cbor map (docs/names.md says why not
 * IPNS): one publisher key holds many names, the record carries key rotations and withdrawals,
 * and its signature has its own domain prefix so it can never be confused with a manifest's.
 *
 *   { v: 1, publisher: <32-byte root Ed25519 key>, name: 'org/model', version: N (grows only),
 *     cid: <release CID> | null, issued: ms, expires: ms, withdrawn: [CID…],
 *     rotations: [{ key, sig }…], sig }
 *
 * `sig` is by the last key of `rotations` (the root key when there are none) over
 * "p2pweights-name-v1\n" || dag-cbor(the map without sig). Rotation i is signed by key i-1 (the
 * root for i = 0) over "p2pweights-key-rotation-v1\n" || dag-cbor({publisher, index, key}).
 *
 * The DHT key is /p2pw-name/<sha2-256 multihash of (root key || name)>: one key per name and
 * publisher, whatever key signs today. openNameRecord() is the only way in for bytes from a peer.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'uint8arrays/equals'
import { ExpiredNameRecordError, ForgedNameRecordError, MalformedNameRecordError } from './errors.js'
import { isRepoId } from '../manifest/repo-id.js'
import { publisherId } from '../manifest/signed.js'
import type { PrivateKey } from '@libp2p/interface'

export const NAME_DOMAIN = new TextEncoder().encode('p2pweights-name-v1\n')
export const ROTATION_DOMAIN = new TextEncoder().encode('p2pweights-key-rotation-v1\n')
/** The DHT namespace kad-dht dispatches our validator and selector on. */
export const NAME_NAMESPACE = 'p2pw-name'
const KEY_PREFIX = new TextEncoder().encode(`/${NAME_NAMESPACE}/`)
export const RECORD_FORMAT = 1
/** Bounds: a record with every list full stays under 4 KiB. */
export const MAX_RECORD_BYTES = 4096
export const MAX_WITHDRAWN = 32
export const MAX_ROTATIONS = 8
/** No record is valid for longer than this after it was issued. */
export const MAX_VALIDITY = 30 * 24 * 60 * 60 * 1000
/** Default validity; a seeding publisher republishes well before it runs out. */
export const DEFAULT_VALIDITY = 48 * 60 * 60 * 1000

export interface Rotation { key: Uint8Array, sig: Uint8Array }

interface RecordFields {
  v: number
  publisher: Uint8Array
  name: string
  version: number
  cid: CID | null
  issued: number
  expires: number
  withdrawn: CID[]
  rotations: Rotation[]
}

export interface NameRecord {
  /** Root publisher id (12D3KooW…): the name belongs to it, whatever key signs today. */
  publisher: string
  name: string
  version: number
  /** The release the name points at; null when the publisher withdrew it without a successor. */
  cid: CID | null
  issued: number
  expires: number
  withdrawn: CID[]
  /** Number of key rotations behind the signing key. */
  rotations: number
  /** Publisher ids of every key in the chain, root first; the last one signed the record. */
  keys: string[]
  /** The exact encoded record. */
  bytes: Uint8Array
}

export interface SignOptions {
  name: string
  version: number
  cid: CID | null
  /** Milliseconds since the epoch; default now. */
  issued?: number
  validity?: number
  withdrawn?: CID[]
  /** Root key of the publisher (raw 32 bytes); default: the signing key's. */
  publisher?: Uint8Array
  rotations?: Rotation[]
}

function prefixed (domain: Uint8Array, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(domain.length + body.length)
  out.set(domain, 0)
  out.set(body, domain.length)
  return out
}

/** The multihash of (root key || name): the record's DHT key after the namespace, and its provider CID. */
export async function nameDigest (publisherRaw: Uint8Array, name: string): Promise<Uint8Array> {
  return (await sha256.digest(prefixed(publisherRaw, new TextEncoder().encode(name)))).bytes
}

export async function nameKey (publisherRaw: Uint8Array, name: string): Promise<Uint8Array> {
  return prefixed(KEY_PREFIX, await nameDigest(publisherRaw, name))
}

/** A raw CID on the name's digest: nodes holding the name's release put provider records for it. */
export async function nameCid (publisherRaw: Uint8Array, name: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(prefixed(publisherRaw, new TextEncoder().encode(name))))
}

/** Old key vouches for new: the i-th rotation of `publisher`'s chain, signed by key i-1. */
export async function signRotation (previous: PrivateKey, publisherRaw: Uint8Array, index: number, next: Uint8Array): Promise<Rotation> {
  const sig = await previous.sign(prefixed(ROTATION_DOMAIN, dagCbor.encode({ publisher: publisherRaw, index, key: next })))
  return { key: next, sig }
}

/**
 * Checks a rotation chain: rotation i must be signed by key i-1 (the root for i = 0). Returns
 * the last key, the one that may sign records now.
 */
export async function verifyRotations (publisher: Uint8Array, rotations: Rotation[]): Promise<Uint8Array> {
  let signer = publisher
  for (const [index, r] of rotations.entries()) {
    const message = prefixed(ROTATION_DOMAIN, dagCbor.encode({ publisher, index, key: r.key }))
    if (!await publicKeyFromRaw(signer).verify(message, r.sig)) {
      throw new ForgedNameRecordError(`key rotation ${index} of ${publisherId(publisher)} is not signed by the key before it`)
    }
    signer = r.key
  }
  return signer
}

export async function signNameRecord (key: PrivateKey, options: SignOptions): Promise<NameRecord> {
  if (key.type !== 'Ed25519') throw new ForgedNameRecordError('name records are signed with Ed25519 keys')
  const issued = options.issued ?? Date.now()
  const fields: RecordFields = {
    v: RECORD_FORMAT,
    publisher: options.publisher ?? key.publicKey.raw,
    name: options.name,
    version: options.version,
    cid: options.cid,
    issued,
    expires: issued + (options.validity ?? DEFAULT_VALIDITY),
    withdrawn: options.withdrawn ?? [],
    rotations: options.rotations ?? []
  }
  const signer = fields.rotations.length > 0 ? fields.rotations[fields.rotations.length - 1].key : fields.publisher
  if (!equals(signer, key.publicKey.raw)) throw new ForgedNameRecordError('the signing key is not the last key of the rotation chain')
  const sig = await key.sign(prefixed(NAME_DOMAIN, dagCbor.encode(fields)))
  const bytes = dagCbor.encode({ ...fields, sig })
  // Round-trip through the checks, so nothing we publish could be refused by a peer.
  return await openNameRecord(bytes, { allowExpired: true, now: issued })
}

export interface OpenOptions {
  /** The DHT key the bytes were stored or asked under; must match the record. */
  key?: Uint8Array
  allowExpired?: boolean
  now?: number
}

const isBytes = (v: unknown, n: number): v is Uint8Array => v instanceof Uint8Array && v.length === n
const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0

/** Decodes and verifies untrusted bytes: bounds, shape, every signature, the DHT key, expiry. */
export async function openNameRecord (bytes: Uint8Array, options: OpenOptions = {}): Promise<NameRecord> {
  const bad = (why: string): never => { throw new MalformedNameRecordError(`malformed name record: ${why}`) }
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_RECORD_BYTES) bad(`larger than ${MAX_RECORD_BYTES} bytes`)
  let value: any
  try {
    value = dagCbor.decode(bytes)
  } catch (err: any) {
    bad(`not dag-cbor (${err.message})`)
  }
  if (value == null || typeof value !== 'object' || Array.isArray(value)) bad('not a map')
  const { sig, ...fields } = value as RecordFields & { sig: unknown }
  const keys = Object.keys(value).sort().join(',')
  if (keys !== 'cid,expires,issued,name,publisher,rotations,sig,v,version,withdrawn') bad(`unexpected fields ${keys}`)
  if (fields.v !== RECORD_FORMAT) bad(`unsupported format ${String(fields.v)}`)
  if (!isBytes(fields.publisher, 32)) bad('publisher is not a 32-byte key')
  if (!isRepoId(fields.name)) bad('name is not org/model')
  if (!Number.isSafeInteger(fields.version) || fields.version < 1) bad('version is not a positive integer')
  if (fields.cid !== null && CID.asCID(fields.cid) == null) bad('cid is not a CID')
  if (!isTime(fields.issued) || !isTime(fields.expires) || fields.expires <= fields.issued) bad('bad issued/expires')
  if (fields.expires - fields.issued > MAX_VALIDITY) bad('valid for longer than 30 days')
  if (!Array.isArray(fields.withdrawn) || fields.withdrawn.length > MAX_WITHDRAWN || !fields.withdrawn.every(c => CID.asCID(c) != null)) bad('bad withdrawn list')
  if (!Array.isArray(fields.rotations) || fields.rotations.length > MAX_ROTATIONS) bad('bad rotation list')
  for (const r of fields.rotations) {
    if (r == null || typeof r !== 'object' || Object.keys(r).length !== 2 || !isBytes(r.key, 32) || !isBytes(r.sig, 64)) bad('bad rotation entry')
  }
  if (!isBytes(sig, 64)) return bad('signature is not 64 bytes')
  // Re-encoding must give the same bytes: one record, one encoding (dag-cbor is canonical).
  if (!equals(dagCbor.encode(value), bytes)) bad('not canonically encoded')
  if (options.key != null && !equals(options.key, await nameKey(fields.publisher, fields.name))) {
    bad('stored under the DHT key of another name or publisher')
  }

  const signer = await verifyRotations(fields.publisher, fields.rotations)
  if (!await publicKeyFromRaw(signer).verify(prefixed(NAME_DOMAIN, dagCbor.encode(fields)), sig)) {
    throw new ForgedNameRecordError(`the name record for ${publisherId(fields.publisher)}/${fields.name} is not signed by its publisher: forged or damaged`)
  }
  const record: NameRecord = {
    publisher: publisherId(fields.publisher),
    name: fields.name,
    version: fields.version,
    cid: fields.cid === null ? null : CID.asCID(fields.cid),
    issued: fields.issued,
    expires: fields.expires,
    withdrawn: fields.withdrawn.map(c => CID.asCID(c) as CID),
    rotations: fields.rotations.length,
    keys: [publisherId(fields.publisher), ...fields.rotations.map(r => publisherId(r.key))],
    bytes
  }
  if (options.allowExpired !== true && record.expires <= (options.now ?? Date.now())) {
    throw new ExpiredNameRecordError(`the name record ${record.publisher}/${record.name} version ${record.version} expired at ${new Date(record.expires).toISOString()}; ` +
      'the publisher has not republished it (pass --allow-expired to use it anyway)')
  }
  return record
}

/** The name's provider CID for a verified record. */
export async function nameCidOf (record: NameRecord): Promise<CID> {
  return await nameCid(rootKeyOf(record), record.name)
}

/** The raw root key of a record (its `publisher` field), from already-verified bytes. */
export function rootKeyOf (record: NameRecord): Uint8Array {
  return (dagCbor.decode(record.bytes) as RecordFields).publisher
}

/**
 * Which of two valid records of one name is newer: higher version, then more rotations (a
 * rotated key outranks the retired one), then later expiry, then the bytes (so every node picks
 * the same one). Negative when a is newer.
 */
export function compareRecords (a: NameRecord, b: NameRecord): number {
  if (a.version !== b.version) return b.version - a.version
  if (a.rotations !== b.rotations) return b.rotations - a.rotations
  if (a.expires !== b.expires) return b.expires - a.expires
  const n = Math.min(a.bytes.length, b.bytes.length)
  for (let i = 0; i < n; i++) if (a.bytes[i] !== b.bytes[i]) return a.bytes[i] - b.bytes[i]
  return a.bytes.length - b.bytes.length
}

/** kad-dht validator for /p2pw-name/ keys: a record the DHT stores or hands on must open, unexpired. */
export async function validateNameRecord (key: Uint8Array, value: Uint8Array): Promise<void> {
  await openNameRecord(value, { key })
}

/** kad-dht selector: the index of the newest valid record (invalid ones never win). */
export async function selectNameRecord (key: Uint8Array, values: Uint8Array[]): Promise<number> {
  let best = -1
  let bestRecord: NameRecord | undefined
  for (const [i, value] of values.entries()) {
    const record = await openNameRecord(value, { key }).catch(() => undefined)
    if (record == null) continue
    if (bestRecord == null || compareRecords(record, bestRecord) < 0) {
      best = i
      bestRecord = record
    }
  }
  return Math.max(best, 0)
}
