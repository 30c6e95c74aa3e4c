/**
 * Peers banned across fetches, kept by the engine (so a daemon remembers them from one fetch to
 * the next). A ban decays: the first lasts `base`, each repeat doubles it up to `max`, and a peer
 * that stays out of trouble for `forgetAfter` past its last ban starts afresh. Peer ids cost
 * nothing to make, so an address prefix (IPv4 /24, IPv6 /48) with `prefixAfter` banned peers in
 * it is banned as a whole; loopback and private prefixes never are (a LAN or one machine's test
 * swarm would ban its honest members).
 */
import { systemClock, type Clock } from './clock.js'

export interface BanListInit {
  clock?: Clock
  base?: number
  max?: number
  forgetAfter?: number
  prefixAfter?: number
}

export interface BanEntry {
  until: number
  count: number
  reason: string
  prefix?: string
}

export type BanListJson = Record<string, BanEntry>

const PEER = 'peer:'
const NET = 'net:'

export class BanList {
  private readonly entries = new Map<string, BanEntry>()
  private readonly clock: Clock
  private readonly base: number
  private readonly max: number
  private readonly forgetAfter: number
  private readonly prefixAfter: number

  constructor (init: BanListInit = {}, saved?: BanListJson) {
    this.clock = init.clock ?? systemClock
    this.base = init.base ?? 10 * 60_000
    this.max = init.max ?? 24 * 3600_000
    this.forgetAfter = init.forgetAfter ?? 7 * 24 * 3600_000
    this.prefixAfter = init.prefixAfter ?? 3
    for (const [key, entry] of Object.entries(saved ?? {})) {
      if ((key.startsWith(PEER) || key.startsWith(NET)) && Number.isFinite(entry?.until) && Number.isFinite(entry?.count)) {
        this.entries.set(key, { until: entry.until, count: entry.count, reason: String(entry.reason ?? '').slice(0, 200), prefix: typeof entry.prefix === 'string' ? entry.prefix : undefined })
      }
    }
  }

  /** Bans a peer (and its prefix once enough peers there are banned). Returns the ban's end. */
  ban (peer: string, addr: string | undefined, reason: string): number {
    const now = this.clock.now()
    this.prune(now)
    const prefix = addr == null ? undefined : publicPrefix(addr)
    const until = this.extend(PEER + peer, reason, now, prefix)
    if (prefix != null) {
      const inPrefix = [...this.entries].filter(([k, e]) => k.startsWith(PEER) && e.prefix === prefix && e.until > now).length
      if (inPrefix >= this.prefixAfter) this.extend(NET + prefix, `${inPrefix} peers banned in ${prefix}`, now, prefix)
    }
    return until
  }

  /** Why the peer is banned now, or undefined. */
  banned (peer: string, addr?: string): string | undefined {
    const now = this.clock.now()
    const own = this.entries.get(PEER + peer)
    if (own != null && own.until > now) return own.reason
    const prefix = addr == null ? undefined : publicPrefix(addr)
    const net = prefix == null ? undefined : this.entries.get(NET + prefix)
    if (net != null && net.until > now) return net.reason
    return undefined
  }

  get size (): number {
    return this.entries.size
  }

  toJSON (): BanListJson {
    this.prune(this.clock.now())
    return Object.fromEntries(this.entries)
  }

  private extend (key: string, reason: string, now: number, prefix?: string): number {
    const old = this.entries.get(key)
    const count = (old?.count ?? 0) + 1
    const until = now + Math.min(this.max, this.base * 2 ** Math.min(20, count - 1))
    this.entries.set(key, { until, count, reason, prefix })
    return until
  }

  private prune (now: number): void {
    for (const [key, e] of this.entries) if (e.until + this.forgetAfter < now) this.entries.delete(key)
  }
}

/** The /24 (IPv4) or /48 (IPv6) of a public address in a multiaddr, or undefined. */
export function publicPrefix (addr: string): string | undefined {
  const v4 = /^\/ip4\/(\d+)\.(\d+)\.(\d+)\.(\d+)/.exec(addr)
  if (v4 != null) {
    const [a, b] = [Number(v4[1]), Number(v4[2])]
    const isPrivate = a === 10 || a === 127 || a === 0 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) ||
      (a === 169 && b === 254) || (a === 100 && b >= 64 && b < 128) || a >= 224
    return isPrivate ? undefined : `${v4[1]}.${v4[2]}.${v4[3]}.0/24`
  }
  const v6 = /^\/ip6\/([0-9a-fA-F:]+)/.exec(addr)
  if (v6 != null) {
    const text = v6[1].toLowerCase()
    if (text === '::1' || text === '::' || text.startsWith('fe80') || text.startsWith('fc') || text.startsWith('fd')) return undefined
    const groups = text.split('::')[0].split(':')
    if (groups.length < 3) return undefined
    return `${groups.slice(0, 3).join(':')}::/48`
  }
  return undefined
}
