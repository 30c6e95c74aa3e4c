/** Errors of the command line a user can meet; each default message says what to do next. */

/** A daemon runs for the data dir, but its API token cannot be read by this user. */
export class DaemonTokenError extends Error {
  static override name = 'DaemonTokenError'
  override name = 'DaemonTokenError'
  constructor (message = 'a daemon runs for this data dir, but its API token cannot be read: run this as the daemon\'s user, or pass --no-daemon') {
    super(message)
  }
}

/** The daemon answered with an error status (or could not be reached: status 0). */
export class DaemonApiError extends Error {
  static override name = 'DaemonApiError'
  override name = 'DaemonApiError'
  constructor (readonly status: number, message = `the daemon answered ${status}; see \`p2pweights status\``) {
    super(message)
  }
}
