/**
 * The simulated swarm: an origin seeder, honest peers that fetch and serve while they fetch,
 * and hostile peers, on links with capacities and latencies, driven by the event queue. Each
 * node runs the shipped policy units (PiecePicker, PeerBook, Choker, UploadLimit, requestDeadline); this
 * file only moves their decisions over simulated links, as the real session and server do over
 * streams (swarm/session.ts, swarm/server.ts): a fetcher holds at most `maxInFlight` requests,
 * a peer at most `book.slots(peer)` of them; a BUSY answer (choked, or no upload slot) backs
 * off 1 s doubling to 4 s; a server holds at most `uploadLimit.value` (up to `maxUploads`)
 * uploads, `maxUploadsPerPeer` per peer, and keeps a request beyond them in line up to
 * `queueTimeout` (swarm/upload-slots.ts).
 *
 * Granularity: the unit of HAVE and of picking is a piece of `pieceChunks` real chunks (1 =
 * chunk granularity). Within a piece the model keeps what the chunk-by-chunk fetcher does: a
 * request may end at a chunk boundary when a faster peer waits for a buffer (cutAtChunk), and
 * a holder sends one copy of a piece at a time (serial). Hostile behaviour is judged per real
 * chunk: a trickler fails the deadline of one chunk, a corrupt sender is caught by the hash of
 * its first chunk.
 */
import { CHOKE_BACKOFF } from '../swarm/constants.js'
import { requestDeadline } from '../swarm/policy/backoff.js'
import { Choker } from '../swarm/policy/choker.js'
import { UploadLimit } from '../swarm/policy/upload-limit.js'
import { SuperSeeder } from '../swarm/policy/super-seeder.js'
import { checkConfig, piecePlan, type SimConfig } from './config.js'
import { EventQueue } from './event-queue.js'
import { Explainer } from './explain.js'
import { drawLink } from './links.js'
import { Network, type Transfer } from './network.js'
import { FetchState, HOSTILE_ROLES, SimNode, type Request, type Role, type SlotWait } from './nodes.js'
import { Prng } from './prng.js'
import { summarise, type SimResult } from './report.js'


export interface SimCounters {
  /** Bytes of endgame copies that lost the race (cancelled part-way or arrived second). */
  endgame: number
  corrupt: number
  trickle: number
  /** Bytes in flight lost when a peer went away. */
  churn: number
  /** Per hostile role: fetcher-hostile pairs that asked at least once, and that ended banned. */
  contacted: Record<string, Set<string>>
  busy: number
  requests: number
  /** Piece requests ended at a chunk boundary, their buffer handed to a faster peer. */
  cuts: number
  /** Verified bytes each node gave (the first copy of each piece). */
  useful: Float64Array
}

/** Where a run stands, every simulated minute. */
export interface Progress { simSeconds: number, done: number, honest: number, events: number }

export class SwarmSim {
  readonly queue = new EventQueue()
  readonly nodes: SimNode[] = []
  readonly net: Network
  readonly plan: ReturnType<typeof piecePlan>
  readonly counters: SimCounters
  private readonly rng: Prng
  private readonly chokerRng: Prng
  private honestLeft = 0
  private readonly deadline: number
  private explainer?: Explainer

  constructor (readonly config: SimConfig) {
    checkConfig(config)
    this.plan = piecePlan(config)
    this.counters = { endgame: 0, corrupt: 0, trickle: 0, churn: 0, contacted: {}, busy: 0, requests: 0, cuts: 0, useful: new Float64Array(config.peers + 1) }
    this.rng = new Prng(config.seed)
    const linkRng = this.rng.fork()
    const graphRng = this.rng.fork()
    const roleRng = this.rng.fork()
    this.chokerRng = this.rng.fork()
    this.deadline = requestDeadline(config.chunkBytes, { stallTimeout: config.stallTimeout, minRate: config.minRate })
    const n = config.peers
    const roles = this.roles(n, roleRng)
    const origin = new SimNode(0, 'origin', { kind: 'origin', up: config.originMbit * 125, down: config.originMbit * 125, latency: 5, relayOnly: false }, this.plan.pieces)
    if (config.initialSeeding) origin.seeder = new SuperSeeder<number>(this.plan.pieces, { clock: this.queue, repeatEvery: config.repeatEvery, unitChunks: this.plan.pieceChunks })
    this.nodes.push(origin)
    for (let i = 1; i <= n; i++) this.nodes.push(new SimNode(i, roles[i - 1], config.fixedLinks?.[i - 1] ?? drawLink(config.links, linkRng), this.plan.pieces))
    for (const node of this.nodes) {
      if (node.hostile) continue
      node.choker = new Choker<number>({ clock: this.queue, random: this.chokerRng.random })
      // As a node without --max-upload-rate: it learns what its uplink carries.
      node.uploadLimit = new UploadLimit({ max: config.maxUploads, clock: this.queue })
    }
    this.net = new Network(this.queue, this.nodes.map(x => x.link), config.relay)
    this.buildGraph(graphRng)
    for (const role of HOSTILE_ROLES) this.counters.contacted[role] = new Set()
  }

