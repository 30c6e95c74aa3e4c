/** Defaults of the command line, defined once; the engine's and the daemon's come from their layers. */
import { CHANGE_CHECK_INTERVAL, FOLLOW_INTERVAL } from '../daemon/constants.js'
import { FIND_TIMEOUT, STALL_TIMEOUT } from '../engine/constants.js'
import { DEFAULT_CHUNK_MIB } from '../manifest/constants.js'

export { CHANGE_CHECK_INTERVAL, DEFAULT_CHUNK_MIB, FIND_TIMEOUT, FOLLOW_INTERVAL, STALL_TIMEOUT }

/** Where the daemon's HTTP API and dashboard listen. */
export const DEFAULT_API = '127.0.0.1:7171'
/** `resolve` looks for a name this long by default (ms). */
export const RESOLVE_TIMEOUT = 15_000
/** daemon --max-connections. */
export const DEFAULT_MAX_CONNECTIONS = 200
