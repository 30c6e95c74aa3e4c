/**
 * How an error becomes an HTTP answer: always `{error: "<message a user can act on>"}`, never a
 * stack. Service errors are matched by `name` (the daemon's layers throw named errors), Fastify's
 * own errors (body too large, wrong content type, bad JSON) keep their 4xx status.
 */
import type { FastifySchemaValidationError } from 'fastify/types/schema.js'

const STATUS_BY_NAME: Record<string, number> = {
  BadRequestError: 400,
  InvalidCidError: 400,
  UntrustedPublisherError: 400,
  InvalidManifestError: 400,
  UnauthorizedError: 401,
  ForbiddenFolderError: 403,
  ForbiddenRequestError: 403,
  NotFoundError: 404,
  // A seed removed (rm) while it was hashing.
  CancelledError: 409,
  TooManyStreamsError: 429
}

/** No token, or a wrong one. */
export class UnauthorizedError extends Error {
  static override name = 'UnauthorizedError'
  override name = 'UnauthorizedError'
  constructor (message = 'this route needs the API token: the CLI reads it from <data-dir>/api-token; for the dashboard run `p2pweights login-url`') {
    super(message)
  }
}

/** A foreign Origin, or a Host that is not loopback on a loopback API (DNS rebinding). */
export class ForbiddenRequestError extends Error {
  static override name = 'ForbiddenRequestError'
  override name = 'ForbiddenRequestError'
  constructor (message = 'requests from other sites are refused; use the dashboard the daemon serves') {
    super(message)
  }
}

/** Every event stream slot is taken. */
export class TooManyStreamsError extends Error {
  static override name = 'TooManyStreamsError'
  override name = 'TooManyStreamsError'
  constructor (message = 'too many event streams are open; close one (a dashboard tab) and try again') {
    super(message)
  }
}

export interface HttpError { status: number, message: string }

/** The status and message to answer for an error thrown while handling a request. */
export function toHttpError (err: unknown): HttpError {
  const e = (err ?? {}) as { name?: unknown, message?: unknown, code?: unknown, statusCode?: unknown, validation?: unknown }
  const message = typeof e.message === 'string' && e.message !== '' ? e.message : String(err)
  if (typeof e.name === 'string' && STATUS_BY_NAME[e.name] != null) {
    return { status: STATUS_BY_NAME[e.name], message }
  }
  if (e.validation != null) return { status: 400, message }
  if (typeof e.code === 'string' && e.code.startsWith('FST_') && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, message: FASTIFY_MESSAGES[e.code] ?? message }
  }
  return { status: 500, message: `internal error: ${message}` }
}

const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'request body too large: the API accepts JSON bodies up to 64 KiB',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported content type: send the body as JSON with "Content-Type: application/json"',
  FST_ERR_CTP_INVALID_JSON_BODY: 'request body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'request body is empty: send a JSON object',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'request body length does not match its Content-Length header'
}

/** One readable sentence from Ajv's first error (Fastify validates with allErrors off). */
export function formatValidationError (errors: FastifySchemaValidationError[], dataVar: string): Error {
  const first = errors[0]
  // /peers/0 -> body.peers[0]
  const where = dataVar + (first?.instancePath ?? '').replace(/\/(\d+)/g, '[$1]').replace(/\//g, '.')
  const params = (first?.params ?? {}) as Record<string, unknown>
  let text: string
  switch (first?.keyword) {
    case 'additionalProperties':
      text = `${where} has an unknown property "${String(params.additionalProperty)}"`
      break
    case 'required':
      text = `${where} is missing the required property "${String(params.missingProperty)}"`
      break
    case 'type':
      text = `${where} must be ${article(String(params.type))}`
      break
    default:
      text = `${where} ${first?.message ?? 'is invalid'}`
  }
  return new Error(`invalid request: ${text}; see docs/api.md`)
}

function article (type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`
}