  /**
   * Runs to the end (every honest peer done, or the time limit) and returns the figures;
   * `onProgress` hears every simulated minute how many honest peers are done.
   */
  run (onProgress?: (p: Progress) => void): SimResult {
    const steps = this.minutes(onProgress)
    while (steps.next().done !== true) { /* one simulated minute per step */ }
    return this.result()
  }

  /**
   * As `run`, but it lets the event loop turn after every simulated minute and stops there once
   * `stopped()` says so (the CLI's Ctrl-C): the figures are then those of the run so far, as
   * with a time limit.
   */
  async runUntil (stopped: () => boolean, onProgress?: (p: Progress) => void): Promise<SimResult> {
    const steps = this.minutes(onProgress)
    while (steps.next().done !== true) {
      await new Promise(resolve => setImmediate(resolve))
      if (stopped()) break
    }
    return this.result()
  }

  /** Schedules the arrivals, then runs one simulated minute per step. */
  private * minutes (onProgress?: (p: Progress) => void): Generator<void> {
    const c = this.config
    const arrivals = this.rng.fork()
    const churn = this.rng.fork()
    this.arrive(this.nodes[0], 0)
    let t = 0
    for (const node of this.nodes.slice(1)) {
      t = c.arrivals.kind === 'flash' ? arrivals.next() * c.arrivals.windowMs : t + arrivals.exp(c.arrivals.perSecond) * 1000
      const at = c.fixedArrivals?.[node.index - 1] ?? (node.hostile ? 0 : t)
      if (node.role === 'honest') {
        this.honestLeft++
        if (churn.next() < c.churn) node.leaveAt = at + churn.next() * c.churnWindowMs
      }
      this.queue.at(at, () => this.arrive(node, churn.range(c.churnAwayMs[0], c.churnAwayMs[1])))
    }
    const honest = this.honestLeft
    if (c.explain === true) this.explainer = new Explainer(this)
    this.explainer?.start()
    for (let until = 60_000; this.honestLeft > 0 && this.queue.size > 0 && until <= c.maxTimeMs + 60_000; until += 60_000) {
      this.queue.run({ until: Math.min(until, c.maxTimeMs), stop: () => this.honestLeft === 0 })
      onProgress?.({ simSeconds: this.queue.now() / 1000, done: honest - this.honestLeft, honest, events: this.queue.processed })
      yield
    }
  }

  private result (): SimResult {
    const result = summarise(this)
    if (this.explainer != null) result.explain = this.explainer.report()
    return result
  }

  private roles (n: number, rng: Prng): Role[] {
    const roles: Role[] = new Array(n).fill('honest')
    const hostile = Math.round(n * this.config.hostile)
    const order = roles.map((_, i) => i)
    for (let i = n - 1; i > 0; i--) { const j = rng.int(i + 1); [order[i], order[j]] = [order[j], order[i]] }
    for (let k = 0; k < hostile; k++) roles[order[k]] = HOSTILE_ROLES[k % HOSTILE_ROLES.length]
    return roles
  }

  /** Each peer draws neighbours/2 others (links go both ways, so ~neighbours each); all know the origin. */
  private buildGraph (rng: Prng): void {
    const n = this.nodes.length
    const sets = this.nodes.map(() => new Set<number>())
    const want = Math.min(n - 2, Math.ceil(this.config.neighbours / 2))
    for (let i = 1; i < n; i++) {
      for (let k = 0, tries = 0; k < want && tries < want * 4; tries++) {
        const j = 1 + rng.int(n - 1)
        if (j === i || sets[i].has(j)) continue
        sets[i].add(j)
        sets[j].add(i)
        k++
      }
    }
    for (let i = 1; i < n; i++) { sets[i].add(0); sets[0].add(i) }
    for (let i = 0; i < n; i++) {
      this.nodes[i].neigh = [...sets[i]]
      this.nodes[i].interest = new Int32Array(sets[i].size)
    }
    for (const x of this.nodes) x.pos = new Map(x.neigh.map((j, b) => [j, b]))
    for (const x of this.nodes) x.rev = Int32Array.from(x.neigh, j => this.nodes[j].pos.get(x.index) as number)
  }

  // ---- arrivals and churn -----------------------------------------------------------------

  private arrive (node: SimNode, away: number): void {
    const now = this.queue.now()
    node.present = true
    node.arrival = now
    if (node.firstArrival < 0) node.firstArrival = now
    // Fetching peers that know it count what it holds (a partial peer's GET_HAVE).
    if (node.partial && node.have.count > 0) {
      for (const j of node.neigh) this.nodes[j].fetch?.picker.addHave(node.have, 1)
    }
    if (node.role === 'honest' && !node.have.complete) this.startFetch(node)
    if (node.leaveAt >= 0) {
      const at = node.leaveAt
      node.leaveAt = -1
      this.queue.at(at, () => this.leave(node, away))
    }
    // Neighbours with free buffers may ask it now.
    if (node.claimCount() > 0) for (let b = 0; b < node.neigh.length; b++) this.pumpAt(this.nodes[node.neigh[b]], node.rev[b])
  }

