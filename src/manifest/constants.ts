/**
 * Limits and defaults of the manifest format, in one place. Changing a default changes new CIDs;
 * changing a limit changes what this node accepts from peers.
 */

export const MIB = 1024 * 1024
export const MANIFEST_VERSION = 1
export const HASH_LENGTH = 32
export const MIN_CHUNK_SIZE = 16 * 1024
export const MAX_CHUNK_SIZE = 16 * MIB
/** 4 MiB: see docs/architecture.md for the measurements behind this choice. */
export const DEFAULT_CHUNK_SIZE = 4 * MIB
/** The same default in the unit of the --chunk-size flag. */
export const DEFAULT_CHUNK_MIB = DEFAULT_CHUNK_SIZE / MIB
export const MAX_FILES = 100_000
export const MAX_NAME_LENGTH = 256
/** Bounds the chunk table, and so the manifest message: 2^21 chunks of 4 MiB is 8 TiB. */
export const MAX_TOTAL_CHUNKS = 2 ** 21
/** Bound on the encoded release: the chunk table of an 8 TiB model fits. */
export const MAX_RELEASE_BYTES = 80 * MIB
