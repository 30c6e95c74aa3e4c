/** Errors of the store layer that a user can meet; each message says what to do. */
export class DownloadConflictError extends Error {
  static override name = 'DownloadConflictError'
  override name = 'DownloadConflictError'
}

export class DiskSpaceError extends Error {
  static override name = 'DiskSpaceError'
  override name = 'DiskSpaceError'
}