  private leave (node: SimNode, away: number): void {
    if (!node.present) return
    const done = node.have.complete
    node.present = false
    if (node.fetch != null) this.stopFetch(node)
    // Its uploads end: the fetchers lose those pieces in flight and back off from it.
    for (const j of node.neigh) {
      const other = this.nodes[j]
      const f = other.fetch
      const set = f?.inFlightTo.get(node.index)
      if (f == null || set == null || set.size === 0) continue
      for (const piece of [...set]) {
        const req = f.requests.get(piece)?.find(r => r.peer === node)
        if (req != null) this.counters.churn += this.cancel(other, req)
      }
      f.book.sessionEnded(node.id, 1, 'connection closed')
      this.pump(other)
    }
    if (node.partial) for (const j of node.neigh) this.nodes[j].fetch?.picker.addHave(node.have, -1)
    // The origin forgets the copies it gave this peer: those pieces are on offer again.
    const origin = this.nodes[0]
    if (origin.seeder != null && origin.seeder.peerGone(node.id).length > 0) this.wakeOriginFetchers()
    // A peer that had finished stops seeding for good; one that had not comes back and resumes.
    if (!done) this.queue.after(away, () => this.arrive(node, 0))
  }

  // ---- fetching ----------------------------------------------------------------------------

  /** A (re)started fetch: a new picker and peer book, as a restarted process would have. */
  private startFetch (node: SimNode): void {
    const c = this.config
    const k = this.plan.pieceChunks
    // The picker's endgame bounds are in chunks and chunk times: scaled to pieces.
    const f = new FetchState(node.have, this.queue, this.rng.int(this.plan.pieces), this.rng.int(node.neigh.length), {
      ...c, endgameRemaining: Math.max(1, Math.ceil(c.endgameRemaining / k)), stragglerAfter: c.stragglerAfter * k, neighbours: node.neigh.length
    })
    node.fetch = f
    for (let b = 0; b < node.neigh.length; b++) {
      const j = this.nodes[node.neigh[b]]
      node.interest[b] = this.lacking(node, j)
      if (j.present && j.partial && j.have.count > 0) f.picker.addHave(j.have, 1)
    }
    this.pump(node)
  }

  private stopFetch (node: SimNode): void {
    const f = node.fetch as FetchState
    for (const list of [...f.requests.values()]) for (const req of [...list]) this.counters.churn += this.cancel(node, req)
    node.fetch = undefined
  }

  /** Pieces `j` claims that `node` lacks. */
  private lacking (node: SimNode, j: SimNode): number {
    if (node.have.count === 0) return j.claimCount()
    let n = 0
    for (let p = 0; p < this.plan.pieces; p++) if (!node.have.has(p) && j.claims(p)) n++
    return n
  }

  /**
   * Fills free buffers: the fastest waiting neighbour first (PeerBook.priority: peers not tried
   * yet, then by rate), as the fetcher's ChunkBuffers hand a freed buffer to the waiting
   * session of the fastest peer; ties in turn from a cursor that moves on each time.
   */
  private pump (node: SimNode): void {
    const f = node.fetch
    if (f == null || !node.present || f.free <= 0) return
    const n = node.neigh.length
    const { order, prio } = f
    let count = 0
    const start = f.cursor
    f.cursor = f.cursor + 1 >= n ? 0 : f.cursor + 1
    // Neighbours that choke us (most, in a large swarm) are left out at once: tryPeer would
    // only answer when to try them again, which is kept for the wake-up.
    const now = this.queue.now()
    let wake = Infinity
    for (let k = 0; k < n; k++) {
      const b = start + k < n ? start + k : start + k - n
      if (!this.wants(node, b) || !this.nodes[node.neigh[b]].present) continue
      if (f.choking(b, now)) {
        if (f.chokedUntil[b] < wake) wake = f.chokedUntil[b]
        continue
      }
      order[count++] = b
    }
    // The fastest first, equal priorities in turn order: a selection for the first few, as
    // only a buffer or two are free at a time; when many asks are answered "busy" and buffers
    // stay free, the rest is sorted once (stable: the same order as repeated selection).
    let from = 0
    let left = count
    let picks = 0
    let sorted = false
    while (f.free > 0 && left > 0) {
      let b: number
      if (picks++ < 4) {
        let best = from
        for (let i = from + 1; i < from + left; i++) if (prio[order[i]] > prio[order[best]]) best = i
        b = order[best]
        order.copyWithin(best, best + 1, from + left)
      } else {
        if (!sorted) sortByPriority(order, from, left, prio)
        sorted = true
        b = order[from++]
      }
      left--
      while (f.free > 0) {
        const r = this.tryPeer(node, f, b)
        if (r === true) continue
        if (r < wake) wake = r
        break
      }
    }
    if (f.free > 0 && wake < Infinity) this.wakeAt(node, f, wake)
    // All buffers held while some neighbours still wait: the fastest of them may take a
    // buffer at a chunk boundary of a slower peer's request.
    if (this.config.chunkCuts && f.free <= 0 && left > 0 && this.plan.pieceChunks > 1) {
      let q = this.cutFloor(f)
      for (let i = from; i < from + left; i++) if (f.prio[order[i]] > q && this.couldAsk(node, f, order[i])) q = f.prio[order[i]]
      if (q > f.cutFloor) this.scheduleCut(node, f, q)
    }
  }

