/**
 * `--explain`: where the slowest peers' time went. Every simulated second each fetching honest
 * peer is put in one state, from what its fetch holds at that moment:
 * - `link`: it receives at >= 80% of its download capacity (as fast as it can be);
 * - `held`: every buffer holds a request, and together they run below that (buffers on slow uploads);
 * - `unasked`: a free buffer, and an unchoking neighbour holds a piece it lacks that is not in
 *   flight (the peer book's slots or backoff, or the server's upload caps, hold the asks back);
 * - `choked`: a free buffer, and only neighbours that choke it hold such a piece;
 * - `nothing`: a free buffer, and no neighbour holds a piece it lacks that is not in flight
 *   (what is left is in flight, or nobody has it yet);
 * and, apart from those, whether it is in the picker's endgame. The sampler reads the fetch's
 * state only (no policy unit is called), so a run with `--explain` is the same run; without it
 * nothing is sampled.
 */
import type { SimNode } from './nodes.js'
import type { SwarmSim } from './swarm-sim.js'

export const STATES = ['link', 'held', 'unasked', 'choked', 'nothing'] as const
export type State = typeof STATES[number]

/** Per honest peer: seconds in each state, and what it received from whom. */
interface PeerTrace {
  states: Record<State, number>
  endgame: number
  /** Bytes received, by the sender's link kind (estimated from sampled rates). */
  from: Record<string, number>
  /** Sum over samples of neighbours holding a wanted piece, and of those choking us. */
  holders: number
  chokers: number
  samples: number
  /** Sum over samples of requests in flight, and of their rates (bytes/ms). */
  inFlight: number
  /** Sum over samples of requests in flight to hostile peers (tricklers, mostly). */
  hostile: number
  rate: number
}

export interface GroupFigures {
  group: string
  peers: number
  /** Mean time to complete (to the end of the run for those not done), and how many are not done. */
  meanSeconds: number
  notDone: number
  kinds: Record<string, number>
  relayOnly: number
  upMbit: number
  downMbit: number
  /** Mean arrival, seconds. */
  arrival: number
  neighbours: number
  /** Share of fetch time in each state, and in endgame. */
  states: Record<State, number>
  endgame: number
  /** Share of received bytes by sender kind. */
  from: Record<string, number>
  /** Mean over samples: neighbours holding a wanted piece, of those choking us; requests in flight; receive rate / download capacity. */
  holders: number
  chokers: number
  inFlight: number
  hostileHeld: number
  utilisation: number
}

export class Explainer {
  private readonly traces = new Map<number, PeerTrace>()
  private readonly step = 1000

  constructor (private readonly sim: SwarmSim) {}

  start (): void {
    this.sim.queue.after(this.step, () => this.sample())
  }

  private sample (): void {
    const sim = this.sim
    const now = sim.queue.now()
    const endgameAt = Math.max(1, Math.ceil(sim.config.endgameRemaining / sim.plan.pieceChunks))
    let fetching = 0
    for (const node of sim.nodes) {
      const f = node.fetch
      if (node.role !== 'honest' || f == null || !node.present) continue
      fetching++
      const t = this.trace(node.index)
      t.samples++
      let rate = 0
      for (const x of sim.net.incoming(node.index)) {
        rate += x.rate
        const kind = sim.nodes[x.from].link.kind
        t.from[kind] = (t.from[kind] ?? 0) + x.rate * this.step
      }
      t.inFlight += sim.config.maxInFlight - f.free
      for (const list of f.requests.values()) for (const r of list) if (r.peer.hostile) t.hostile++
      t.rate += rate
      if (f.picker.remaining <= endgameAt) t.endgame++
      let holders = 0
      let chokers = 0
      for (let b = 0; b < node.neigh.length; b++) {
        const peer = sim.nodes[node.neigh[b]]
        if (!peer.present || f.book.isBanned(peer.id) || !this.holdsNew(node, peer)) continue
        holders++
        if (f.chokedUntil[b] > now) chokers++
      }
      t.holders += holders
      t.chokers += chokers
      const state: State = rate >= 0.8 * node.link.down
        ? 'link'
        : f.free <= 0 ? 'held' : holders > chokers ? 'unasked' : holders > 0 ? 'choked' : 'nothing'
      t.states[state]++
    }
    // Only while something else is to happen: the sampler alone does not keep a run going.
    if (fetching > 0 && sim.queue.size > 0) sim.queue.after(this.step, () => this.sample())
  }

  /** Whether `peer` offers a piece `node` lacks that is not in flight to it. */
  private holdsNew (node: SimNode, peer: SimNode): boolean {
    const f = node.fetch
    if (f == null) return false
    const n = this.sim.plan.pieces
    // The origin's offer without the per-peer share (asking for it would recount the peers
    // asking, a change to the run).
    for (let p = 0; p < n; p++) if (!node.have.has(p) && f.picker.copies(p) === 0 && peer.claims(p)) return true
    return false
  }

