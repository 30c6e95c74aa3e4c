/**
 * Who may call the API. With a token, every protected route needs `Authorization: Bearer
 * <token>`, compared in constant time. Without one (the API is bound to loopback), requests must
 * name a loopback host, so a web page cannot reach the daemon through DNS rebinding. In both
 * cases a browser request whose Origin is not the API's own is refused (cross-site requests).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

export class UnauthorizedError extends Error {
  static override name = 'UnauthorizedError'
  override name = 'UnauthorizedError'
}

export class ForbiddenRequestError extends Error {
  static override name = 'ForbiddenRequestError'
  override name = 'ForbiddenRequestError'
}

/** Throws UnauthorizedError unless the request carries the token. */
export function checkToken (headers: IncomingHttpHeaders, token: string): void {
  const header = headers.authorization
  const match = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null
  if (match == null) {
    throw new UnauthorizedError('this daemon requires an API token: send "Authorization: Bearer <token>" (the token is in <data-dir>/api-token and in the dashboard URL the daemon printed)')
  }
  // `hf_<token>` is accepted too: @huggingface/hub refuses an HF_TOKEN without that prefix.
  const given = match[1]
  const ok = sameSecret(given, token) || (given.startsWith('hf_') && sameSecret(given.slice(3), token))
  if (!ok) {
    throw new UnauthorizedError('wrong API token: use the one in <data-dir>/api-token of the daemon')
  }
}

/** Constant time for equal and unequal lengths alike: both sides are hashed first. */
function sameSecret (given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/**
 * Refuses cross-site requests (an Origin that is not this server) and, when the API has no
 * token, requests whose Host is not a loopback name.
 */
export function checkOrigin (headers: IncomingHttpHeaders, tokenRequired: boolean): void {
  const host = headers.host ?? ''
  const origin = headers.origin
  if (typeof origin === 'string' && origin !== '' && originHost(origin) !== host.toLowerCase()) {
    throw new ForbiddenRequestError(`cross-site request refused: Origin ${origin} is not this API (${host})`)
  }
  if (!tokenRequired && !isLoopbackHost(host)) {
    throw new ForbiddenRequestError(`Host "${host}" refused: without an API token this daemon answers only to localhost / 127.0.0.1 / [::1]; start it with a non-loopback --api address to get a token`)
  }
}

function originHost (origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase()
  } catch {
    return undefined
  }
}

/** `localhost`, `127.x.x.x` or `[::1]`, with or without a port. */
export function isLoopbackHost (host: string): boolean {
  const name = host.toLowerCase().replace(/:\d+$/, '')
  return name === 'localhost' || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)
}