  /**
   * News from the neighbour at position `b` (a HAVE, an arrival): with free buffers, ask it
   * only; with none, it may take one at a slower holder's chunk boundary.
   */
  private pumpAt (node: SimNode, b: number): void {
    const f = node.fetch
    if (f == null || !node.present) return
    if (f.free <= 0) {
      this.considerCut(node, f, b)
      return
    }
    const r = this.tryPeer(node, f, b)
    if (r !== true && r < Infinity) this.wakeAt(node, f, r)
  }

  private wakeAt (node: SimNode, f: FetchState, at: number): void {
    if (at >= f.wakeAt) return
    f.wakeAt = at
    this.queue.at(at, () => {
      if (f.wakeAt === at) f.wakeAt = Infinity
      if (node.fetch === f) this.pump(node)
    })
  }

  /** Asks neighbour at position `b` for a piece. True if asked; else when to try it again (Infinity: on news). */
  private tryPeer (node: SimNode, f: FetchState, b: number): true | number {
    const peer = this.nodes[node.neigh[b]]
    if (!peer.present || !this.wants(node, b)) return Infinity
    if (f.chokedUntil[b] > this.queue.now()) {
      if (f.due[b] === 0) return f.chokedUntil[b]
      // Its backoff is over and it waited for a buffer with the others (the session's
      // takeBuffer, by PeerBook.priority): it asks again now, below.
      f.unchoke(b)
      peer.waiters.delete(node.index)
    }
    const admit = f.book.admit(peer.id)
    if (!admit.ok) return admit.retryAt ?? Infinity
    const flight = f.flight(peer.index)
    if (flight.size >= f.book.slots(peer.id)) return Infinity
    const seeder = peer.seeder
    if (seeder != null) {
      seeder.asked(node.id) // a look at the origin's HAVE
      if (!seeder.offersAny(node.id)) return Infinity // it grows on a repeat or a peer gone: wakeOriginFetchers
    }
    // The session picks first: with nothing to take from this peer it sends no request (and
    // waits for news), so the peer's choker never hears of it. Not picked again while that
    // answer holds (the origin's offer changes with time: always picked).
    const view = seeder != null
      ? { has: (p: number) => seeder.offers(p, node.id), inFlight: flight, bits: seeder.bitfield(node.id), exact: true }
      : peer.view(flight, this.serial(peer))
    if (seeder == null && this.config.quietPicks !== false && f.quiet(b, peer.offerVersion, view)) return Infinity
    const piece = f.picker.next(view)
    if (piece === undefined) {
      if (seeder == null) f.nothingFrom(b, peer.offerVersion)
      return Infinity
    }
    if (peer.role === 'honest' && !(peer.choker as Choker<number>).request(node.id)) {
      // Choked: "busy" (a round trip, taken as immediate here). The session puts the chunk back
      // (the fetcher's untrack: retried first) and asks again after a backoff that grows to
      // 4 s; those asks are batched per uploader (tick), each every 4 s, the steady state. The
      // origin in initial seeding chokes nobody (it has nothing to reciprocate; its
      // SuperSeeder spreads the first copies).
      f.picker.finish(piece, false)
      this.counters.busy++
      this.counters.requests++
      this.waitFor(node, f, peer, b)
      return Infinity
    }
    return this.request(node, f, peer, b, piece)
  }

  /**
   * Whether `node` may want something from its neighbour at `b`. The origin's offer shrinks
   * while it seeds initially, so no count is kept for it: the picker decides.
   */
  private wants (node: SimNode, b: number): boolean {
    return node.neigh[b] === 0 || node.interest[b] > 0
  }

