/**
 * Who may call the API. Every protected route needs `Authorization: Bearer <token>`, compared in
 * constant time, wherever the API is bound: on loopback too, since any local user or process
 * (and any web page, through the browser) can reach 127.0.0.1. The token is taken from that
 * header only, never from a URL (URLs end up in logs, history and Referer headers). On top of
 * it: a browser request whose Origin is not the API's own is refused (cross-site requests), and
 * an API bound to loopback answers only requests that name a loopback host (DNS rebinding).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { ForbiddenRequestError, UnauthorizedError } from './errors.js'
import type { IncomingHttpHeaders } from 'node:http'

export { ForbiddenRequestError, UnauthorizedError }

const HOW_TO_GET_IT = 'the CLI reads it from <data-dir>/api-token; for the dashboard run `p2pweights login-url`'

/** Throws UnauthorizedError unless the request carries the token in its Authorization header. */
export function checkToken (headers: IncomingHttpHeaders, token: string): void {
  const header = headers.authorization
  const match = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null
  if (match == null) {
    throw new UnauthorizedError(`this API requires a token: send "Authorization: Bearer <token>" (${HOW_TO_GET_IT})`)
  }
  // `hf_<token>` is accepted too: @huggingface/hub refuses an HF_TOKEN without that prefix.
  const given = match[1]
  const ok = sameSecret(given, token) || (given.startsWith('hf_') && sameSecret(given.slice(3), token))
  if (!ok) {
    throw new UnauthorizedError(`wrong API token (${HOW_TO_GET_IT})`)
  }
}

/** Constant time for equal and unequal lengths alike: both sides are hashed first. */
function sameSecret (given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/**
 * Refuses cross-site requests (an Origin that is not this server) and, when the API is bound to
 * loopback, requests whose Host is not a loopback name.
 */
export function checkOrigin (headers: IncomingHttpHeaders, loopbackOnly: boolean): void {
  const host = headers.host ?? ''
  const origin = headers.origin
  if (typeof origin === 'string' && origin !== '' && originHost(origin) !== host.toLowerCase()) {
    throw new ForbiddenRequestError(`cross-site request refused: Origin ${origin} is not this API (${host})`)
  }
  if (loopbackOnly && !isLoopbackHost(host)) {
    throw new ForbiddenRequestError(`Host "${host}" refused: this API is bound to loopback and answers only to localhost / 127.0.0.1 / [::1]`)
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

/** True for listen addresses only this machine can reach (127.x, ::1, localhost). */
export function isLoopbackAddress (host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host)
}

/** A token long enough that guessing it is hopeless (the daemon makes 32 random bytes). */
export const MIN_TOKEN_LENGTH = 16
