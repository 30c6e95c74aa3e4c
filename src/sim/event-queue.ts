/**
 * The discrete-event engine: a min-heap of timed callbacks and the simulated clock. Events at
 * the same time run in the order they were scheduled (a sequence number breaks ties), so a run
 * is deterministic. The queue is the policy units' Clock: they read simulated milliseconds
 * through `now()`.
 *
 * The heap is 4-ary (half the levels of a binary one) and keeps each entry's time and sequence
 * number in typed arrays beside the events: sifting compares numbers that sit side by side in
 * memory instead of reading an event object per comparison. A 10,000-peer run holds hundreds of
 * thousands of events, so each object read was a cache miss. Each event knows its place in the
 * heap, so a cancelled one leaves at once and a transfer whose rate changed moves its own event
 * (`reschedule`): no object made, no dead entry left, for the millions of rate changes of a run.
 * (time, seq) is unique, so the order of a run does not depend on how the heap is laid out.
 */
import type { Clock } from '../swarm/policy/clock.js'

export interface SimEvent {
  readonly fn: () => void
  /** Cancelled, or already run: it will not run (again). */
  readonly cancelled: boolean
}

/**
 * The queue's own view of an event: where it sits in the heap (-1: not there). Its time and
 * sequence number live only in the heap's typed arrays (a number field of an object is boxed:
 * rescheduling would make one for every move).
 */
interface Entry {
  readonly fn: () => void
  cancelled: boolean
  pos: number
}

export class EventQueue implements Clock {
  private events: Entry[] = []
  private times = new Float64Array(1024)
  private seqs = new Float64Array(1024)
  private length = 0
  private time = 0
  private seq = 0
  /** Events run so far. */
  processed = 0

  now (): number {
    return this.time
  }

  /** Events pending. */
  get size (): number {
    return this.length
  }

  /** Runs `fn` at simulated time `time` (never before now). */
  at (time: number, fn: () => void): SimEvent {
    const event: Entry = { fn, cancelled: false, pos: -1 }
    this.push(event, Math.max(time, this.time), this.seq++)
    return event
  }

  after (delay: number, fn: () => void): SimEvent {
    return this.at(this.time + Math.max(0, delay), fn)
  }

  /**
   * The pending `event` moved to `time`, as if cancelled and its `fn` scheduled anew (it takes
   * the next sequence number); an event no longer pending is scheduled anew. Returns the event.
   */
  reschedule (event: SimEvent, time: number): SimEvent {
    const e = event as Entry
    if (e.pos < 0) return this.at(time, e.fn)
    this.times[e.pos] = Math.max(time, this.time)
    this.seqs[e.pos] = this.seq++
    this.fix(e.pos)
    return e
  }

  /** Takes a pending event out of the heap; it will not run. Events that ran are left alone. */
  cancel (event: SimEvent | undefined): void {
    const e = event as Entry | undefined
    if (e == null || e.cancelled) return
    e.cancelled = true
    if (e.pos >= 0) this.remove(e.pos)
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
      this.time = this.times[0]
      this.remove(0)
      // No longer pending: cancelling it now (a transfer's own completion does) is a no-op.
      top.cancelled = true
      top.fn()
      ran++
      if (opts.stop?.() === true) break
    }
    this.processed += ran
    return ran
  }

  private push (event: Entry, time: number, seq: number): void {
    if (this.length === this.times.length) this.grow()
    const i = this.length++
    this.place(i, time, seq, event)
    this.fix(i)
  }

  /** Takes out the entry at `i`: the last one takes its place and moves up or down. */
  private remove (i: number): void {
    const n = --this.length
    const gone = this.events[i]
    gone.pos = -1
    const last = this.events[n]
    this.events[n] = undefined as unknown as Entry
    if (i === n) return
    this.place(i, this.times[n], this.seqs[n], last)
    this.fix(i)
  }

  /** Moves the entry at `i` up or down to its place. */
  private fix (i: number): void {
    const { times, seqs } = this
    const event = this.events[i]
    const time = times[i]
    const seq = seqs[i]
    const start = i
    while (i > 0) {
      const parent = (i - 1) >> 2
      if (time > times[parent] || (time === times[parent] && seq > seqs[parent])) break
      this.move(parent, i)
      i = parent
    }
    if (i === start) {
      const n = this.length
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
    }
    this.place(i, time, seq, event)
  }

  private move (from: number, to: number): void {
    this.times[to] = this.times[from]
    this.seqs[to] = this.seqs[from]
    const e = this.events[from]
    e.pos = to
    this.events[to] = e
  }

  private place (i: number, time: number, seq: number, event: Entry): void {
    this.times[i] = time
    this.seqs[i] = seq
    event.pos = i
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
