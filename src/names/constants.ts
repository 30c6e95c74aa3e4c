/** Defaults of signed names (resolve, publish, follow), in one place. Times in ms. */

/** How long a resolve asks the DHT and peers. */
export const RESOLVE_TIMEOUT = 15_000
/** Peers asked directly for a record in one resolve. */
export const MAX_PEERS_ASKED = 20
/** Before a publish, wait at most this long for a first connection. */
export const SETTLE_TIME = 5_000
/** Retries of a put of a record that reached no DHT peer. */
export const PUT_RETRIES = 4
/** A publish returns after this long; the put goes on in the background. */
export const ANNOUNCE_WAIT = 10_000
/** A resolve that found a valid record stops this long after it. */
export const EARLY_FINISH = 2_000
/** The look before a publish, withdraw or republish (another machine may hold the same key). */
export const LOOK_BEFORE_PUBLISH_TIMEOUT = 5_000
/** One put of a record into the DHT. */
export const DHT_PUT_TIMEOUT = 30_000
/** One exchange on the name protocol's stream. */
export const NAME_STREAM_TIMEOUT = 10_000

/** Releases kept per followed name, unless told otherwise, and at most. */
export const DEFAULT_KEEP = 2
export const MAX_KEEP = 100
/** How often followed names are resolved again. */
export const DEFAULT_FOLLOW_INTERVAL = 10 * 60_000
