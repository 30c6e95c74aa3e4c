/**
 * The figures of a finished run: completion times, the origin's upload against the model,
 * fairness of upload among honest peers, wasted bytes, bans of hostile peers; and an SVG of
 * completions over time.
 */
import type { GroupFigures } from './explain.js'
import type { SwarmSim } from './swarm-sim.js'

export interface SimResult {
  peers: number
  gib: number
  hostile: number
  honest: number
  completed: number
  /** Seconds from arrival to completion, honest peers that finished, ascending. */
  times: number[]
  /** Simulated seconds at each completion, ascending (for the plot). */
  finishedAt: number[]
  /** Over all honest peers; Infinity (null in JSON) when that many were not done by the end. */
  p50: number
  p90: number
  p99: number
  originUploadRatio: number
  /** Verified bytes the honest peers got from the origin / bytes they needed. */
  originShare: number
  /** Per peer (in order; -1: hostile or not done): seconds to complete. */
  perPeer: number[]
  /** (endgame losers + corrupt + trickled bytes) / bytes the honest peers needed. */
  wastedRatio: number
  wasted: { endgame: number, corrupt: number, trickle: number, churn: number }
  /** Each honest peer's upload / model size. */
  uploadShare: { p10: number, p50: number, p90: number, max: number, gini: number }
  /** Mean upload / model size per link kind. */
  uploadByKind: Record<string, number>
  /** Per hostile role: honest fetchers that asked one, and the share of those pairs banned at the end. */
  hostileBanned: Record<string, { pairs: number, struck: number, banned: number }>
  pieces: number
  pieceBytes: number
  pieceChunks: number
  busy: number
  requests: number
  /** Piece requests ended at a chunk boundary (their buffer went to a faster peer). */
  cuts: number
  events: number
  simSeconds: number
  /** With `explain`: where the time of the fastest, middle and slowest peers went. */
  explain?: GroupFigures[]
}

export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))
  return sorted[i]
}

/** Gini coefficient of non-negative values (0: all equal, near 1: one has everything). */
export function gini (values: number[]): number {
  const v = [...values].sort((a, b) => a - b)
  const n = v.length
  const sum = v.reduce((a, b) => a + b, 0)
  if (n === 0 || sum === 0) return 0
  let acc = 0
  for (let i = 0; i < n; i++) acc += (2 * (i + 1) - n - 1) * v[i]
  return acc / (n * sum)
}

export function summarise (sim: SwarmSim): SimResult {
  const { plan, counters, nodes, net, config } = sim
  const honest = nodes.filter(n => n.role === 'honest')
  const done = honest.filter(n => n.doneAt >= 0)
  const times = done.map(n => (n.doneAt - n.firstArrival) / 1000).sort((a, b) => a - b)
  // Percentiles over every honest peer: one not done by the end counts as never (Infinity).
  const all = [...times, ...new Array(honest.length - done.length).fill(Infinity)]
  const needed = honest.length * plan.modelBytes
  const shares = honest.map(n => net.sent[n.index] / plan.modelBytes).sort((a, b) => a - b)
  const byKind: Record<string, number[]> = {}
  for (const n of honest) (byKind[n.link.kind] ??= []).push(net.sent[n.index] / plan.modelBytes)
  const hostileBanned: SimResult['hostileBanned'] = {}
  for (const [role, pairs] of Object.entries(counters.contacted)) {
    let banned = 0
    let struck = 0
    for (const key of pairs) {
      const [f, h] = key.split(':').map(Number)
      if (nodes[f].bannedSeen.has(h)) banned++
      if (nodes[f].struckSeen.has(h)) struck++
    }
    hostileBanned[role] = { pairs: pairs.size, struck, banned }
  }
  const wasted = counters.endgame + counters.corrupt + counters.trickle
  return {
    peers: config.peers,
    gib: config.gib,
    hostile: config.hostile,
    honest: honest.length,
    completed: done.length,
    times,
    finishedAt: done.map(n => n.doneAt / 1000).sort((a, b) => a - b),
    p50: percentile(all, 0.5),
    p90: percentile(all, 0.9),
    p99: percentile(all, 0.99),
    originUploadRatio: net.sent[0] / plan.modelBytes,
    originShare: needed > 0 ? counters.useful[0] / needed : 0,
    perPeer: nodes.slice(1).map(n => n.doneAt >= 0 ? (n.doneAt - n.firstArrival) / 1000 : -1),
    wastedRatio: needed > 0 ? wasted / needed : 0,
    wasted: { endgame: counters.endgame, corrupt: counters.corrupt, trickle: counters.trickle, churn: counters.churn },
    uploadShare: { p10: percentile(shares, 0.1), p50: percentile(shares, 0.5), p90: percentile(shares, 0.9), max: shares[shares.length - 1] ?? 0, gini: gini(shares) },
    uploadByKind: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, v.reduce((a, b) => a + b, 0) / v.length])),
    hostileBanned,
    pieces: plan.pieces,
    pieceBytes: plan.pieceBytes,
    pieceChunks: plan.pieceChunks,
    busy: counters.busy,
    requests: counters.requests,
    cuts: counters.cuts,
    events: sim.queue.processed,
    simSeconds: sim.queue.now() / 1000
  }
}

/** A step plot of honest peers done over simulated time, with p50/p90/p99 marked. */
export function completionSvg (r: SimResult, title: string): string {
  const W = 720
  const H = 400
  const L = 60
  const B = 50
  const T = 40
  const R = 20
  const tMax = Math.max(1, r.finishedAt[r.finishedAt.length - 1] ?? 1)
  const x = (t: number): number => L + (W - L - R) * t / tMax
  const y = (n: number): number => H - B - (H - B - T) * n / Math.max(1, r.honest)
  let path = `M${x(0).toFixed(1)},${y(0).toFixed(1)}`
  const step = Math.max(1, Math.floor(r.finishedAt.length / 2000))
  for (let i = 0; i < r.finishedAt.length; i += step) path += ` L${x(r.finishedAt[i]).toFixed(1)},${y(i + 1).toFixed(1)}`
  if (r.finishedAt.length > 0) path += ` L${x(tMax).toFixed(1)},${y(r.finishedAt.length).toFixed(1)}`
  const ticks = niceTicks(tMax).map(t => `<line x1="${x(t)}" y1="${H - B}" x2="${x(t)}" y2="${H - B + 5}" stroke="#333"/><text x="${x(t)}" y="${H - B + 18}" text-anchor="middle">${t}</text>`).join('')
  const marks = (['p50', 'p90', 'p99'] as const).filter(k => Number.isFinite(r[k])).map(k =>
    `<line x1="${x(r[k])}" y1="${T}" x2="${x(r[k])}" y2="${H - B}" stroke="#c33" stroke-dasharray="4 3"/><text x="${x(r[k]) + 3}" y="${T + 12}" fill="#c33">${k}</text>`).join('')
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${L}" y="20" font-size="14">${esc(title)}</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>
${ticks}
<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">simulated seconds</text>
<text x="${L - 8}" y="${y(r.honest)}" text-anchor="end">${r.honest}</text><text x="${L - 8}" y="${y(0)}" text-anchor="end">0</text>
<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">honest peers done</text>
${marks}
<path d="${path}" fill="none" stroke="#26a" stroke-width="2"/>
</svg>
`
}

function niceTicks (max: number): number[] {
  const raw = max / 6
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw) ?? raw
  const out: number[] = []
  for (let t = 0; t <= max + 1e-9; t += step) out.push(Math.round(t))
  return out
}
