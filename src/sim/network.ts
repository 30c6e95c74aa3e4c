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
  /** Scratch for water-filling. */
  want = 0
  share = 0

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
    this.fillUp(from)
    for (const t of this.ups[from]) this.reschedule(t, t.share)
    for (const t of this.downs[to]) {
      if (t.from === from) continue
      this.fillUp(t.from)
      this.reschedule(t, t.share)
    }
  }

  /** Each upload's share of `node`'s upload, water-filled over what its downloader would take. */
  private fillUp (node: number): void {
    const list = this.ups[node]
    for (const t of list) this.fillDown(t.to)
    fill(list, this.links[node].up, t => t.share)
  }

  /** Each download's share of `node`'s download, water-filled over its uploader's equal share. */
  private fillDown (node: number): void {
    fill(this.downs[node], this.links[node].down, t => Math.min(t.cap, this.links[t.from].up / this.ups[t.from].length))
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

/**
 * Water-fills `capacity` over transfers, each wanting at most `want(t)`; writes each one's
 * amount to `t.share`. With no one wanting less than an equal share, that is the equal share.
 */
function fill (list: Transfer[], capacity: number, want: (t: Transfer) => number): void {
  const n = list.length
  const equal = capacity / n
  let min = Infinity
  for (const t of list) {
    t.want = want(t)
    if (t.want < min) min = t.want
  }
  if (min >= equal) {
    for (const t of list) t.share = equal
    return
  }
  const sorted = list.slice().sort((a, b) => a.want - b.want)
  let left = capacity
  for (let i = 0; i < n; i++) {
    const t = sorted[i]
    t.share = Math.min(t.want, left / (n - i))
    left -= t.share
  }
}

function remove<T> (list: T[], item: T): void {
  const i = list.indexOf(item)
  if (i >= 0) {
    list[i] = list[list.length - 1]
    list.pop()
  }
}
