/**
 * Errors of the daemon a caller can meet; the HTTP layer maps them to statuses by name
 * (http/errors.ts). Each default message says what to do next.
 */
export class BadRequestError extends Error {
  static override name = 'BadRequestError'
  override name = 'BadRequestError'
  constructor (message = 'the request is invalid; see docs/api.md') {
    super(message)
  }
}

export class ForbiddenFolderError extends Error {
  static override name = 'ForbiddenFolderError'
  override name = 'ForbiddenFolderError'
  constructor (message = 'that folder is not allowed: it must be inside --allow-folder and outside the data dir') {
    super(message)
  }
}

export class NotFoundError extends Error {
  static override name = 'NotFoundError'
  override name = 'NotFoundError'
  constructor (message = 'not found; `p2pweights ls` lists what the daemon holds') {
    super(message)
  }
}

/** The data dir (or its API token file) has permissions others could use. */
export class DataDirPermissionError extends Error {
  static override name = 'DataDirPermissionError'
  override name = 'DataDirPermissionError'
  constructor (message = 'the data dir must belong to the daemon\'s user and be closed to others (mode 0700)') {
    super(message)
  }
}
