/**
 * Defaults of the chunk exchange, in one place. The engine and the CLI take the fetch timeouts
 * from here, so a default is written once.
 */

/** Drop a peer that sends nothing for this long (ms); --stall-timeout. */
export const DEFAULT_STALL_TIMEOUT = 20_000
/** Give up a fetch when nothing arrives from anyone for this long (ms); --find-timeout. */
export const DEFAULT_FIND_TIMEOUT = 60_000

/** What a fetcher does with each peer, unless told otherwise. */
export const FETCHER_DEFAULTS = {
  streamsPerPeer: 4,
  maxInFlight: 8,
  /** Most peers one fetch has sessions with at once. */
  maxPeers: 32,
  stallTimeout: DEFAULT_STALL_TIMEOUT,
  /** Bytes per second below which a response counts as too slow (policy/backoff.ts). */
  minRate: 64 * 1024,
  giveUpAfter: DEFAULT_FIND_TIMEOUT,
  /** A peer dropped for an honest failure is asked again after this long (ms). */
  retryAfter: 15_000,
  /**
   * While the fetch has fewer peers than chunk buffers (`maxInFlight`, the most it draws on at
   * once), it asks up to `pexPeers` of them for the peers they know (peer exchange again, as
   * BitTorrent's PEX repeats), 1, 2, 4 and 8 s in and then this often: in a flash crowd the
   * first answers are given before the others have arrived.
   */
  pexInterval: 10_000,
  pexPeers: 3
}

/**
 * An upload without a whole-chunk buffer (SERVER_DEFAULTS.chunkBuffers) streams its chunk from
 * disk in pieces of this size: 32 uploads of 4 MiB chunks cost 4 x 4 + 28 x 1 MiB, not 128 MiB.
 */
export const UPLOAD_SLICE = 1024 * 1024

/**
 * A fetcher told BUSY (choked, or every upload slot taken) asks that peer again after this long,
 * doubling per BUSY in a row up to `max`; a delivered chunk starts it over (ms). The simulator
 * models the same backoff (sim/swarm-sim.ts).
 */
export const CHOKE_BACKOFF = { first: 1000, max: 4000 }

/** What the serving side grants, unless told otherwise. */
export const SERVER_DEFAULTS = {
  maxInboundStreams: 16,
  maxUploads: 32,
  maxUploadsPerPeer: 4,
  /**
   * Uploads that read a whole chunk into a buffer kept for reuse (one read, no allocation): a
   * lone fetcher's streams to us (FETCHER_DEFAULTS.streamsPerPeer, and maxUploadsPerPeer) find
   * one each. Slices for every upload cost a lone fetch ~7% more CPU.
   */
  chunkBuffers: 4,
  idleTimeout: 60_000,
  sendTimeout: 60_000,
  /** Well under any fetcher's stall timeout: waiting for a slot must not look like a stall. */
  queueTimeout: 2_000,
  readTimeout: 5_000
}

/** The code of an ERROR frame on the wire (codec.ts): what the remote refused, and why. */
export enum ErrorCode {
  NotFound = 1,
  Unavailable = 2,
  BadRequest = 3,
  Busy = 4
}
