/** Errors of the chunk exchange. Callers and tests match on `name`, never on message text. */
import type { ErrorCode } from './constants.js'

export class ProtocolError extends Error {
  static override name = 'ProtocolError'
  override name = 'ProtocolError'
  constructor (message = 'the peer broke the chunk protocol', options?: ErrorOptions) {
    super(message, options)
  }
}

/** The remote answered a request with an ERROR frame. */
export class RemoteError extends Error {
  static override name = 'RemoteError'
  override name = 'RemoteError'
  constructor (readonly code: ErrorCode, reason: string) {
    super(reason)
  }
}

export class StalledError extends Error {
  static override name = 'StalledError'
  override name = 'StalledError'
  constructor (message = 'the peer stopped sending data', options?: ErrorOptions) {
    super(message, options)
  }
}

/** A response did not complete within its deadline, though bytes kept coming. */
export class DeadlineError extends Error {
  static override name = 'DeadlineError'
  override name = 'DeadlineError'
  constructor (message = 'the response did not complete within its deadline', options?: ErrorOptions) {
    super(message, options)
  }
}

/** The request was given up by us (its chunk arrived from another peer): not the peer's fault. */
export class CancelledError extends Error {
  static override name = 'CancelledError'
  override name = 'CancelledError'
  constructor (message = 'the request was cancelled', options?: ErrorOptions) {
    super(message, options)
  }
}

/** A peer broke enough rules to be banned for this fetch. */
export class PeerBannedError extends Error {
  static override name = 'PeerBannedError'
  override name = 'PeerBannedError'
  constructor (message = 'the peer was banned for this fetch', options?: ErrorOptions) {
    super(message, options)
  }
}

export class NoProgressError extends Error {
  static override name = 'NoProgressError'
  override name = 'NoProgressError'
  constructor (message = 'the download made no progress', options?: ErrorOptions) {
    super(message, options)
  }
}

/** Writing verified data failed on this machine (full disk, I/O error). */
export class LocalStoreError extends Error {
  static override name = 'LocalStoreError'
  override name = 'LocalStoreError'
  constructor (message = 'cannot store the download on this machine', options?: ErrorOptions) {
    super(message, options)
  }
}
