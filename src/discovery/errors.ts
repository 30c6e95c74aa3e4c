/** Errors of discovery. Callers and tests match on `name`, never on message text. */

export class BadPeerAddressError extends Error {
  static override name = 'BadPeerAddressError'
  override name = 'BadPeerAddressError'
  constructor (message = 'bad peer address: use the full address a seeder prints, /ip4/…/tcp/…/p2p/<peer id>', options?: ErrorOptions) {
    super(message, options)
  }
}