  /** Sends a request; true, or when to try this peer again if it answered busy. */
  private request (node: SimNode, f: FetchState, peer: SimNode, b: number, piece: number): true | number {
    const c = this.config
    this.counters.requests++
    f.free--
    f.flight(peer.index).add(piece)
    const req: Request = { peer, b, piece, base: node.partBytes.get(piece) ?? 0, uploading: false, ended: false }
    const list = f.requests.get(piece)
    if (list == null) f.requests.set(piece, [req])
    else list.push(req)
    f.cutFloor = NaN
    const rtt = this.net.rtt(node.index, peer.index)
    if (peer.hostile) this.counters.contacted[peer.role].add(`${node.index}:${peer.index}`)
    switch (peer.role) {
      case 'liar':
        // It claimed every piece but has none: NOT_FOUND, a protocol strike (session.ts).
        this.queue.after(rtt, () => {
          if (req.ended) return
          this.requestEnded(node, req)
          this.offence(node, f, peer, 'protocol', 'claimed every chunk but had not got one')
          this.pump(node)
        })
        return true
      case 'trickle':
        // Bytes come, too slowly: the chunk's deadline (requestDeadline) fails it, a strike.
        req.transfer = this.net.start(peer.index, node.index, c.chunkBytes, t => {
          this.counters.trickle += t.bytes
          this.requestEnded(node, req)
          this.pump(node)
        }, c.trickleRate)
        this.queue.after(this.deadline, () => {
          if (req.ended) return
          this.counters.trickle += this.net.cancel(req.transfer as Transfer)
          this.requestEnded(node, req)
          this.offence(node, f, peer, 'timeout', 'too slow')
          this.pump(node)
        })
        return true
      case 'corrupt':
        // The first chunk fails its hash: banned at once (PeerBook: corrupt).
        req.transfer = this.net.start(peer.index, node.index, c.chunkBytes, t => {
          this.counters.corrupt += t.bytes
          this.requestEnded(node, req)
          this.offence(node, f, peer, 'corrupt', 'sent a corrupt chunk')
          this.pump(node)
        })
        return true
    }
    // Upload slots (swarm/server.ts, upload-slots.ts): with none for it, the request waits in
    // the server's line up to queueTimeout, unless as many wait already as run; else BUSY. At
    // piece granularity a slot turns over once per piece, k times less often than per chunk:
    // the wait is scaled as the picker's straggler bound is (unscaled, 2-chunk pieces ran 15%
    // slower at p50 than chunk granularity; scaled, 5%: docs/simulation.md).
    const limit = this.slotLimit(peer)
    const full = this.net.uploads(peer.index) >= limit
    if (full) peer.uploadLimit?.full()
    if (!this.canTake(peer, node, limit)) {
      if (full && peer.slotQueue.length >= limit) {
        this.requestEnded(node, req)
        return this.busy(f, b, rtt)
      }
      req.queued = this.queue.after(rtt + c.queueTimeout * this.plan.pieceChunks, () => {
        if (req.ended) return
        this.requestEnded(node, req)
        this.busy(f, b, rtt)
        this.pump(node)
      })
      peer.slotQueue.push({ node, f, req })
      return true
    }
    this.serve(node, f, peer, b, req, rtt)
    return true
  }

  private slotLimit (peer: SimNode): number {
    return peer.uploadLimit?.value ?? this.config.maxUploads
  }

  private canTake (peer: SimNode, node: SimNode, limit: number): boolean {
    return this.net.uploads(peer.index) < limit && (peer.uploadsTo.get(node.index) ?? 0) < this.config.maxUploadsPerPeer
  }

  /** BUSY from the neighbour at `b`: the session asks it again after its backoff (1 s doubling to 4 s). */
  private busy (f: FetchState, b: number, rtt: number): number {
    this.counters.busy++
    if (f.chokes[b] < 255) f.chokes[b]++
    const until = this.queue.now() + rtt + Math.min(CHOKE_BACKOFF.max, CHOKE_BACKOFF.first * 2 ** (f.chokes[b] - 1))
    f.choke(b, until)
    return until
  }

  /** An upload of `peer` ended: a waiting request may take its slot (after the current step). */
  private slotFreed (peer: SimNode): void {
    if (peer.slotFreed || peer.slotQueue.length === 0) return
    peer.slotFreed = true
    this.queue.after(0, () => {
      peer.slotFreed = false
      const line = peer.slotQueue
      const limit = this.slotLimit(peer)
      // The freed slot goes to the waiting peer with the fewest uploads (UploadSlots.wakeNext).
      while (line.length > 0 && peer.present) {
        let best = -1
        for (let i = 0; i < line.length; i++) {
          if (!this.canTake(peer, line[i].node, limit)) continue
          if (best < 0 || (peer.uploadsTo.get(line[i].node.index) ?? 0) < (peer.uploadsTo.get(line[best].node.index) ?? 0)) best = i
        }
        if (best < 0) break
        const { node, f, req } = line.splice(best, 1)[0] as SlotWait
        this.queue.cancel(req.queued)
        req.queued = undefined
        this.serve(node, f, peer, req.b, req, this.net.rtt(node.index, peer.index))
      }
    })
  }

  /** A request that got an upload slot: the server answers it (or the origin refuses a piece it no longer offers). */
  private serve (node: SimNode, f: FetchState, peer: SimNode, b: number, req: Request, rtt: number): void {
    const piece = req.piece
    if (peer.seeder?.offers(piece, node.id) === false) {
      // Initial seeding: that piece already left the origin once. NOT_FOUND, no strike: the
      // fetcher asks what it offers now.
      this.queue.after(rtt, () => {
        if (req.ended) return
        this.requestEnded(node, req)
        this.pump(node)
      })
      return
    }
    if (peer.seeder?.uploaded(piece, node.id) === true) {
      // A repeat: the next one is allowed at repeatAt, when fetchers waiting on the origin ask again.
      const at = peer.seeder.repeatAt
      this.queue.at(at, () => this.wakeOriginFetchers())
    }
    f.unchoke(b)
    req.uploading = true
    if (this.serial(peer)) peer.startSending(piece)
    peer.uploadsTo.set(node.index, (peer.uploadsTo.get(node.index) ?? 0) + 1)
    // Only the chunks the fetcher lacks move (chunk boundaries: see cutAtChunk).
    const bytes = this.plan.pieceBytes - req.base
    peer.choker?.sent(node.id, bytes)
    req.transfer = this.net.start(peer.index, node.index, bytes, t => this.delivered(node, f, req, t))
    f.cutFloor = NaN
  }

