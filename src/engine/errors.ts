/** Errors of the engine's flows that a user can meet; each message says what to do next. */
export class InvalidCidError extends Error {
  static override name = 'InvalidCidError'
  override name = 'InvalidCidError'
}

export class ReleaseNotFoundError extends Error {
  static override name = 'ReleaseNotFoundError'
  override name = 'ReleaseNotFoundError'
}
