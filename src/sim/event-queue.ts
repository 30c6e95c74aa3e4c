/**
 * The discrete-event engine: a min-heap of timed callbacks and the simulated clock. Events at
 * the same time run in the order they were scheduled (a sequence number breaks ties), so a run
 * is deterministic. The queue is the policy units' Clock: they read simulated milliseconds
 * through `now()`.
 *
 * The heap is 4-ary (half the levels of a binary one) and keeps each entry's time and sequence
 * number in typed arrays beside the events: sifting compares numbers that sit side by side in
 * memory instead of reading an event object per comparison. A 10,000-peer run holds hundreds of
 * thousands of events, so each object read was a cache miss.
 */
import type { Clock } from '../swarm/policy/clock.js'

export interface SimEvent {
  readonly time: number
  readonly seq: number
  readonly fn: () => void
  /** Cancelled, or already run: it will not run (again). */
  cancelled: boolean
}

export class EventQueue implements Clock {
  private events: SimEvent[] = []
  private times = new Float64Array(1024)
  private seqs = new Float64Array(1024)
  private length = 0
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
    return this.length
  }

  /** Runs `fn` at simulated time `time` (never before now). */
  at (time: number, fn: () => void): SimEvent {
    const event: SimEvent = { time: Math.max(time, this.time), seq: this.seq++, fn, cancelled: false }
    this.push(event)
    return event
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
    if (++this.dead > 4096 && this.dead * 2 > this.length) this.compact()
  }

  /**
   * Runs events in time order until none are left, the next is after `until`, `stop()` says
   * so (checked after each event), or `maxEvents` have run. Returns the events run.
   */
  run (opts: { until?: number, maxEvents?: number, stop?: () => boolean } = {}): number {
    const until = opts.until ?? Infinity
    const maxEvents = opts.maxEvents ?? Infinity
    let ran = 0
    while (this.length > 0 && ran < maxEvents) {
      if (this.times[0] > until) break
      const top = this.events[0]
      this.pop()
      if (top.cancelled) {
        this.dead--
        continue
      }
      this.time = top.time
      // No longer pending: cancelling it now (a transfer's own completion does) is a no-op and
      // must not count as a dead entry, or the heap would be compacted for nothing.
      top.cancelled = true
      top.fn()
      ran++
      if (opts.stop?.() === true) break
    }
    this.processed += ran
    return ran
  }

  private compact (): void {
    const live = this.events.slice(0, this.length).filter(e => !e.cancelled)
    this.length = 0
    this.dead = 0
    for (const e of live) this.push(e)
    this.events.length = this.length
  }

  private push (event: SimEvent): void {
    if (this.length === this.times.length) this.grow()
    const { times, seqs } = this
    const time = event.time
    const seq = event.seq
    let i = this.length++
    while (i > 0) {
      const parent = (i - 1) >> 2
      if (time > times[parent] || (time === times[parent] && seq > seqs[parent])) break
      this.move(parent, i)
      i = parent
    }
    this.place(i, time, seq, event)
  }

  /** Removes the first entry: the last one sinks from the top to its place. */
  private pop (): void {
    const { times, seqs, events } = this
    const n = --this.length
    const time = times[n]
    const seq = seqs[n]
    const last = events[n]
    events[n] = undefined as unknown as SimEvent
    if (n === 0) return
    let i = 0
    while (true) {
      const first = 4 * i + 1
      if (first >= n) break
      // The earliest of up to four children.
      let c = first
      const end = first + 4 < n ? first + 4 : n
      for (let k = first + 1; k < end; k++) {
        if (times[k] < times[c] || (times[k] === times[c] && seqs[k] < seqs[c])) c = k
      }
      if (time < times[c] || (time === times[c] && seq < seqs[c])) break
      this.move(c, i)
      i = c
    }
    this.place(i, time, seq, last)
  }

  private move (from: number, to: number): void {
    this.times[to] = this.times[from]
    this.seqs[to] = this.seqs[from]
    this.events[to] = this.events[from]
  }

  private place (i: number, time: number, seq: number, event: SimEvent): void {
    this.times[i] = time
    this.seqs[i] = seq
    this.events[i] = event
  }

  private grow (): void {
    const times = new Float64Array(this.times.length * 2)
    const seqs = new Float64Array(this.seqs.length * 2)
    times.set(this.times)
    seqs.set(this.seqs)
    this.times = times
    this.seqs = seqs
  }
}
