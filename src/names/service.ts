/**
 * NameService: a node's part in signed names. It resolves names (the DHT record, peers we are
 * connected to, --peer peers, and the providers of the name's CID, all asked at once and every
 * answer verified), applies the rules (newest wins; older than seen, expired, retired key,
 * withdrawn: refused), publishes and republishes our own records while we seed them, and serves
 * the records it holds to peers over /p2pweights/name/1.0.0.
 */
import { toString as toHex } from 'uint8arrays/to-string'
import {
  ExpiredNameRecordError, ForgedNameRecordError, MalformedNameRecordError, NameNotFoundError, WithdrawnReleaseError
} from './errors.js'
import { getNameFromPeer, NameServer, pushNameToPeer } from './protocol.js'
import {
  compareRecords, DEFAULT_VALIDITY, nameCid, nameDigest, nameKey, openNameRecord, rootKeyOf as rootOf, signNameRecord,
  type NameRecord, type Rotation
} from './record.js'
import { formatRef, parseNameRef, type NameRef } from './ref.js'
import { NameStore, type KeyChain } from './store.js'
import { publisherId } from '../manifest/signed.js'
import { sleep } from '../util/sleep.js'
import {
  ANNOUNCE_WAIT, DHT_PUT_TIMEOUT, EARLY_FINISH, LOOK_BEFORE_PUBLISH_TIMEOUT, MAX_PEERS_ASKED, PUT_RETRIES, RESOLVE_TIMEOUT, SETTLE_TIME
} from './constants.js'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { logger } from '@libp2p/logger'

const log = logger('p2pweights:names:service')

export interface NameServiceComponents {
  node: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getConnections' | 'contentRouting'> & { services: { dht: Pick<KadDHT, 'get' | 'put'>, lanDht?: Pick<KadDHT, 'get' | 'put'> } }
  announcer: { add: (cid: CID) => void, withdraw: (cid: CID) => void }
  dataDir: string
  onWarning?: (message: string) => void
  /** A newer record of a name was accepted (resolved, or pushed by a peer). */
  onUpdate?: (record: NameRecord) => void
}

export interface ResolveOptions {
  allowExpired?: boolean
  /** Peers to ask besides connected ones and providers. */
  peers?: PeerId[]
  /** How long to look (ms); default 15 s. */
  timeout?: number
  signal?: AbortSignal
}

export interface Published {
  key: PrivateKey
  root: Uint8Array
  rotations: Rotation[]
  name: string
  cid: CID
  record: NameRecord
}

export class NameService {
  readonly store: NameStore
  private readonly server: NameServer
  /** Names this node publishes, by hex digest, republished while seeded. */
  private readonly published = new Map<string, Published>()
  private timer?: NodeJS.Timeout
  private readonly stopping = new AbortController()

  /** Every DHT this node is in: the public one and, beside it, the LAN DHT. */
  private dhts (): Array<Pick<KadDHT, 'get' | 'put'>> {
    const { dht, lanDht } = this.components.node.services
    return lanDht != null ? [dht, lanDht] : [dht]
  }

  constructor (private readonly components: NameServiceComponents, private readonly validity = DEFAULT_VALIDITY) {
    this.store = new NameStore(components.dataDir)
    this.server = new NameServer(components.node, {
      get: async digest => (await this.store.seenByDigest(toHex(digest, 'base16')))?.bytes,
      push: async bytes => { await this.onPush(bytes) }
    })
  }

  async start (): Promise<void> {
    await this.server.start()
    // Republish at a quarter of the validity, so two missed rounds still leave it valid.
    this.timer = setInterval(() => { void this.republish() }, Math.max(1000, this.validity / 4))
    this.timer.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    this.stopping.abort(new Error('stopping'))
    await this.server.stop().catch((err: Error) => { log.error('stopping the name server failed: %s', err.message) })
  }

  async parseRef (text: string): Promise<NameRef> {
    return parseNameRef(text, await this.store.trusted())
  }

