/** Defaults of the daemon, defined once (the engine's own, stall and find timeouts, are in engine/constants.ts). */

/** How often seeded folders are checked for changes on disk (ms). */
export const CHANGE_CHECK_INTERVAL = 30_000
/** How often upload/download rates are sampled per model (ms). */
export const RATE_INTERVAL = 2000
/** The most often one model's update goes out on the event stream (ms); state changes go out at once. */
export const EMIT_INTERVAL = 250
/** A failed fetch is retried after this long, doubling up to RETRY_MAX (ms). */
export const RETRY_FIRST = 30_000
export const RETRY_MAX = 10 * 60_000
/** How often followed names are checked for a new version (ms). */
export const FOLLOW_INTERVAL = 10 * 60_000
/** The DHT protocol reported in status when none was set. */
export { AMINO_DHT_PROTOCOL } from '../engine/constants.js'
