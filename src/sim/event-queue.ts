/**
 * The discrete-event engine: a binary min-heap of timed callbacks and the simulated clock.
 * Events at the same time run in the order they were scheduled (a sequence number breaks
 * ties), so a run is deterministic. The queue is the policy units' Clock: they read simulated
 * milliseconds through `now()`.
 */
import type { Clock } from '../swarm/policy/clock.js'

export interface SimEvent {
  readonly time: number
  readonly seq: number
  readonly fn: () => void
  cancelled: boolean
}

export class EventQueue implements Clock {
  private readonly heap: SimEvent[] = []
  private time = 0
  private seq = 0
  /** Cancelled events still in the heap (rescheduled transfers leave many). */
  private dead = 0
  /** Events run so far. */
  processed = 0

  now (): number {
    return this.time
  }

  get size (): number {
    return this.heap.length
  }

  /** Runs `fn` at simulated time `time` (never before now). */
  at (time: number, fn: () => void): SimEvent {
    const event: SimEvent = { time: Math.max(time, this.time), seq: this.seq++, fn, cancelled: false }
    this.push(event)
    return event
  }

  private push (event: SimEvent): void {
    const heap = this.heap
    let i = heap.push(event) - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(event, heap[parent])) break
      heap[i] = heap[parent]
      i = parent
    }
    heap[i] = event
  }

  after (delay: number, fn: () => void): SimEvent {
    return this.at(this.time + Math.max(0, delay), fn)
  }

  /**
   * A cancelled event stays in the heap and is skipped when its time comes; when they are
   * most of the heap, it is rebuilt without them (memory stays proportional to live events).
   */
  cancel (event: SimEvent | undefined): void {
    if (event == null || event.cancelled) return
    event.cancelled = true
    if (++this.dead > 4096 && this.dead * 2 > this.heap.length) this.compact()
  }

  private compact (): void {
    const live = this.heap.filter(e => !e.cancelled)
    this.heap.length = 0
    this.dead = 0
    for (const e of live) this.push(e)
  }

  /**
   * Runs events in time order until none are left, the next is after `until`, `stop()` says
   * so (checked after each event), or `maxEvents` have run. Returns the events run.
   */
  run (opts: { until?: number, maxEvents?: number, stop?: () => boolean } = {}): number {
    const until = opts.until ?? Infinity
    const maxEvents = opts.maxEvents ?? Infinity
    let ran = 0
    while (this.heap.length > 0 && ran < maxEvents) {
      const top = this.heap[0]
      if (top.time > until) break
      this.pop()
      if (top.cancelled) {
        this.dead--
        continue
      }
      this.time = top.time
      top.fn()
      ran++
      if (opts.stop?.() === true) break
    }
    this.processed += ran
    return ran
  }

  private pop (): void {
    const heap = this.heap
    const last = heap.pop() as SimEvent
    if (heap.length === 0) return
    let i = 0
    const n = heap.length
    while (true) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && before(heap[r], heap[l]) ? r : l
      if (!before(heap[c], last)) break
      heap[i] = heap[c]
      i = c
    }
    heap[i] = last
  }
}

function before (a: SimEvent, b: SimEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq)
}