  private trace (index: number): PeerTrace {
    let t = this.traces.get(index)
    if (t == null) {
      t = { states: { link: 0, held: 0, unasked: 0, choked: 0, nothing: 0 }, endgame: 0, from: {}, holders: 0, chokers: 0, samples: 0, inFlight: 0, hostile: 0, rate: 0 }
      this.traces.set(index, t)
    }
    return t
  }

  /**
   * The slowest 5%, the middle (45-55th percentile) and the fastest half of the honest peers
   * (those not done by the end of the run count as the slowest).
   */
  report (): GroupFigures[] {
    const time = (x: SimNode): number => x.doneAt >= 0 ? x.doneAt - x.firstArrival : Infinity
    const done = this.sim.nodes.filter(n => n.role === 'honest' && n.firstArrival >= 0).sort((a, b) => time(a) - time(b) || a.index - b.index)
    const n = done.length
    const cut = (a: number, b: number): SimNode[] => done.slice(Math.floor(a * n), Math.max(Math.floor(a * n) + 1, Math.floor(b * n)))
    if (n === 0) return []
    return [
      this.group('fastest 50%', cut(0, 0.5)),
      this.group('middle 45-55%', cut(0.45, 0.55)),
      this.group('slowest 5%', cut(0.95, 1))
    ]
  }

  private group (name: string, nodes: SimNode[]): GroupFigures {
    const mean = (f: (x: SimNode) => number): number => nodes.reduce((a, x) => a + f(x), 0) / Math.max(1, nodes.length)
    const kinds: Record<string, number> = {}
    for (const x of nodes) kinds[x.link.kind] = (kinds[x.link.kind] ?? 0) + 1 / nodes.length
    const states = Object.fromEntries(STATES.map(s => [s, 0])) as Record<State, number>
    const from: Record<string, number> = {}
    let samples = 0
    let endgame = 0
    let holders = 0
    let chokers = 0
    let inFlight = 0
    let hostile = 0
    let utilisation = 0
    let received = 0
    for (const x of nodes) {
      const t = this.traces.get(x.index)
      if (t == null) continue
      samples += t.samples
      endgame += t.endgame
      holders += t.holders
      chokers += t.chokers
      inFlight += t.inFlight
      hostile += t.hostile
      utilisation += t.rate / x.link.down
      for (const s of STATES) states[s] += t.states[s]
      for (const [k, v] of Object.entries(t.from)) { from[k] = (from[k] ?? 0) + v; received += v }
    }
    const per = (v: number): number => v / Math.max(1, samples)
    return {
      group: name,
      peers: nodes.length,
      meanSeconds: mean(x => (x.doneAt >= 0 ? x.doneAt : this.sim.queue.now()) - x.firstArrival) / 1000,
      notDone: nodes.filter(x => x.doneAt < 0).length,
      kinds,
      relayOnly: mean(x => x.link.relayOnly ? 1 : 0),
      upMbit: mean(x => x.link.up / 125),
      downMbit: mean(x => x.link.down / 125),
      arrival: mean(x => x.firstArrival / 1000),
      neighbours: mean(x => x.neigh.length),
      states: Object.fromEntries(STATES.map(s => [s, per(states[s])])) as Record<State, number>,
      endgame: per(endgame),
      from: Object.fromEntries(Object.entries(from).map(([k, v]) => [k, v / Math.max(1, received)])),
      holders: per(holders),
      chokers: per(chokers),
      inFlight: per(inFlight),
      hostileHeld: per(hostile),
      utilisation: per(utilisation)
    }
  }
}

export function formatExplain (groups: GroupFigures[]): string {
  const pct = (v: number): string => `${(100 * v).toFixed(0)}%`
  const obj = (o: Record<string, number>): string => Object.entries(o).map(([k, v]) => `${k} ${pct(v)}`).join(' ')
  return groups.map(g => [
    `${g.group} (${g.peers} peers${g.notDone > 0 ? `, ${g.notDone} not done` : ''}, mean ${g.meanSeconds.toFixed(1)} s): ${obj(g.kinds)}; relay-only ${pct(g.relayOnly)}; up ${g.upMbit.toFixed(0)} / down ${g.downMbit.toFixed(0)} Mbit/s; arrival ${g.arrival.toFixed(1)} s; ${g.neighbours.toFixed(1)} neighbours`,
    `  time: ${obj(g.states)}; endgame ${pct(g.endgame)}; bytes from: ${obj(g.from)}`,
    `  per sample: ${g.holders.toFixed(1)} neighbours with a new piece, ${g.chokers.toFixed(1)} of them choking; ${g.inFlight.toFixed(1)} requests in flight (${g.hostileHeld.toFixed(1)} to hostile peers); receiving at ${pct(g.utilisation)} of the downlink`
  ].join('\n')).join('\n')
}