  // ---- chunk boundaries within a piece ------------------------------------------------------
  //
  // The real fetcher asks chunk by chunk: when a chunk is in, its buffer goes to the fastest
  // waiting peer (ChunkBuffers, PeerBook.priority), which may not be the peer that sent it.
  // At piece granularity a request would hold its buffer for the whole piece, so a slow uplink
  // keeps it for many chunk times while a faster peer waits. So: while all buffers are held and
  // a neighbour that would take one ranks above a holder, the holder's request whose next chunk
  // boundary comes first ends there. The whole chunks it brought stay (`partBytes`: only the
  // rest moves when the piece is asked again), its buffer goes to the fastest waiting peer
  // (pump), and the piece goes back to the picker as a failed chunk does (finish: retried
  // first), as the real fetcher puts back chunks it did not ask yet. Only requests to honest
  // peers other than the origin, and only the single copy of a piece (an endgame race ends by
  // itself); at chunk granularity there is no boundary inside a request, so nothing changes.

  /** Whether the neighbour at `b` would take a free buffer now; reads state only (tryPeer's checks). */
  private couldAsk (node: SimNode, f: FetchState, b: number): boolean {
    const peer = this.nodes[node.neigh[b]]
    if (!peer.present || peer.seeder != null || !this.wants(node, b)) return false
    if (f.choking(b, this.queue.now())) return false
    if (!f.book.admit(peer.id).ok) return false
    if ((f.inFlightTo.get(peer.index)?.size ?? 0) >= f.book.slots(peer.id)) return false
    // It claims a piece we lack that nobody is asked for (at once when it claims more than
    // there are pieces asked for).
    const interest = node.interest[b]
    if (interest > f.requests.size) return true
    let asked = 0
    for (const p of f.requests.keys()) if (peer.claims(p)) asked++
    return interest > asked
  }

  /** The neighbour at `b` would take a buffer and none is free: perhaps at a slower holder's chunk boundary. */
  private considerCut (node: SimNode, f: FetchState, b: number): void {
    if (!this.config.chunkCuts || this.plan.pieceChunks <= 1 || f.cut != null || !node.present) return
    if (!(f.prio[b] > this.cutFloor(f)) || !this.couldAsk(node, f, b)) return
    this.scheduleCut(node, f, f.prio[b])
  }

  /** The priority of the fastest neighbour that would take a free buffer now (-Infinity: none). */
  private bestWaiting (node: SimNode, f: FetchState): number {
    let q = -Infinity
    for (let b = 0; b < node.neigh.length; b++) if (f.prio[b] > q && this.couldAsk(node, f, b)) q = f.prio[b]
    return q
  }

  /**
   * The lowest priority among the holders of requests that may end at a chunk boundary: a
   * neighbour ranked no higher can take no buffer that way. Cached until a request starts or
   * ends, or a priority changes (HAVE updates and choked asks look it up millions of times).
   */
  private cutFloor (f: FetchState): number {
    if (Number.isNaN(f.cutFloor)) {
      let min = Infinity
      for (const list of f.requests.values()) if (list.length === 1 && this.cuttable(list[0]) && f.prio[list[0].b] < min) min = f.prio[list[0].b]
      f.cutFloor = min
    }
    return f.cutFloor
  }

  /** Ends, at its next chunk boundary, the request of a peer ranked below `q` that reaches one first. */
  private scheduleCut (node: SimNode, f: FetchState, q: number): void {
    if (f.cut != null) return
    let best: Request | undefined
    let bestAt = Infinity
    for (const list of f.requests.values()) {
      if (list.length !== 1) continue
      const req = list[0]
      if (!this.cuttable(req) || !(f.prio[req.b] < q)) continue
      const at = this.nextBoundary(req)
      if (at < bestAt) { best = req; bestAt = at }
    }
    if (best === undefined) return
    const req = best
    f.cut = { req, event: this.queue.at(bestAt, () => this.cutAtChunk(node, f, req)) }
  }

  private cuttable (req: Request): boolean {
    return req.uploading && req.peer.role === 'honest' && req.peer.seeder == null && req.transfer != null && !req.transfer.done
  }

  /** When the request's transfer reaches the next chunk boundary before the piece's last chunk (Infinity: never). */
  private nextBoundary (req: Request): number {
    const t = req.transfer as Transfer
    const chunk = this.plan.pieceBytes / this.plan.pieceChunks
    const got = req.base + this.net.progress(t)
    const next = (Math.floor(got / chunk + 1e-9) + 1) * chunk
    if (next > this.plan.pieceBytes - chunk / 2 || !(t.rate > 0)) return Infinity
    return this.queue.now() + (next - got) / t.rate
  }

