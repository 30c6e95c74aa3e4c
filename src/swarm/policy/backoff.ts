/**
 * Exponential backoff with a cap, as used for retrying peers, release lookups and provider
 * searches: the first retry after `first` ms, doubling per consecutive failure up to `max`.
 */
export interface BackoffInit {
  first?: number
  max?: number
}

export function backoffDelay (failures: number, init: BackoffInit = {}): number {
  const first = init.first ?? 1000
  const max = init.max ?? 15_000
  if (failures <= 0) return 0
  return Math.min(max, first * 2 ** Math.min(30, failures - 1))
}

/**
 * How long a request of `length` bytes may take in all: the stall allowance (time to the first
 * byte, or between bytes) plus the time the bytes need at the slowest rate we accept. A peer
 * that trickles bytes to dodge the stall timer still misses this deadline.
 */
export function requestDeadline (length: number, init: { stallTimeout: number, minRate: number }): number {
  return init.stallTimeout + Math.ceil(length / Math.max(1, init.minRate) * 1000)
}
