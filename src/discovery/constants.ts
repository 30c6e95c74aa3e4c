/** Defaults of discovery (announcing and finding providers), in one place. All times in ms. */
import { FETCHER_DEFAULTS } from '../swarm/constants.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE

/** Provider records live this long in the DHT; kad-dht re-provides before then. */
export const PROVIDER_RECORD_TTL = 48 * HOUR
/** Warn when a CID has gone this long without a successful announce. */
export const ANNOUNCE_STALE_AFTER = 24 * HOUR
/** How often the announcer looks for stale announces. */
export const ANNOUNCE_WATCHDOG_INTERVAL = HOUR

export const ANNOUNCER_DEFAULTS = {
  /** How long one announce may take. */
  timeout: MINUTE,
  /** First retry after an announce that reached no peer; doubles up to maxBackoff. */
  backoff: 5_000,
  maxBackoff: 10 * MINUTE
}

export const PROVIDER_SEARCH_DEFAULTS = {
  /** A new DHT round this often while a fetch runs short of peers. */
  interval: 10_000,
  /**
   * With this many peers in session (one per chunk buffer: the most a fetch draws on at once),
   * the wait between rounds doubles from 2 x `interval` up to `maxInterval`, and falls back to
   * `interval` once peers leave. A fetch of a large model runs for hours, and a DHT walk every
   * 10 s for all of it is load on the public DHT (and on a NAS) that finds nothing new; peer
   * exchange and the want-broadcast go on finding peers in between.
   */
  enoughPeers: FETCHER_DEFAULTS.maxInFlight,
  maxInterval: 5 * MINUTE,
  /** One DHT query may take this long. */
  queryTimeout: 30_000,
  /** DHT providers offered per round (provider spam must not flood the dial queue). */
  maxPerRound: 20,
  /**
   * Peers taken from one peer-exchange answer (the first named: the answerer's most recent).
   * Its addresses are the answerer's word; a liar naming 32 fresh ids at one victim's address
   * every round would have every fetch dial that address 32 times.
   */
  maxPerAnswer: 8
}

/** A candidate that failed is not offered again for this long (doubling per failure). */
export const FAILED_PEER_BACKOFF = { first: 5_000, max: 5 * MINUTE }
/** Until a first provider is found, rounds come sooner: from this, doubling up to `interval`. */
export const EMPTY_ROUND_FIRST_WAIT = 1_000