  private cutAtChunk (node: SimNode, f: FetchState, req: Request): void {
    f.cut = undefined
    if (req.ended || node.fetch !== f || !node.present || f.requests.get(req.piece)?.length !== 1) return
    const t = req.transfer as Transfer
    const chunk = this.plan.pieceBytes / this.plan.pieceChunks
    const got = req.base + this.net.progress(t)
    const at = Math.round(got / chunk) * chunk
    if (Math.abs(got - at) > 1 || at <= req.base || at > this.plan.pieceBytes - chunk / 2) {
      // The rate changed since this was planned: the next boundary, if a faster peer still waits.
      if (f.prio[req.b] < this.bestWaiting(node, f)) {
        const when = this.nextBoundary(req)
        if (when < Infinity) f.cut = { req, event: this.queue.at(when, () => this.cutAtChunk(node, f, req)) }
      }
      return
    }
    if (!(f.prio[req.b] < this.bestWaiting(node, f))) return
    const peer = req.peer
    const now = this.queue.now()
    const kept = at - req.base
    const moved = this.net.cancel(t)
    // Float slack past the boundary (a byte at most) is not a chunk: counted as wasted.
    this.counters.endgame += Math.max(0, moved - kept)
    this.counters.cuts++
    node.partBytes.set(req.piece, at)
    this.counters.useful[peer.index] += kept
    // The chunks it sent were delivered: the server and the peer book learn from them.
    peer.uploadLimit?.finished(kept, now - t.started)
    f.book.delivered(peer.id, kept, now - t.started)
    f.chokes[req.b] = 0
    this.priorityChanged(node, f, peer)
    node.choker?.received(peer.id, kept)
    this.requestEnded(node, req)
    this.pump(node)
  }

  /**
   * At piece granularity an honest peer (not the origin: its SuperSeeder sends each piece out
   * once anyway) uploads one copy of a piece at a time. Fetchers that ask one holder at once for
   * its rare chunks really ask for different chunks of them (rarest first from a random start),
   * so the holder's data leaves it at its full uplink rate and they swap the rest among
   * themselves. As whole pieces, they would all get the same piece at a share of that uplink
   * and hold it only at the end, together: the time to pass a piece on would grow with the
   * number of fetchers asking. One copy at a time leaves the holder at its full rate, as the
   * real chunks do; the others take another piece meanwhile, or wait. No effect at chunk
   * granularity.
   */
  private serial (peer: SimNode): boolean {
    return this.config.serialPieces && this.plan.pieceChunks > 1 && peer.role === 'honest'
  }

  /** An upload of `piece` by `peer` ended: when it was the only one, the piece is on offer from it again. */
  private sent (peer: SimNode, piece: number): void {
    if (!peer.stopSending(piece)) return
    // Neighbours that lack it and have a free buffer may ask now (after the current step).
    this.queue.after(0, () => {
      if (!peer.present || peer.sending.has(piece)) return
      for (let b = 0; b < peer.neigh.length; b++) {
        const j = this.nodes[peer.neigh[b]]
        if (j.fetch != null && j.fetch.free > 0 && !j.have.has(piece)) this.pumpAt(j, peer.rev[b])
      }
    })
  }

  /** Fetchers with a free buffer look at the origin's offer again (it grew). */
  private wakeOriginFetchers (): void {
    const origin = this.nodes[0]
    for (let b = 0; b < origin.neigh.length; b++) this.pumpAt(this.nodes[origin.neigh[b]], origin.rev[b])
  }

  /** `node` is choked by `peer`: it waits in `peer`'s list, polled each tick. */
  private waitFor (node: SimNode, f: FetchState, peer: SimNode, b: number): void {
    f.choke(b, Infinity)
    if (f.chokes[b] < 255) f.chokes[b]++
    peer.waiters.set(node.index, b)
    if (!peer.tickScheduled) {
      peer.tickScheduled = true
      this.queue.after(CHOKE_BACKOFF.max, () => this.tick(peer))
    }
  }

  /**
   * The choked fetchers of `peer` ask again (each choked session does, every 4 s). A fetcher
   * with no free buffer asks when one frees, if it is then the fastest waiting peer (`due`).
   */
  private tick (peer: SimNode): void {
    peer.tickScheduled = false
    // A copy: a fetcher asked again below may be choked again, and join the list anew.
    for (const [index, b] of [...peer.waiters]) {
      const node = this.nodes[index]
      const f = node.fetch
      if (!peer.present || f == null || !node.present || !this.wants(node, b)) {
        peer.waiters.delete(index)
        f?.unchoke(b)
        continue
      }
      if (f.free <= 0) {
        // The real session waits for a buffer like any other (takeBuffer, by priority): it
        // asks when one frees and it is the fastest waiting (pump), not only at this tick.
        if (f.chokedUntil[b] > 0) f.due[b] = 1
        this.considerCut(node, f, b)
        continue
      }
      // Its backoff is over and a buffer is free: it picks a chunk this peer has and asks
      // (tryPeer; "busy" puts it back in this list), or, with nothing to pick, asks nothing.
      peer.waiters.delete(index)
      f.unchoke(b)
      this.pumpAt(node, b)
    }
    if (!peer.tickScheduled && peer.waiters.size > 0 && peer.present) {
      peer.tickScheduled = true
      this.queue.after(CHOKE_BACKOFF.max, () => this.tick(peer))
    }
  }

