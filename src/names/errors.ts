/** Errors of the names layer. Callers and tests match on `name`, never on message text. */

/** Bytes that are not a well-formed name record (encoding, fields, bounds, wrong DHT key). */
export class MalformedNameRecordError extends Error {
  static override name = 'MalformedNameRecordError'
  override name = 'MalformedNameRecordError'
  constructor (message = 'malformed name record', options?: ErrorOptions) {
    super(message, options)
  }
}

/** A signature (of the record or of a key rotation) that does not verify. */
export class ForgedNameRecordError extends Error {
  static override name = 'ForgedNameRecordError'
  override name = 'ForgedNameRecordError'
  constructor (message = 'the name record signature does not verify', options?: ErrorOptions) {
    super(message, options)
  }
}

/** The record's expiry has passed (a freeze attack, or a publisher who stopped republishing). */
export class ExpiredNameRecordError extends Error {
  static override name = 'ExpiredNameRecordError'
  override name = 'ExpiredNameRecordError'
  constructor (message = 'the name record has expired', options?: ErrorOptions) {
    super(message, options)
  }
}

/** An older version than one this node has already seen (a rollback attack). */
export class NameRollbackError extends Error {
  static override name = 'NameRollbackError'
  override name = 'NameRollbackError'
  constructor (message = 'the name record is older than one already seen', options?: ErrorOptions) {
    super(message, options)
  }
}

/** Signed by a key the publisher has rotated away from. */
export class RetiredKeyError extends Error {
  static override name = 'RetiredKeyError'
  override name = 'RetiredKeyError'
  constructor (message = 'the name record is signed by a retired key', options?: ErrorOptions) {
    super(message, options)
  }
}

/** The publisher withdrew the release the name points at. */
export class WithdrawnReleaseError extends Error {
  static override name = 'WithdrawnReleaseError'
  override name = 'WithdrawnReleaseError'
  constructor (message = 'the publisher withdrew this release', options?: ErrorOptions) {
    super(message, options)
  }
}

/** No valid record for the name was found in time. */
export class NameNotFoundError extends Error {
  static override name = 'NameNotFoundError'
  override name = 'NameNotFoundError'
  constructor (message = 'no valid record for the name was found', options?: ErrorOptions) {
    super(message, options)
  }
}

/** `<publisher-id or alias>/<org>/<model>` did not parse, or the alias is unknown. */
export class InvalidNameRefError extends Error {
  static override name = 'InvalidNameRefError'
  override name = 'InvalidNameRefError'
  constructor (message = 'invalid name: use <publisher-id or alias>/<org>/<model>', options?: ErrorOptions) {
    super(message, options)
  }
}
