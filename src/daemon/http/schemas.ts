/**
 * JSON schemas of the API's request bodies and parameters. Fastify validates with them before a
 * handler runs; types are not coerced and unknown properties are refused (see server.ts).
 */
const MAX_PATH = 4096
const MAX_CID = 200
const MAX_LIST = 64

const path = { type: 'string', minLength: 1, maxLength: MAX_PATH } as const
/** Milliseconds, 1 s to 1 day. */
const timeout = { type: 'integer', minimum: 1000, maximum: 86_400_000 } as const

export const cidParams = {
  type: 'object',
  required: ['cid'],
  properties: { cid: { type: 'string', minLength: 1, maxLength: MAX_CID } }
} as const

export const seedBody = {
  type: 'object',
  required: ['folder'],
  additionalProperties: false,
  properties: {
    folder: path,
    name: { type: 'string', minLength: 1, maxLength: 200 },
    symlinkRoots: { type: 'array', maxItems: MAX_LIST, items: path }
  }
} as const

export const cancelSeedBody = {
  type: 'object',
  required: ['folder'],
  additionalProperties: false,
  properties: { folder: path }
} as const

export const fetchBody = {
  type: 'object',
  required: ['cid'],
  additionalProperties: false,
  properties: {
    /** A CID, or a name <publisher-id>/<org>/<model> (up to 300 characters). */
    cid: { type: 'string', minLength: 1, maxLength: 300 },
    outDir: path,
    /** Publisher ids (12D3KooW…). */
    trust: { type: 'array', maxItems: MAX_LIST, items: { type: 'string', minLength: 1, maxLength: 200 } },
    /** Multiaddrs of peers to try first. */
    peers: { type: 'array', maxItems: MAX_LIST, items: { type: 'string', minLength: 1, maxLength: 1024 } },
    /** fnmatch globs on file paths, as `hf download --include/--exclude`. */
    include: { type: 'array', maxItems: MAX_LIST, items: { type: 'string', minLength: 1, maxLength: 1024 } },
    exclude: { type: 'array', maxItems: MAX_LIST, items: { type: 'string', minLength: 1, maxLength: 1024 } },
    hfCache: path,
    /** With a name: accept an expired name record. */
    allowExpired: { type: 'boolean' },
    /** This fetch's own limits (ms), 1 s to 1 day; the daemon's --find-timeout/--stall-timeout otherwise. */
    findTimeout: timeout,
    stallTimeout: timeout
  }
} as const

/** POST /api/v1/follows */
export const followBody = {
  type: 'object',
  required: ['ref'],
  additionalProperties: false,
  properties: {
    ref: { type: 'string', minLength: 3, maxLength: 300 },
    keep: { type: 'integer', minimum: 1, maximum: 100 }
  }
} as const
