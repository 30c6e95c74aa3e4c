/** Errors of the libp2p assembly. Callers and tests match on `name`, never on message text. */

export class RelayTooLimitedError extends Error {
  static override name = 'RelayTooLimitedError'
  override name = 'RelayTooLimitedError'
  constructor (message = 'the only connection to the peer is a relay too limited to carry chunks', options?: ErrorOptions) {
    super(message, options)
  }
}
