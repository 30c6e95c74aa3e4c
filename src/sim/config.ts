/**
 * What a simulation run is given, and its defaults. The policy parameters default to the real
 * fetcher's and server's (swarm/fetcher.ts, swarm/server.ts), so the simulated swarm runs the
 * shipped settings unless a run says otherwise.
 */
import { SERVER_DEFAULTS } from '../swarm/constants.js'
import { DEFAULT_LINKS, DEFAULT_RELAY, type LinkClass } from './links.js'
import type { Link, RelayModel } from './network.js'

export const MiB = 1024 ** 2
export const GiB = 1024 ** 3
/** Most pieces a run uses when it chooses the piece size itself. */
export const MAX_PIECES = 2048

export type Arrivals = { kind: 'flash', windowMs: number } | { kind: 'poisson', perSecond: number }

export interface SimConfig {
  /** Peers besides the origin (honest and hostile). */
  peers: number
  /** Model size, GiB. */
  gib: number
  seed: number
  arrivals: Arrivals
  links: LinkClass[]
  relay: RelayModel
  /** The origin's upload (and download), Mbit/s. */
  originMbit: number
  /** The origin starts in initial seeding (super-seeding), as `p2pweights seed` does. */
  initialSeeding: boolean
  /** Fraction of honest peers that go away once (mid-download: they come back and resume; done: they stop seeding). */
  churn: number
  /** When a churning peer leaves, uniformly within this long after it arrived (ms). */
  churnWindowMs: number
  /** How long a churning peer stays away, [min, max] ms. */
  churnAwayMs: [number, number]
  /** Fraction of the peers that are hostile (split evenly: tricklers, HAVE liars, corrupt senders). */
  hostile: number
  /** Peers each peer knows (besides the origin, which every peer finds through the DHT). */
  neighbours: number
  /** The real chunk size (bytes). */
  chunkBytes: number
  /** Chunks per simulated piece; 0 picks one so that the run stays within `pieceBudget`. */
  pieceChunks: number
  /** Peer x piece transfers a run may plan for when `pieceChunks` is 0. */
  pieceBudget: number
  /** A trickling peer's rate, bytes per ms (below `minRate`, so the deadline catches it). */
  trickleRate: number
  /** Give up after this much simulated time (ms). */
  maxTimeMs: number
  /** Per peer (in order), instead of drawing from `links` (a calibration against a real run). */
  fixedLinks?: Link[]
  /** Per peer arrival times (ms), instead of `arrivals`. */
  fixedArrivals?: number[]
  /**
   * At piece granularity, a piece request may end at a chunk boundary when a faster peer waits
   * for a buffer (as the real fetcher re-decides after every chunk). Off only to measure what
   * it changes; no effect at chunk granularity.
   */
  chunkCuts: boolean
  /**
   * At piece granularity, an honest peer uploads one copy of a piece at a time (see
   * SwarmSim.serial). Off only to measure what it changes; no effect at chunk granularity.
   */
  serialPieces: boolean
  /**
   * Skip the picks that would find nothing again (FetchState.quiet): the same run, faster. Off
   * only for the test that checks that.
   */
  quietPicks?: boolean
  /** Sample where each peer's time goes (explain.ts); off: nothing is sampled. */
  explain?: boolean
  // The shipped policy's parameters.
  maxInFlight: number
  streamsPerPeer: number
  maxUploads: number
  maxUploadsPerPeer: number
  /** A request that finds every upload slot taken waits this long for one, then hears BUSY (ms). */
  queueTimeout: number
  stallTimeout: number
  /** bytes per second, as the fetcher's `minRate`. */
  minRate: number
  /** PiecePicker: endgame copies once at most this many chunks are missing, or for stragglers. */
  endgameRemaining: number
  stragglerAfter: number
  /** SuperSeeder: one repeat upload per this many ms per chunk. */
  repeatEvery: number
}

export const DEFAULT_CONFIG: SimConfig = {
  peers: 50,
  gib: 1,
  seed: 1,
  arrivals: { kind: 'flash', windowMs: 10_000 },
  links: DEFAULT_LINKS,
  relay: DEFAULT_RELAY,
  originMbit: 1000,
  initialSeeding: true,
  chunkCuts: true,
  serialPieces: true,
  churn: 0,
  churnWindowMs: 900_000,
  churnAwayMs: [60_000, 600_000],
  hostile: 0,
  neighbours: 50,
  chunkBytes: 4 * MiB,
  pieceChunks: 0,
  pieceBudget: 4_000_000,
  trickleRate: 16 * 1024 / 1000,
  maxTimeMs: 48 * 3600_000,
  maxInFlight: 8,
  streamsPerPeer: 4,
  maxUploads: 32,
  maxUploadsPerPeer: 4,
  queueTimeout: SERVER_DEFAULTS.queueTimeout,
  stallTimeout: 20_000,
  minRate: 64 * 1024,
  endgameRemaining: 8,
  stragglerAfter: 30_000,
  repeatEvery: 30_000
}

export class SimConfigError extends Error {
  static override name = 'SimConfigError'
  override name = 'SimConfigError'
}

/** Chunks per piece for a run: 1 (chunk granularity) unless peers x chunks exceeds the budget. */
export function piecePlan (c: SimConfig): { chunks: number, pieceChunks: number, pieces: number, pieceBytes: number, modelBytes: number } {
  const modelBytes = Math.round(c.gib * GiB)
  const chunks = Math.max(1, Math.ceil(modelBytes / c.chunkBytes))
  // Picking scans the pieces, so a run's work grows with peers x pieces^2: bound both.
  const pieceChunks = c.pieceChunks > 0 ? c.pieceChunks : Math.max(1, Math.ceil(chunks * Math.max(1, c.peers) / c.pieceBudget), Math.ceil(chunks / MAX_PIECES))
  const pieces = Math.ceil(chunks / pieceChunks)
  return { chunks, pieceChunks, pieces, pieceBytes: modelBytes / pieces, modelBytes }
}

export function checkConfig (c: SimConfig): void {
  const bad = (what: string): never => { throw new SimConfigError(what) }
  if (!Number.isInteger(c.peers) || c.peers < 1 || c.peers > 1_000_000) bad('--peers must be an integer from 1 to 1,000,000')
  if (!(c.gib > 0 && c.gib <= 100_000)) bad('--gib must be > 0')
  if (!(c.churn >= 0 && c.churn <= 1)) bad('--churn must be within [0, 1]')
  if (!(c.hostile >= 0 && c.hostile < 1)) bad('--hostile must be within [0, 1)')
  if (!(c.originMbit > 0)) bad('--origin-mbit must be > 0')
  if (c.arrivals.kind === 'poisson' && !(c.arrivals.perSecond > 0)) bad('poisson arrivals need a rate > 0 (peers per second)')
  if (!(c.trickleRate * 1000 < c.minRate)) bad('a trickling peer must be slower than minRate, or it is no trickler')
  if (!Number.isInteger(c.seed)) bad('--seed must be an integer')
  if (c.fixedLinks != null && c.fixedLinks.length !== c.peers) bad('fixedLinks needs one link per peer')
  if (c.fixedArrivals != null && c.fixedArrivals.length !== c.peers) bad('fixedArrivals needs one time per peer')
}
