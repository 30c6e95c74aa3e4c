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

/** A (file, chunk) pair that is not in the release: a bad request, never a disk problem. */
export class NoSuchChunkError extends Error {
  static override name = 'NoSuchChunkError'
  override name = 'NoSuchChunkError'
  constructor (message = 'no such chunk in the release', options?: ErrorOptions) {
    super(message, options)
  }
}

/** A chunk of the release that this source does not hold (not fetched yet, or its file is not here). */
export class ChunkNotHeldError extends SourceUnavailableError {
  static override name = 'ChunkNotHeldError'
  override name = 'ChunkNotHeldError'
  constructor (message = 'this source does not hold that chunk', options?: ErrorOptions) {
    super(message, options)
  }
}
