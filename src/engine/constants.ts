/** Defaults of the engine, defined once; the CLI and the daemon take theirs from here. */

/**
 * A peer that sends nothing for this long is dropped; a fetch that finds nothing (no release,
 * then no chunk) for this long gives up (ms). Defined by the swarm, where they apply.
 */
export { DEFAULT_STALL_TIMEOUT as STALL_TIMEOUT, DEFAULT_FIND_TIMEOUT as FIND_TIMEOUT } from '../swarm/constants.js'
/** How often a download's verified-chunk state is flushed to disk (ms). */
export const FLUSH_INTERVAL = 1000
/** How long Engine.stop() waits for the seeds and fetches it cancelled to settle (ms). */
export const STOP_JOBS_TIMEOUT = 10_000
/** How long dialling one --peer address may take before it is skipped (ms). */
export const PEER_DIAL_TIMEOUT = 10_000
/** Release lookup: candidates asked at once (each may send up to 80 MiB), and the retry backoff (ms). */
export const RELEASE_LOOKUP_CONCURRENCY = 2
export const RELEASE_RETRY_FIRST = 1000
export const RELEASE_RETRY_MAX = 15_000
/** The DHT a node joins unless told otherwise (the public IPFS Amino DHT). */
export { AMINO_DHT_PROTOCOL } from '../net/node.js'