  /** A request is over (any outcome): frees its buffer and the server's slot; at most once. */
  private requestEnded (node: SimNode, req: Request, ok = false): void {
    const f = node.fetch
    if (req.ended || f == null) return
    req.ended = true
    f.free++
    f.cutFloor = NaN
    if (f.cut?.req === req) {
      this.queue.cancel(f.cut.event)
      f.cut = undefined
    }
    f.inFlightTo.get(req.peer.index)?.delete(req.piece)
    const list = f.requests.get(req.piece)
    const i = list?.indexOf(req) ?? -1
    if (list != null && i >= 0) list.splice(i, 1)
    if (list?.length === 0) f.requests.delete(req.piece)
    if (req.queued != null) {
      const line = req.peer.slotQueue
      line.splice(line.findIndex(w => w.req === req), 1)
      this.queue.cancel(req.queued)
      req.queued = undefined
    }
    if (req.uploading && this.serial(req.peer)) this.sent(req.peer, req.piece)
    if (req.uploading) {
      const n = (req.peer.uploadsTo.get(node.index) ?? 1) - 1
      if (n > 0) req.peer.uploadsTo.set(node.index, n)
      else req.peer.uploadsTo.delete(node.index)
      this.slotFreed(req.peer)
    }
    f.picker.finish(req.piece, ok)
  }

  /** Cancels a request's bytes (a lost endgame race, a peer that left); returns the bytes moved. */
  private cancel (node: SimNode, req: Request): number {
    const moved = req.transfer != null ? this.net.cancel(req.transfer) : 0
    this.requestEnded(node, req)
    return moved
  }

  private offence (node: SimNode, f: FetchState, peer: SimNode, kind: 'protocol' | 'timeout' | 'corrupt', reason: string): void {
    node.struckSeen.add(peer.index)
    if (f.book.offence(peer.id, kind, reason)) {
      f.book.sessionEnded(peer.id, 0, reason)
      node.bannedSeen.add(peer.index)
    }
    this.priorityChanged(node, f, peer)
  }

  /** The peer book learned something of `peer`: its place in the order for free buffers too. */
  private priorityChanged (node: SimNode, f: FetchState, peer: SimNode): void {
    const b = node.pos.get(peer.index)
    if (b !== undefined) f.prio[b] = f.book.priority(peer.id)
    f.cutFloor = NaN
  }

  private delivered (node: SimNode, f: FetchState, req: Request, t: Transfer): void {
    if (req.ended || node.fetch !== f) return
    this.requestEnded(node, req, true)
    f.chokes[req.b] = 0 // the session's backoff starts over
    req.peer.uploadLimit?.finished(t.bytes, this.queue.now() - t.started)
    f.book.delivered(req.peer.id, t.bytes, this.queue.now() - t.started)
    this.priorityChanged(node, f, req.peer)
    if (!node.have.has(req.piece)) this.counters.useful[req.peer.index] += t.bytes
    node.choker?.received(req.peer.id, t.bytes)
    if (node.have.has(req.piece)) {
      this.counters.endgame += t.bytes
      this.pump(node)
      return
    }
    // The first copy wins; the other copies in flight are cancelled (the fetcher's untrack).
    for (const loser of [...(f.requests.get(req.piece) ?? [])]) {
      this.counters.endgame += this.cancel(node, loser)
      f.book.outrun(loser.peer.id)
      this.priorityChanged(node, f, loser.peer)
    }
    node.partBytes.delete(req.piece)
    this.gotPiece(node, req.piece)
    if (node.have.complete) {
      node.doneAt = this.queue.now()
      // The fetch is over: its sessions end, and copies still in flight are waste.
      for (const list of [...f.requests.values()]) {
        for (const r of [...list]) {
          const moved = this.cancel(node, r)
          if (r.peer.role === 'trickle') this.counters.trickle += moved
          else if (r.peer.role === 'corrupt') this.counters.corrupt += moved
          else this.counters.endgame += moved
        }
      }
      node.fetch = undefined
      this.honestLeft--
    } else {
      this.pump(node)
    }
  }

  /** A verified piece: this node's interest in its neighbours drops, theirs in it rises (HAVE). */
  private gotPiece (node: SimNode, piece: number): void {
    node.got(piece)
    const neigh = node.neigh
    for (let b = 0; b < neigh.length; b++) {
      const j = this.nodes[neigh[b]]
      if (j.claims(piece)) node.interest[b]--
      const g = j.fetch
      if (g == null || !j.present) continue
      g.picker.addChunk(piece)
      if (!j.have.has(piece)) {
        const back = node.rev[b]
        j.interest[back]++
        this.pumpAt(j, back)
      }
    }
  }
}

/**
 * Sorts order[from, from + n) by priority, highest first, ties kept in place (a stable sort: by
 * insertion, in place; a few dozen neighbours).
 */
function sortByPriority (order: Int32Array, from: number, n: number, prio: Float64Array): void {
  for (let i = from + 1; i < from + n; i++) {
    const b = order[i]
    const p = prio[b]
    let j = i
    while (j > from && prio[order[j - 1]] < p) {
      order[j] = order[j - 1]
      j--
    }
    order[j] = b
  }
}
