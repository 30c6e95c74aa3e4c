/** Limits and margins of the store, in one place. */

/** A download saves its bitfield at least this often (in verified bytes), besides the caller's timer. */
export const FLUSH_EVERY_BYTES = 32 * 1024 * 1024
/** Largest key file read: a protobuf Ed25519 key is 68 bytes. */
export const MAX_KEY_FILE_BYTES = 4096
/** Hash cache margin for fine timestamps: FAT's 2 s mtime tick plus a second of clock drift (ms). */
export const RACY_MS = 3000
/** Hash cache margin when both timestamps are whole seconds: coarse ticks and a file server's clock (ms). */
export const COARSE_RACY_MS = 60_000
