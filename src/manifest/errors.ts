/**
 * Errors of the manifest layer. Tests and callers match on `name`, never on message text.
 */
export class InvalidManifestError extends Error {
  static override name = 'InvalidManifestError'
  override name = 'InvalidManifestError'
  constructor (message = 'invalid manifest', options?: ErrorOptions) {
    super(message, options)
  }
}

export class UnsafePathError extends Error {
  static override name = 'UnsafePathError'
  override name = 'UnsafePathError'
  constructor (message = 'unsafe path in the manifest', options?: ErrorOptions) {
    super(message, options)
  }
}

export class CidMismatchError extends Error {
  static override name = 'CidMismatchError'
  override name = 'CidMismatchError'
  constructor (message = 'the manifest does not match its CID', options?: ErrorOptions) {
    super(message, options)
  }
}

export class BadSignatureError extends Error {
  static override name = 'BadSignatureError'
  override name = 'BadSignatureError'
  constructor (message = 'the manifest signature does not verify', options?: ErrorOptions) {
    super(message, options)
  }
}

export class UntrustedPublisherError extends Error {
  static override name = 'UntrustedPublisherError'
  override name = 'UntrustedPublisherError'
  constructor (message = 'the manifest is signed by a publisher that is not trusted', options?: ErrorOptions) {
    super(message, options)
  }
}

/** A file to seed is a symlink whose real path leaves the seeded folder (and the allowed roots). */
export class SymlinkEscapeError extends Error {
  static override name = 'SymlinkEscapeError'
  override name = 'SymlinkEscapeError'
  constructor (message = 'a symlink leads out of the seeded folder', options?: ErrorOptions) {
    super(message, options)
  }
}

/** A file to seed is, or leads to, a file of a folder that is never seeded (the node's data dir). */
export class ForbiddenFolderError extends Error {
  static override name = 'ForbiddenFolderError'
  override name = 'ForbiddenFolderError'
  constructor (message = 'a file of a folder that is never seeded', options?: ErrorOptions) {
    super(message, options)
  }
}

export class NoFilesSelectedError extends InvalidManifestError {
  static override name = 'NoFilesSelectedError'
  override name = 'NoFilesSelectedError'
  constructor (message = 'no file of the release matches the selection', options?: ErrorOptions) {
    super(message, options)
  }
}

export class ChunkHashMismatchError extends Error {
  static override name = 'ChunkHashMismatchError'
  override name = 'ChunkHashMismatchError'
  constructor (message = 'a chunk does not match its hash in the manifest', options?: ErrorOptions) {
    super(message, options)
  }
}
