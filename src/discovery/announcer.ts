/**
 * Puts provider records in the DHT for what this node holds: a release's CID, and the raw CID
 * of each file it holds whole. Never per chunk: a 700 GB model has ~100k chunks and the DHT must
 * not carry them (peers trade HAVE bitfields instead).
 *
 * A record that reached no peer is retried with backoff, and said loudly. kad-dht re-provides
 * our records itself before they expire (48 h); a watchdog warns if a CID has gone a day without
 * a successful announce, which means others may soon not find us.
 *
 * A node may run several DHTs (the public one and the LAN one beside it): each CID is announced
 * to each, and retried on each, on its own, so a LAN that answers at once never hides a public
 * DHT that has no peers yet.
 */
import type { CID } from 'multiformats/cid'
import type { KadDHT } from '@libp2p/kad-dht'
import { withDefaults } from '../util/defaults.js'
import { ANNOUNCE_STALE_AFTER, ANNOUNCE_WATCHDOG_INTERVAL, ANNOUNCER_DEFAULTS, PROVIDER_RECORD_TTL } from './constants.js'
import { logger } from '@libp2p/logger'

const log = logger('p2pweights:discovery:announcer')

export interface AnnouncerInit {
  /** How long one announce may take (ms). */
  timeout?: number
  /** First retry delay after a failed announce; doubles up to maxBackoff (ms). */
  backoff?: number
  maxBackoff?: number
  onAnnounced?: (event: { cid: string, peers: number, dht?: string }) => void
  onWarning?: (message: string) => void
}

type Dht = Pick<KadDHT, 'provide' | 'cancelReprovide'>

/** A DHT to announce to, and the name warnings give it. */
export interface AnnounceTarget { name: string, dht: Dht }

interface Entry {
  cid: CID
  target: AnnounceTarget
  lastSuccess: number
  timer?: NodeJS.Timeout
  backoff: number
}

export class Announcer {
  private readonly entries = new Map<string, Entry>()
  private readonly init: Required<Omit<AnnouncerInit, 'onAnnounced' | 'onWarning'>> & AnnouncerInit
  private readonly controller = new AbortController()
  private watchdog?: NodeJS.Timeout

  private readonly targets: AnnounceTarget[]

  constructor (dhts: Dht | AnnounceTarget[], init: AnnouncerInit = {}) {
    this.targets = Array.isArray(dhts) ? dhts : [{ name: 'the DHT', dht: dhts }]
    this.init = withDefaults(ANNOUNCER_DEFAULTS, init)
  }

  start (): void {
    this.watchdog = setInterval(() => this.checkStale(), ANNOUNCE_WATCHDOG_INTERVAL)
    this.watchdog.unref()
  }

  stop (): void {
    this.controller.abort(new Error('announcer stopped'))
    clearInterval(this.watchdog)
    for (const entry of this.entries.values()) clearTimeout(entry.timer)
    this.entries.clear()
  }

  /** Announces `cid` now (in the background) and keeps it announced until withdraw(). */
  add (cid: CID): void {
    for (const target of this.targets) {
      const key = this.key(cid, target)
      if (this.entries.has(key) || this.controller.signal.aborted) continue
      const entry: Entry = { cid, target, lastSuccess: Date.now(), backoff: this.init.backoff }
      this.entries.set(key, entry)
      void this.announce(entry)
    }
  }

  private key (cid: CID, target: AnnounceTarget): string {
    return this.targets.length === 1 ? cid.toString() : `${target.name} ${cid.toString()}`
  }

  /** Stops retrying and stops kad-dht re-providing `cid`; existing records expire in 48 h. */
  withdraw (cid: CID): void {
    for (const target of this.targets) {
      const key = this.key(cid, target)
      clearTimeout(this.entries.get(key)?.timer)
      this.entries.delete(key)
      target.dht.cancelReprovide(cid).catch((err: Error) => {
        // The records then expire on their own within 48 h.
        log.error('could not stop re-providing %s on %s: %s', cid, target.name, err.message)
      })
    }
  }

  private async announce (entry: Entry): Promise<void> {
    const key = this.key(entry.cid, entry.target)
    const cid = entry.cid.toString()
    let peers = 0
    try {
      const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.init.timeout)])
      for await (const event of entry.target.dht.provide(entry.cid, { signal })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') peers++
      }
    } catch (err: any) {
      // counted below: a timeout with some peers reached is still an announce
      log('announce of %s on %s ended early after %d peers: %s', cid, entry.target.name, peers, err?.message)
    }
    if (this.controller.signal.aborted || this.entries.get(key) !== entry) return
    if (peers > 0) {
      entry.lastSuccess = Date.now()
      entry.backoff = this.init.backoff
      this.init.onAnnounced?.({ cid, peers, ...(this.targets.length > 1 ? { dht: entry.target.name } : {}) })
      return
    }
    this.init.onWarning?.(`announcing ${cid} on ${entry.target.name} reached no peer; others cannot find this node through the DHT yet. Retrying in ${Math.round(entry.backoff / 1000)} s (check the network and --bootstrap)`)
    entry.timer = setTimeout(() => { void this.announce(entry) }, entry.backoff)
    entry.timer.unref()
    entry.backoff = Math.min(entry.backoff * 2, this.init.maxBackoff)
  }

  private checkStale (): void {
    const now = Date.now()
    for (const entry of this.entries.values()) {
      if (now - entry.lastSuccess > ANNOUNCE_STALE_AFTER) {
        this.init.onWarning?.(`the announce of ${entry.cid.toString()} on ${entry.target.name} is ${Math.round((now - entry.lastSuccess) / 3_600_000)} h old; provider records expire after ${PROVIDER_RECORD_TTL / 3_600_000} h and peers may soon not find this node`)
      }
    }
  }
}
