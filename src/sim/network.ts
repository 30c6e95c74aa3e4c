/**
 * Links and the bytes on them. Each node has an upload and a download capacity (bytes per ms)
 * and a one-way latency. A transfer's rate is the smaller of its share of the uploader's upload
 * and of the downloader's download, and of a cap (a relay's, or a trickling peer's). Each end
 * shares its capacity by water-filling: a transfer that the far end limits (its equal share
 * there, or its cap) takes only that much, and the rest goes to the others. That is one step of
 * max-min fairness, not the global fixed point; rates are recomputed for the transfers of both
 * ends whenever one starts or ends there.
 */
import type { EventQueue, SimEvent } from './event-queue.js'

export interface Link {
  /** Upload and download capacity, bytes per ms (1 Mbit/s = 125 bytes/ms). */
  up: number
  down: number
  /** One-way latency to the core, ms. */
  latency: number
  /** Reachable only through a relay: a transfer between two such nodes goes through one. */
  relayOnly: boolean
  kind: string
}

export interface RelayModel {
  /** Extra one-way latency through the relay, ms. */
  latency: number
  /** Rate cap of one relayed transfer, bytes per ms. */
  cap: number
}

export class Transfer {
  remaining: number
  rate = 0
  last: number
  event?: SimEvent
  done = false

  constructor (
    readonly from: number,
    readonly to: number,
    readonly bytes: number,
    readonly cap: number,
    /** Round trip added to the data time (the request out, the last byte back). */
    readonly rtt: number,
    readonly started: number,
    readonly onDone: (t: Transfer) => void
  ) {
    this.remaining = bytes
    this.last = started
  }

  /** Bytes that have arrived so far (settled to the last rate change). */
  get moved (): number {
    return this.bytes - this.remaining
  }
}

export class Network {
  private readonly ups: Transfer[][]
  private readonly downs: Transfer[][]
  /** Bytes each node sent (including cancelled and wasted transfers). */
  readonly sent: Float64Array

  constructor (private readonly queue: EventQueue, readonly links: Link[], readonly relay: RelayModel) {
    this.ups = links.map(() => [])
    this.downs = links.map(() => [])
    this.sent = new Float64Array(links.length)
  }

  /** Round trip between two nodes, through a relay when both are relay-only. */
  rtt (a: number, b: number): number {
    const relayed = this.relayed(a, b)
    return 2 * (this.links[a].latency + this.links[b].latency + (relayed ? this.relay.latency : 0))
  }

  relayed (a: number, b: number): boolean {
    return this.links[a].relayOnly && this.links[b].relayOnly
  }

  uploads (node: number): number {
    return this.ups[node].length
  }

  downloads (node: number): number {
    return this.downs[node].length
  }

  /** Starts moving `bytes` from one node to another; `onDone` runs when the last byte is in. */
  start (from: number, to: number, bytes: number, onDone: (t: Transfer) => void, cap = Infinity): Transfer {
    const relayCap = this.relayed(from, to) ? this.relay.cap : Infinity
    const t = new Transfer(from, to, bytes, Math.min(cap, relayCap), this.rtt(from, to), this.queue.now(), onDone)
    this.ups[from].push(t)
    this.downs[to].push(t)
    this.rerate(from, to)
    return t
  }

  /** Stops a transfer early; returns the bytes that had moved (they count as sent). */
  cancel (t: Transfer): number {
    if (t.done) return 0
    this.settle(t)
    this.finish(t)
    return t.moved
  }

  private complete (t: Transfer): void {
    this.settle(t)
    t.remaining = 0
    this.finish(t)
    t.onDone(t)
  }

  private finish (t: Transfer): void {
    t.done = true
    this.queue.cancel(t.event)
    this.sent[t.from] += t.moved
    remove(this.ups[t.from], t)
    remove(this.downs[t.to], t)
    this.rerate(t.from, t.to)
  }

  /**
   * New rates for every transfer at either end. A downloader first water-fills its download
   * over what each uploader could give it (an equal share of that upload); an uploader then
   * water-fills its upload over those amounts.
   */
  private rerate (from: number, to: number): void {
    const downFills = new Map<number, Map<Transfer, number>>()
    const downFill = (node: number): Map<Transfer, number> => {
      let m = downFills.get(node)
      if (m == null) downFills.set(node, m = this.fill(this.downs[node], this.links[node].down, x => this.links[x.from].up / this.ups[x.from].length))
      return m
    }
    const upFill = (node: number): Map<Transfer, number> =>
      this.fill(this.ups[node], this.links[node].up, x => downFill(x.to).get(x) as number)
    const fromRates = upFill(from)
    for (const t of this.ups[from]) this.reschedule(t, fromRates.get(t) as number)
    const upFills = new Map<number, Map<Transfer, number>>()
    for (const t of this.downs[to]) {
      if (t.from === from) continue
      let m = upFills.get(t.from)
      if (m == null) upFills.set(t.from, m = upFill(t.from))
      this.reschedule(t, m.get(t) as number)
    }
  }

  /** Water-fills `capacity` over transfers, each wanting at most min(its cap, demand(t)). */
  private fill (list: Transfer[], capacity: number, demand: (t: Transfer) => number): Map<Transfer, number> {
    const wants = list.map(t => ({ t, want: Math.min(t.cap, demand(t)) })).sort((a, b) => a.want - b.want)
    const out = new Map<Transfer, number>()
    let left = capacity
    for (let i = 0; i < wants.length; i++) {
      const give = Math.min(wants[i].want, left / (wants.length - i))
      out.set(wants[i].t, give)
      left -= give
    }
    return out
  }

  private reschedule (t: Transfer, rate: number): void {
    this.settle(t)
    // The last byte is on its way: only the latency is left, whatever the new rate.
    if (t.remaining === 0 && t.event != null) return
    if (rate === t.rate && t.event != null) return
    t.rate = rate
    this.queue.cancel(t.event)
    const at = t.last + (rate > 0 ? t.remaining / rate : Infinity) + t.rtt
    t.event = Number.isFinite(at) ? this.queue.at(at, () => this.complete(t)) : undefined
  }

  private settle (t: Transfer): void {
    const now = this.queue.now()
    if (now > t.last) {
      t.remaining = Math.max(0, t.remaining - t.rate * (now - t.last))
      t.last = now
    }
  }
}

function remove<T> (list: T[], item: T): void {
  const i = list.indexOf(item)
  if (i >= 0) {
    list[i] = list[list.length - 1]
    list.pop()
  }
}
