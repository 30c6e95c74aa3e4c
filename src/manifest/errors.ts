/**
 * Errors of the manifest layer. Tests and callers match on `name`, never on message text.
 */
export class InvalidManifestError extends Error {
  static override name = 'InvalidManifestError'
  override name = 'InvalidManifestError'
}

export class UnsafePathError extends Error {
  static override name = 'UnsafePathError'
  override name = 'UnsafePathError'
}

export class CidMismatchError extends Error {
  static override name = 'CidMismatchError'
  override name = 'CidMismatchError'
}

export class BadSignatureError extends Error {
  static override name = 'BadSignatureError'
  override name = 'BadSignatureError'
}

export class UntrustedPublisherError extends Error {
  static override name = 'UntrustedPublisherError'
  override name = 'UntrustedPublisherError'
}

/** A file to seed is a symlink whose real path leaves the seeded folder (and the allowed roots). */
export class SymlinkEscapeError extends Error {
  static override name = 'SymlinkEscapeError'
  override name = 'SymlinkEscapeError'
}

/** A file to seed is, or leads to, a file of a folder that is never seeded (the node's data dir). */
export class ForbiddenFolderError extends Error {
  static override name = 'ForbiddenFolderError'
  override name = 'ForbiddenFolderError'
}
