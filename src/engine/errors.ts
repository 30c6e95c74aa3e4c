/** Errors of the engine's flows that a user can meet; each default message says what to do next. */
export class InvalidCidError extends Error {
  static override name = 'InvalidCidError'
  override name = 'InvalidCidError'
  constructor (message = 'that is not a CID; use the CID that `p2pweights seed` printed, e.g. bafyrei…') {
    super(message)
  }
}

export class ReleaseNotFoundError extends Error {
  static override name = 'ReleaseNotFoundError'
  override name = 'ReleaseNotFoundError'
  constructor (message = 'the release was not found; check the CID, that a seeder is online, or pass --peer <address the seeder printed>') {
    super(message)
  }
}

/** A folder served in place no longer holds the release (a file missing or different). */
export class FolderChangedError extends Error {
  static override name = 'FolderChangedError'
  override name = 'FolderChangedError'
  constructor (message = 'the folder no longer matches its release; seed it again to publish what it holds now') {
    super(message)
  }
}

/** An operation given an AbortSignal was cancelled (a seed removed while hashing, a client gone). */
export class CancelledError extends Error {
  static override name = 'CancelledError'
  override name = 'CancelledError'
  constructor (message = 'the operation was cancelled') {
    super(message)
  }
}