  /** The newest valid record of a name that passes every rule; it becomes the node's seen record. */
  async resolve (ref: NameRef, options: ResolveOptions = {}): Promise<NameRecord> {
    const best = await this.lookup(ref, options)
    if (best == null) {
      throw new NameNotFoundError(`no record for ${formatRef(ref)} found within ${Math.round((options.timeout ?? RESOLVE_TIMEOUT) / 1000)} s; ` +
        'check the name, that a node seeding it is online, or pass --peer <its address>')
    }
    if (await this.store.accept(best)) this.components.onUpdate?.(best)
    if (best.cid == null || best.withdrawn.some(c => c.equals(best.cid))) {
      const what = best.cid != null ? best.cid.toString() : `${best.withdrawn.map(c => c.toString()).join(', ')} and points at no release`
      throw new WithdrawnReleaseError(`${formatRef(ref)} version ${best.version}: the publisher withdrew ${what}; not fetching it by name`)
    }
    return best
  }

  /**
   * Asks every source at once and returns the newest record whose signature and key check out
   * (expired ones too: the caller's rules decide). Throws the reason when every answer was bad.
   */
  private async lookup (ref: NameRef, options: ResolveOptions): Promise<NameRecord | undefined> {
    const key = await nameKey(ref.root, ref.name)
    const digest = await nameDigest(ref.root, ref.name)
    // Ends early a short while after the DHT query is done if something valid was found: on the
    // public DHT a provider search alone can run until the timeout.
    const early = new AbortController()
    const signal = AbortSignal.any([early.signal, AbortSignal.timeout(options.timeout ?? RESOLVE_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
    const found: NameRecord[] = []
    const errors: Error[] = []
    const consider = async (bytes: Uint8Array): Promise<void> => {
      try {
        found.push(await openNameRecord(bytes, { key, allowExpired: true }))
      } catch (err: any) {
        errors.push(err)
      }
    }
    const asked = new Set<string>()
    const ask = async (peer: PeerId): Promise<void> => {
      const id = peer.toString()
      if (asked.has(id) || asked.size >= MAX_PEERS_ASKED) return
      asked.add(id)
      const bytes = await getNameFromPeer(this.components.node, peer, digest, signal).catch(() => undefined)
      if (bytes != null) await consider(bytes)
    }
    const fromDht = async (): Promise<void> => {
      try {
        // Every DHT this node is in (public and LAN), at once.
        await Promise.all(this.dhts().map(async dht => {
          try {
            for await (const event of dht.get(key, { signal })) {
              if (event.name === 'VALUE') await consider(event.value)
            }
          } catch (err: any) {
            // a query that ends early (timeout, correction refused) keeps what it found
            log('DHT query for %s ended early with %d records: %s', formatRef(ref), found.length, err?.message)
          }
        }))
      } catch (err: any) {
        log('DHT lookup of %s failed: %s', formatRef(ref), err?.message)
      }
      if (found.length > 0) setTimeout(() => early.abort(), EARLY_FINISH).unref()
    }
    const fromProviders = async (): Promise<void> => {
      try {
        const cid = await nameCid(ref.root, ref.name)
        const asking: Array<Promise<void>> = []
        for await (const provider of this.components.node.contentRouting.findProviders(cid, { signal })) {
          asking.push(ask(provider.id))
          if (asking.length >= MAX_PEERS_ASKED) break
        }
        await Promise.all(asking)
      } catch (err: any) {
        log('provider lookup for %s ended: %s', formatRef(ref), err?.message)
      }
    }
    const direct = [...(options.peers ?? []), ...this.components.node.getConnections().map(c => c.remotePeer)]
    await Promise.all([fromDht(), fromProviders(), ...direct.map(ask)])
    early.abort()

    const best = found.sort(compareRecords)[0]
    if (best == null) {
      // Say why when every answer was bad: a forged record is worth knowing about.
      const reason = errors.find(e => e instanceof ForgedNameRecordError) ?? errors.find(e => e instanceof MalformedNameRecordError)
      if (reason != null) throw reason
      const seen = await this.store.seen(ref.root, ref.name)
      return seen == null ? undefined : this.unexpired(seen, options)
    }
    return this.unexpired(best, options)
  }

  private unexpired (record: NameRecord, options: ResolveOptions): NameRecord {
    if (options.allowExpired !== true && record.expires <= Date.now()) {
      throw new ExpiredNameRecordError(`the newest record of ${formatRef(record)} (version ${record.version}) expired at ${new Date(record.expires).toISOString()}; ` +
        'the publisher has not republished it (a freeze), pass --allow-expired to use it anyway')
    }
    return record
  }

  /**
   * Publishes `name` -> `cid` signed by `key`, continuing from the highest version this node can
   * find (another machine with the same key may have published since): the same release keeps
   * its version (a republish), another one gets the next version.
   */
  async publish (key: PrivateKey, name: string, cid: CID, options: { peers?: PeerId[], timeout?: number } = {}): Promise<NameRecord> {
    const { publisher: root, rotations } = await this.chainFor(key)
    const ref: NameRef = { publisher: publisherId(root), root, name }
    await this.settle()
    const found = await this.lookup(ref, { allowExpired: true, peers: options.peers, timeout: options.timeout ?? LOOK_BEFORE_PUBLISH_TIMEOUT }).catch(() => undefined)
    const seen = await this.store.seen(root, name)
    const highest = [found, seen].filter((r): r is NameRecord => r != null).sort(compareRecords)[0]
    const same = highest?.cid?.equals(cid) === true && !highest.withdrawn.some(c => c.equals(cid))
    const version = highest == null ? 1 : same ? highest.version : highest.version + 1
    const record = await signNameRecord(key, { name, version, cid, withdrawn: highest?.withdrawn ?? [], validity: this.validity, publisher: root, rotations })
    await this.store.accept(record)
    const digest = toHex(await nameDigest(root, name), 'base16')
    this.published.set(digest, { key, root, rotations, name, cid, record })
    await this.announceBounded(record, root)
    return record
  }

  /**
   * After a restart: keeps republishing `name` -> `cid` only if that is still the newest record
   * (same version, fresh expiry). If another machine published a newer version since, nothing
   * is published: an old release must not come back as a new version. Returns the record, if any.
   */
  async resume (key: PrivateKey, name: string, cid: CID): Promise<NameRecord | undefined> {
    const { publisher: root, rotations } = await this.chainFor(key)
    const ref: NameRef = { publisher: publisherId(root), root, name }
    await this.settle()
    const found = await this.lookup(ref, { allowExpired: true, timeout: LOOK_BEFORE_PUBLISH_TIMEOUT }).catch(() => undefined)
    const seen = await this.store.seen(root, name)
    const highest = [found, seen].filter((r): r is NameRecord => r != null).sort(compareRecords)[0]
    if (highest?.cid?.equals(cid) !== true) return undefined
    const record = await signNameRecord(key, { name, version: highest.version, cid, withdrawn: highest.withdrawn, validity: this.validity, publisher: root, rotations })
    await this.store.accept(record)
    this.published.set(toHex(await nameDigest(root, name), 'base16'), { key, root, rotations, name, cid, record })
    await this.announceBounded(record, root)
    return record
  }

  /** Publishes a new version that withdraws `cid`; the name then points at `replacement` (or nothing). */
  async withdraw (key: PrivateKey, name: string, cid: CID, replacement: CID | null, options: { peers?: PeerId[] } = {}): Promise<NameRecord> {
    const { publisher: root, rotations } = await this.chainFor(key)
    const ref: NameRef = { publisher: publisherId(root), root, name }
    const found = await this.lookup(ref, { allowExpired: true, peers: options.peers, timeout: LOOK_BEFORE_PUBLISH_TIMEOUT }).catch(() => undefined)
    const seen = await this.store.seen(root, name)
    const highest = [found, seen].filter((r): r is NameRecord => r != null).sort(compareRecords)[0]
    const withdrawn = [...(highest?.withdrawn ?? []).filter(c => !c.equals(cid)), cid].slice(-32)
    const record = await signNameRecord(key, { name, version: (highest?.version ?? 0) + 1, cid: replacement, withdrawn, validity: this.validity, publisher: root, rotations })
    await this.store.accept(record)
    this.published.delete(toHex(await nameDigest(root, name), 'base16'))
    await this.announceBounded(record, root)
    return record
  }

  /** The root publisher and rotation chain a key signs under: its own, unless it was rotated to. */
  private async chainFor (key: PrivateKey): Promise<KeyChain> {
    return await this.store.chainOf(key.publicKey.raw) ?? { publisher: key.publicKey.raw, rotations: [] }
  }

  /**
   * A node that has just started may not have joined the DHT yet, and would miss a version another
   * machine published: wait (bounded) for a first connection and the identify exchange after it.
   */
  private async settle (): Promise<void> {
    for (let waited = 0; waited < SETTLE_TIME && this.components.node.getConnections().length === 0; waited += 100) await sleep(100, this.stopping.signal)
    if (this.components.node.getConnections().length > 0) await sleep(500, this.stopping.signal)
  }

  /** Stops republishing names that point at `cid` (it is no longer seeded here). */
  unpublish (cid: CID): void {
    for (const [digest, p] of this.published) if (p.cid.equals(cid)) this.published.delete(digest)
  }

  /**
   * Announces, but lets the caller go on after ANNOUNCE_WAIT: on the public DHT a put can take
   * half a minute, and the record is already served to peers meanwhile.
   */
  private async announceBounded (record: NameRecord, root: Uint8Array): Promise<void> {
    const done = new AbortController()
    try {
      await Promise.race([this.announce(record, root), sleep(ANNOUNCE_WAIT, AbortSignal.any([done.signal, this.stopping.signal])).catch(() => {}) /* aborted when the announce won the race */])
    } finally {
      done.abort()
    }
  }

  /** DHT record, provider record for the name's CID, and a push to every connected peer. */
  private async announce (record: NameRecord, root: Uint8Array, attempt = 0): Promise<void> {
    const key = await nameKey(root, record.name)
    this.components.announcer.add(await nameCid(root, record.name))
    let stored = 0
    const signal = AbortSignal.any([AbortSignal.timeout(DHT_PUT_TIMEOUT), this.stopping.signal])
    await Promise.all(this.dhts().map(async dht => {
      try {
        for await (const event of dht.put(key, record.bytes, { signal })) {
          if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') stored++
        }
      } catch (err: any) {
        log('putting %s in a DHT ended after %d peers: %s', formatRef(record), stored, err?.message)
      }
    }))
    if (stored === 0) {
      this.components.onWarning?.(`the name record ${formatRef(record)} version ${record.version} reached no DHT peer yet (retrying); peers that hold the release still serve it`)
      if (attempt < PUT_RETRIES && !this.stopping.signal.aborted) {
        const retry = setTimeout(() => { void this.announce(record, root, attempt + 1) }, 2000 * 2 ** attempt)
        retry.unref()
      }
    }
    await Promise.all(this.components.node.getConnections().slice(0, 50).map(async c =>
      await pushNameToPeer(this.components.node, c.remotePeer, record.bytes).catch((err: Error) => {
        log('pushing %s to %p failed (%s); it finds the record in the DHT', formatRef(record), c.remotePeer, err.message)
      })))
  }

  private async republish (): Promise<void> {
    for (const [digest, p] of this.published) {
      // Look first: another machine with the same key may have published or withdrawn since.
      const ref: NameRef = { publisher: p.record.publisher, root: p.root, name: p.name }
      const found = await this.lookup(ref, { allowExpired: true, timeout: LOOK_BEFORE_PUBLISH_TIMEOUT }).catch(() => undefined)
      if (found != null) await this.store.accept(found).catch(() => false)
      const seen = await this.store.seenByDigest(digest)
      // Someone with the same key published a newer version: that one stands, ours stops.
      if (seen != null && seen.version > p.record.version) {
        this.published.delete(digest)
        continue
      }
      try {
        p.record = await signNameRecord(p.key, { name: p.name, version: p.record.version, cid: p.cid, withdrawn: p.record.withdrawn, validity: this.validity, publisher: p.root, rotations: p.rotations })
        await this.store.accept(p.record)
        await this.announce(p.record, p.root)
      } catch (err: any) {
        this.components.onWarning?.(`republishing ${formatRef(p.record)} failed: ${err.message}`)
      }
    }
  }

  /** A peer told us of a record: kept only for names we already hold a record of, and only if newer. */
  private async onPush (bytes: Uint8Array): Promise<void> {
    const record = await openNameRecord(bytes)
    const digest = toHex(await nameDigest(rootOf(record), record.name), 'base16')
    const seen = await this.store.seenByDigest(digest)
    if (seen == null || compareRecords(record, seen) >= 0) return
    if (await this.store.accept(await openNameRecord(bytes, { key: await nameKey(rootOf(record), record.name) }))) this.components.onUpdate?.(record)
  }
}

