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
  /**
   * remaining, rate, last, want: the numbers that change with every rate change at either end,
   * in a typed array. As object fields V8 keeps them boxed here (`%DebugPrint`: `@ Any`), so
   * every new value was a new heap object: millions a run.
   */
  private readonly n = new Float64Array(4)
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
    this.n[0] = bytes
    this.n[2] = started
  }

  /** Bytes still to move (settled to `last`). */
  get remaining (): number { return this.n[0] }
  set remaining (v: number) { this.n[0] = v }
  /** Bytes per ms now. */
  get rate (): number { return this.n[1] }
  set rate (v: number) { this.n[1] = v }
  /** When `remaining` was last settled (ms). */
  get last (): number { return this.n[2] }
  set last (v: number) { this.n[2] = v }
  /** Scratch for water-filling. */
  get want (): number { return this.n[3] }
  set want (v: number) { this.n[3] = v }

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
  /** Each node's water level on its upload and its download (bytes per ms; Infinity: not a limit). */
  private readonly upLevel: Float64Array
  private readonly downLevel: Float64Array

  constructor (private readonly queue: EventQueue, readonly links: Link[], readonly relay: RelayModel) {
    this.ups = links.map(() => [])
    this.downs = links.map(() => [])
    this.sent = new Float64Array(links.length)
    this.upLevel = new Float64Array(links.length).fill(Infinity)
    this.downLevel = new Float64Array(links.length).fill(Infinity)
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

  /** The transfers into a node now (read only: for figures). */
  incoming (node: number): readonly Transfer[] {
    return this.downs[node]
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

  /** Bytes of a running transfer that have moved by now (read only, settled to now). */
  progress (t: Transfer): number {
    if (!t.done) this.settle(t)
    return t.moved
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
   * New rates for every transfer at either end. Each end has a water level: its capacity
   * shared so that transfers the far end (or a cap) holds below the level take what they can,
   * and the rest share equally; a transfer runs at the lower of its two ends' levels. The
   * downloader's level is found, then the uploader's against it, then the downloader's again.
   */
  private rerate (from: number, to: number): void {
    this.downLevel[to] = this.levelDown(to)
    const ups = this.ups[from]
    for (const t of ups) t.want = Math.min(t.cap, this.downLevel[t.to])
    this.upLevel[from] = level(ups, this.links[from].up)
    this.downLevel[to] = this.levelDown(to)
    for (const t of this.ups[from]) this.reschedule(t, Math.min(t.cap, this.upLevel[from], this.downLevel[t.to]))
    for (const t of this.downs[to]) if (t.from !== from) this.reschedule(t, Math.min(t.cap, this.upLevel[t.from], this.downLevel[to]))
  }

  private levelDown (node: number): number {
    const downs = this.downs[node]
    for (const t of downs) t.want = Math.min(t.cap, this.upLevel[t.from])
    return level(downs, this.links[node].down)
  }

  private reschedule (t: Transfer, rate: number): void {
    this.settle(t)
    // The last byte is on its way: only the latency is left, whatever the new rate.
    if (t.remaining === 0 && t.event != null) return
    if (rate === t.rate && t.event != null) return
    t.rate = rate
    const at = t.last + (rate > 0 ? t.remaining / rate : Infinity) + t.rtt
    if (!Number.isFinite(at)) {
      this.queue.cancel(t.event)
      t.event = undefined
    } else if (t.event != null) {
      t.event = this.queue.reschedule(t.event, at)
    } else {
      t.event = this.queue.at(at, () => this.complete(t))
    }
  }

  private settle (t: Transfer): void {
    const now = this.queue.now()
    if (now > t.last) {
      t.remaining = Math.max(0, t.remaining - t.rate * (now - t.last))
      t.last = now
    }
  }
}

/** level()'s sorting space, reused. */
let scratch = new Float64Array(64)

/**
 * The water level of `capacity` over transfers that each want at most `t.want`: the share of
 * those that want more. Infinity when every transfer gets all it wants (this end is no limit).
 */
export function level (list: Transfer[], capacity: number): number {
  const n = list.length
  if (n === 0) return Infinity
  let min = Infinity
  for (const t of list) if (t.want < min) min = t.want
  if (min >= capacity / n) return capacity / n
  // Sorted in a reused typed array: this runs at both ends of every transfer start and end.
  // By insertion up to a few dozen (an honest end's count; no copy made, as a typed array's
  // sort makes), else by the typed array's sort (a hostile peer serves any number).
  if (scratch.length < n) scratch = new Float64Array(2 * n)
  let wants = scratch
  if (n <= 64) {
    for (let i = 0; i < n; i++) {
      const w = list[i].want
      let j = i
      while (j > 0 && wants[j - 1] > w) {
        wants[j] = wants[j - 1]
        j--
      }
      wants[j] = w
    }
  } else {
    for (let i = 0; i < n; i++) wants[i] = list[i].want
    wants = wants.subarray(0, n).sort()
  }
  let left = capacity
  for (let i = 0; i < n; i++) {
    const share = left / (n - i)
    if (wants[i] >= share) return share
    left -= wants[i]
  }
  return Infinity
}

function remove<T> (list: T[], item: T): void {
  const i = list.indexOf(item)
  if (i >= 0) {
    list[i] = list[list.length - 1]
    list.pop()
  }
}
