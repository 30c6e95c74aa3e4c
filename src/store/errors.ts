/** Errors of the store layer that a user can meet; callers and tests match on `name`, never on message text. */
export class DownloadConflictError extends Error {
  static override name = 'DownloadConflictError'
  override name = 'DownloadConflictError'
  constructor (message = 'the output folder holds files of another download', options?: ErrorOptions) {
    super(message, options)
  }
}

export class DiskSpaceError extends Error {
  static override name = 'DiskSpaceError'
  override name = 'DiskSpaceError'
  constructor (message = 'not enough disk space for the download', options?: ErrorOptions) {
    super(message, options)
  }
}

export class LockedError extends Error {
  static override name = 'LockedError'
  override name = 'LockedError'
  constructor (message: string, readonly pid: number) {
    super(message)
  }
}

export class SourceUnavailableError extends Error {
  static override name = 'SourceUnavailableError'
  override name = 'SourceUnavailableError'
  constructor (message = 'the chunk cannot be read from this source', options?: ErrorOptions) {
    super(message, options)
  }
}

export class KeyFileError extends Error {
  static override name = 'KeyFileError'
  override name = 'KeyFileError'
  constructor (message = 'bad key file', options?: ErrorOptions) {
    super(message, options)
  }
}

export class HfCacheError extends Error {
  static override name = 'HfCacheError'
  override name = 'HfCacheError'
  constructor (message = 'bad Hugging Face cache entry', options?: ErrorOptions) {
    super(message, options)
  }
}

export class DataDirInUseError extends Error {
  static override name = 'DataDirInUseError'
  override name = 'DataDirInUseError'
  constructor (message = 'another p2pweights node uses this data folder', options?: ErrorOptions) {
    super(message, options)
  }
}
